{#- First-order transition counts of the absorbing Markov chain of journeys
    (intermediate.int_attribution__paths): start -> first channel, channel -> next channel, last
    channel -> conversion or null, with the summed value of the conversions each transition into
    `conversion` ends (for value removal effects). Its size grows with channels squared, not with events. -#}
with int_attribution__paths as {{ cte_not_materialized() }} (
    select * from {{ ref('int_attribution__paths') }}
),

ordered as (
    select
        journey_id, step, channel, converted, conversion_value_reporting,
        lead(channel) over (partition by journey_id order by step) as next_channel
    from int_attribution__paths
),

transitions as (
    select 'start' as from_state, channel as to_state, cast(null as decimal(18, 2)) as conversion_value_reporting
    from ordered where step = 1
    union all
    select
        channel,
        coalesce(next_channel, case when converted then 'conversion' else 'null' end),
        case when next_channel is null and converted then conversion_value_reporting end
    from ordered
),

final as (
    select from_state, to_state, count(*) as journeys, sum(conversion_value_reporting) as conversion_value_reporting
    from transitions
    group by from_state, to_state
)

select * from final
