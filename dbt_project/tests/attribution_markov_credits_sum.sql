{#- Invariant (blocking): Markov credits are never negative and, with the unattributed row, sum to
    the value every rule-based model credits (the attributed conversions' total). -#}
with markov as (
    select sum(credited_value) as total, min(credited_value) as smallest from {{ ref('attribution_markov') }}
),
rule_based as (
    select coalesce(sum(linear_value), 0) as total from {{ ref('attribution_credits') }}
)
select * from markov cross join rule_based as r
where markov.smallest < 0 or (markov.total is not null and round(markov.total, 2) <> r.total)
