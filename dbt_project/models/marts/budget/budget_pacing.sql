{#- Spend against plan, per planned month, channel and campaign (a plan line of
    staging.stg_budgets__plans), plus one line per month and channel that spent without any plan.
    Everything is in the reporting currency and measured on the data's own clock (cdp_as_of: the
    newest record), so a rebuild of the same data gives the same pacing.

    Straight-line pace: a month's plan is spent evenly over its days. Days elapsed counts the
    month's days up to and including the as-of date (0 for a month not started, all of them for a
    month gone by); expected spend to date = plan x days elapsed / days in the month; pace ratio =
    spend to date / expected; projected spend = spend to date / days elapsed x days in the month.
    A line is over when the pace ratio exceeds 1 + var cdp__pacing_over_threshold, under when it is
    below 1 - var cdp__pacing_under_threshold, on pace between; not_started before the month
    begins; no_plan when spend has no plan line of its channel that month.

    A plan line without a campaign is the channel's whole budget (spend of all its campaigns); a
    campaign line is held against that campaign's spend. Channel lines also carry the plan's CPA,
    ROAS and pipeline targets next to the actuals: CPA and ROAS from marts.attribution_roi under
    var cdp__target_attribution_model (the month's credited conversions and value), pipeline as the
    marketing-sourced pipeline of opportunities created that month whose first touch was the channel. -#}
{%- set over = var('cdp__pacing_over_threshold') | float %}
{%- set under = var('cdp__pacing_under_threshold') | float %}

with stg_budgets__plans as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_budgets__plans') }}
),

stg_ads__spend as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_ads__spend') }}
),

currency_rates as {{ cte_not_materialized() }} (
    select * from {{ ref('currency_rates') }}
),

attribution_roi as {{ cte_not_materialized() }} (
    select * from {{ ref('attribution_roi') }}
),

funnel_pipeline_performance as {{ cte_not_materialized() }} (
    select * from {{ ref('funnel_pipeline_performance') }}
),

plans as (
    select * from stg_budgets__plans
),

spend as (
    select * from stg_ads__spend
),

rates as (
    select * from currency_rates
),

roi as (
    select * from attribution_roi
),

pipeline as (
    select * from funnel_pipeline_performance
),

as_of as (
    select cast({{ cdp_as_of() }} as date) as as_of_date
),

daily_spend as (
    select
        cast({{ dbt.date_trunc('month', 's.spend_date') }} as date) as period_month,
        s.channel,
        coalesce(s.utm_campaign, '(none)') as campaign,
        {{ to_reporting_currency('s.spend') }} as spend
    from spend as s
    left join rates as fx on fx.currency = s.currency
    cross join as_of as a
    where s.spend_date <= a.as_of_date
),

spend_to_date as (
    select
        period_month,
        channel,
        case when grouping(campaign) = 1 then '(all)' else campaign end as campaign,
        sum(spend) as spend_to_date
    from daily_spend
    group by grouping sets ((period_month, channel), (period_month, channel, campaign))
),

plan_lines as (
    select
        period_month,
        channel,
        coalesce(campaign, '(all)') as campaign,
        currency as plan_currency,
        planned_spend_reporting as planned_spend,
        target_cpa_reporting as target_cpa,
        target_roas,
        target_pipeline_reporting as target_pipeline
    from plans
),

unplanned_lines as (
    select
        s.period_month,
        s.channel,
        s.campaign,
        cast(null as {{ dbt.type_string() }}) as plan_currency,
        cast(null as decimal(18, 2)) as planned_spend,
        cast(null as decimal(18, 2)) as target_cpa,
        cast(null as decimal(18, 4)) as target_roas,
        cast(null as decimal(18, 2)) as target_pipeline
    from spend_to_date as s
    where s.campaign = '(all)'
      and not exists (
          select 1 from plan_lines as p where p.period_month = s.period_month and p.channel = s.channel
      )
),

lines as (
    select *, true as is_planned from plan_lines
    union all
    select *, false as is_planned from unplanned_lines
),

calendar as (
    select
        l.*,
        a.as_of_date,
        cast({{ cdp_dateadd('day', -1, cdp_dateadd('month', 1, 'l.period_month')) }} as date) as period_end,
        {{ dbt.datediff('l.period_month', cdp_dateadd('month', 1, 'l.period_month'), 'day') }} as days_in_period,
        {{ dbt.datediff('l.period_month', 'a.as_of_date', 'day') }} + 1 as days_since_start
    from lines as l
    cross join as_of as a
),

paced as (
    select
        c.*,
        case when c.days_since_start < 0 then 0
             when c.days_since_start > c.days_in_period then c.days_in_period
             else c.days_since_start end as days_elapsed,
        cast(coalesce(s.spend_to_date, 0) as decimal(18, 2)) as spend_to_date
    from calendar as c
    left join spend_to_date as s
        on s.period_month = c.period_month and s.channel = c.channel and s.campaign = c.campaign
),

measured as (
    select
        *,
        cast(planned_spend as {{ type_double() }}) * days_elapsed / days_in_period as expected_spend_to_date,
        case when days_elapsed > 0
             then cast(spend_to_date as {{ type_double() }}) * days_in_period / days_elapsed end as projected_spend
    from paced
),

targets as (
    select
        r.month as period_month,
        r.channel,
        r.cpa as actual_cpa,
        r.roas as actual_roas
    from roi as r
    where r.grain = 'channel_month' and r.model = {{ cdp_literal(var('cdp__target_attribution_model')) }}
),

sourced as (
    select created_month as period_month, first_touch_channel as channel, marketing_sourced_pipeline
    from pipeline
    where grain = 'month_channel'
),

final as (
    select
        -- the plan line
        m.period_month,
        m.period_end,
        m.channel,
        m.campaign,
        m.is_planned,
        m.plan_currency,
        -- the clock
        m.as_of_date,
        cast(m.days_in_period as bigint) as days_in_period,
        cast(m.days_elapsed as bigint) as days_elapsed,
        m.as_of_date > m.period_end as is_period_closed,
        -- spend, reporting currency
        m.planned_spend,
        m.spend_to_date,
        m.expected_spend_to_date,
        cast(m.spend_to_date as {{ type_double() }}) / nullif(m.expected_spend_to_date, 0) as pace_ratio,
        m.projected_spend,
        m.projected_spend - cast(m.planned_spend as {{ type_double() }}) as projected_variance,
        m.projected_spend / nullif(cast(m.planned_spend as {{ type_double() }}), 0) - 1 as projected_variance_share,
        case when not m.is_planned then 'no_plan'
             when m.days_elapsed = 0 then 'not_started'
             when m.expected_spend_to_date = 0 and m.spend_to_date > 0 then 'over'
             when m.expected_spend_to_date = 0 then 'on_pace'
             when m.spend_to_date > m.expected_spend_to_date * {{ 1 + over }} then 'over'
             when m.spend_to_date < m.expected_spend_to_date * {{ 1 - under }} then 'under'
             else 'on_pace' end as pacing_status,
        -- targets against actuals (channel lines)
        {{ cdp_literal(var('cdp__target_attribution_model')) }} as attribution_model,
        m.target_cpa,
        case when m.campaign = '(all)' then t.actual_cpa end as actual_cpa,
        m.target_roas,
        case when m.campaign = '(all)' then t.actual_roas end as actual_roas,
        m.target_pipeline,
        cast(case when m.campaign = '(all)' then coalesce(p.marketing_sourced_pipeline, 0) end as decimal(38, 2))
            as actual_pipeline
    from measured as m
    left join targets as t on t.period_month = m.period_month and t.channel = m.channel
    left join sourced as p on p.period_month = m.period_month and p.channel = m.channel
)

select * from final
