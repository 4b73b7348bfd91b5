{#- Every blocked identifier value (seeds blocked_identifiers and blocked_identifier_patterns) and
    how often it was seen: these values link nothing. -#}
with int_identity__identifiers as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__identifiers') }}
),

final as (
    select
        identifier_type,
        identifier,
        blocked_reason,
        cast(observations as bigint) as observations,
        first_seen_at,
        last_seen_at
    from int_identity__identifiers
    where is_blocked
)

select * from final
