{#- The identity graph's edges: pairs of two different identifiers (as node ids of
    int_identity__identifiers) with the rule, source row and time that first produced them, and
    whether the rules let them link: the rule is enabled (seed identity_link_rules), both identifier
    types may link, neither side is blocked. Protections (shared values, per-profile limits) are
    applied in int_identity__clusters. -#}
with int_identity__pairs as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__pairs') }}
),

int_identity__identifiers as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__identifiers') }}
),

identity_link_rules as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_link_rules') }}
),

final as (
    select
        p.rule,
        l.node_id as left_node_id,
        r.node_id as right_node_id,
        p.left_type,
        p.right_type,
        l.type_priority as left_priority,
        r.type_priority as right_priority,
        p.first_seen_at,
        p.last_seen_at,
        p.observations,
        p.source as first_source,
        p.first_source_key,
        coalesce(k.enabled, false) and l.type_may_link and r.type_may_link
            and not l.is_blocked and not r.is_blocked as is_allowed
    from int_identity__pairs as p
    inner join int_identity__identifiers as l
        on l.identifier_type = p.left_type and l.identifier = p.left_value
    inner join int_identity__identifiers as r
        on r.identifier_type = p.right_type and r.identifier = p.right_value
    left join identity_link_rules as k on k.rule = p.rule
    where p.rule <> 'seen'
)

select * from final
