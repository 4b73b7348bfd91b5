{#- Stage-to-stage conversion and velocity, for each pair of consecutive stages of
    seeds/lifecycle_stages.csv: how many people reached the earlier stage (or a later one), how many
    of them reached the next, the rate, and the median and mean days between the two. At five
    grains (column grain): all cohorts; by channel; by cohort month; by cohort month and first-touch
    channel; by cohort month, channel and campaign. A dimension rolled up reads '(all)' (cohort_month
    null); a person without a marketing touch has channel and campaign '(none)'. -#}
-- depends_on: {{ ref('lifecycle_stages') }}
{%- set stages = cdp_rule_rows('lifecycle_stages', 'stage_order') %}

with fct_funnel_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_funnel_profiles') }}
),

people as (
    select * from fct_funnel_profiles
),

pairs as (
{%- for i in range(stages | length - 1) %}
    {%- set a = stages[i] %}{%- set b = stages[i + 1] %}
    select
        case when grouping(cohort_month) = 1 and grouping(first_touch_channel) = 1 then 'all'
             when grouping(cohort_month) = 1 then 'channel'
             when grouping(first_touch_channel) = 1 then 'cohort_month'
             when grouping(first_touch_campaign) = 1 then 'cohort_month_channel'
             else 'cohort_month_channel_campaign' end as grain,
        cohort_month,
        case when grouping(first_touch_channel) = 1 then '(all)' else first_touch_channel end as first_touch_channel,
        case when grouping(first_touch_campaign) = 1 then '(all)' else first_touch_campaign end as first_touch_campaign,
        {{ cdp_literal(a.stage) }} as from_stage,
        {{ cdp_literal(b.stage) }} as to_stage,
        {{ a.stage_order }} as from_stage_order,
        count(reached_{{ a.stage }}_at) as people_reached_from,
        count(reached_{{ b.stage }}_at) as people_reached_to,
        {{ cdp_median(cdp_days_between('reached_' ~ a.stage ~ '_at', 'reached_' ~ b.stage ~ '_at')) }} as median_days_between,
        {{ exact_avg(cdp_days_between('reached_' ~ a.stage ~ '_at', 'reached_' ~ b.stage ~ '_at')) }} as mean_days_between
    from people
    group by grouping sets (
        (), (first_touch_channel), (cohort_month), (cohort_month, first_touch_channel),
        (cohort_month, first_touch_channel, first_touch_campaign)
    )
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
),

final as (
    select
        grain,
        cohort_month,
        first_touch_channel,
        first_touch_campaign,
        from_stage,
        to_stage,
        from_stage_order,
        people_reached_from,
        people_reached_to,
        case when people_reached_from > 0 then cast(people_reached_to as {{ type_double() }}) / people_reached_from end as conversion_rate,
        median_days_between,
        mean_days_between
    from pairs
)

select * from final
