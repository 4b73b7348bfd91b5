{#- One row per profile and fit rule of seeds/lead_score_rules.csv that its current traits match
    (job_title, industry, company_size, country; the CRM's and identify messages' latest values).
    Every matching rule adds its points, so ranges meant to be exclusive must not overlap. -#}
-- depends_on: {{ ref('lead_score_rules') }}, {{ ref('int_profiles__traits') }}, {{ ref('int_privacy__deleted_profiles') }}
{%- set attributes = ['job_title', 'industry', 'company_size', 'country'] %}
{%- set rules = cdp_rule_rows('lead_score_rules', 'rule_id') | selectattr('category', 'equalto', 'fit') | list %}


with int_profiles__traits as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__traits') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

final as (
    {%- for r in rules %}
    {%- if r.attribute not in attributes %}
        {{ exceptions.raise_compiler_error("lead_score_rules.csv, rule " ~ r.rule_id ~ ": a fit rule's attribute must be one of " ~ attributes | join(', ') ~ ", got '" ~ r.attribute ~ "'") }}
    {%- endif %}
    select
        t.profile_id,
        {{ cdp_literal(r.rule_id) }} as rule_id,
        {{ cdp_literal(r.attribute) }} as attribute,
        cast(t.{{ r.attribute }} as {{ dbt.type_string() }}) as matched_value,
        cast({{ r.points }} as decimal(18, 2)) as points
    from int_profiles__traits as t
    where {{ cdp_rule_condition('t.' ~ r.attribute, r.operator, r.value, r.rule_id) }}
      and t.profile_id not in (select profile_id from int_privacy__deleted_profiles)
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as profile_id, cast(null as {{ dbt.type_string() }}) as rule_id, cast(null as {{ dbt.type_string() }}) as attribute,
        cast(null as {{ dbt.type_string() }}) as matched_value, cast(null as decimal(18, 2)) as points
    where 1 = 0
    {%- endfor %}
)

select * from final
