{#- Invariant (blocking): Shapley credits are never negative and, with the unattributed row, sum to
    the value every rule-based model credits. -#}
with shapley as (
    select sum(credited_value) as total, min(credited_value) as smallest from {{ ref('attribution_shapley') }}
),
rule_based as (
    select coalesce(sum(linear_value), 0) as total from {{ ref('attribution_credits') }}
)
select * from shapley cross join rule_based as r
where shapley.smallest < 0 or (shapley.total is not null and round(shapley.total, 2) <> r.total)
