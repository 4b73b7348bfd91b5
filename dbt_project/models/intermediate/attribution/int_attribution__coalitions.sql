{#- The Shapley model's coalition table: per distinct set of channels a journey touched
    (intermediate.int_attribution__paths; '|'-joined, sorted), how many journeys had exactly that
    set and how many of them converted. At most 2^channels rows, whatever the events. -#}
with int_attribution__paths as {{ cte_not_materialized() }} (
    select * from {{ ref('int_attribution__paths') }}
),

journey_sets as (
    select
        journey_id,
        max(case when converted then 1 else 0 end) as converted,
        {{ string_agg_distinct('channel', "'|'") }} as channel_set
    from int_attribution__paths
    group by journey_id
),

final as (
    select channel_set, count(*) as journeys, sum(converted) as conversions
    from journey_sets
    group by channel_set
)

select * from final
