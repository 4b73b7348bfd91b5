{#- Invariant (blocking): within every cohort and grain, the people who reached a stage or a later
    one never outnumber those of the stage before, and each pair's "to" count is the next pair's
    "from" count. -#}
with pairs as (
    select
        *,
        lead(people_reached_from) over (
            partition by grain, cohort_month, first_touch_channel, first_touch_campaign
            order by from_stage_order) as next_pair_from
    from {{ ref('funnel_stage_conversion') }}
)

select *
from pairs
where people_reached_to > people_reached_from
   or (next_pair_from is not null and next_pair_from <> people_reached_to)
