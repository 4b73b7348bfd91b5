{#- Identifiers currently cut from merging (shared values, per-profile limits), the profile they
    were left in, and when the cut was first recorded. -#}
with identity_protection_events as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_protection_events') }}
),

int_identity__clusters as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__clusters') }}
),

identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

final as (
    select
        c.node_key,
        c.identifier_type,
        c.identifier,
        c.protection_rule,
        c.protection_detail,
        r.profile_id,
        (select min(e.recorded_at) from identity_protection_events as e
         where e.node_key = c.node_key and e.protection_rule = c.protection_rule) as first_recorded_at
    from int_identity__clusters as c
    left join identity_profile_registry as r on r.node_key = c.node_key
    where c.protection_rule is not null
)

select * from final
