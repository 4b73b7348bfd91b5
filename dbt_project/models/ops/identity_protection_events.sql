{#- Merge protections as they happen, appended each run (never rebuilt): one row the first time an
    identifier is cut from merging, with the rule and why (see int_identity__protected_identifiers
    and the per-profile limit repair in int_identity__clusters). -#}
{{ config(materialized='incremental', full_refresh=false) }}

with int_identity__clusters as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__clusters') }}
),

final as (
    select
        {{ cdp_run_started_at() }} as recorded_at,
        c.node_key,
        c.identifier_type,
        c.identifier,
        c.protection_rule,
        c.protection_detail
    from int_identity__clusters as c
    where c.protection_rule is not null
    {% if is_incremental() -%}
      and not exists (select 1 from {{ this }} as t where t.node_key = c.node_key and t.protection_rule = c.protection_rule)
    {%- endif %}
)

select * from final
