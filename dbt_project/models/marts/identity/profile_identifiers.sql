{#- Every identifier of every profile (long form): what marts.dim_profiles summarises per type. -#}
with identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

int_identity__clusters as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__clusters') }}
),

final as (
    select
        r.profile_id,
        c.identifier_type,
        c.identifier,
        c.node_key,
        c.first_seen_at,
        c.last_seen_at,
        c.protection_rule,
        r.assigned_at
    from identity_profile_registry as r
    inner join int_identity__clusters as c on c.node_key = r.node_key
)

select * from final
