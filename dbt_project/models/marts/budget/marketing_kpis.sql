{#- The headline marketing KPIs, defined once: the dashboard and BI tools read them from here.
    One row per month (grain month) and one for all months (grain all), per attribution model;
    only ROAS and ROMI depend on the model, every other column is the same on each model's row.
    Amounts in var cdp__reporting_currency.

    Definitions (each column's YAML says the same):
    - spend: ad spend; planned_spend: the channels' plans (staging.stg_budgets__plans, channel lines);
      budget_pace_ratio: spend to date / straight-line expected spend of the planned channels
      (marts.budget_pacing).
    - attributed_revenue: revenue of every attributed conversion; marketing_efficiency_ratio (MER):
      attributed_revenue / spend.
    - roas: value the model credits to channels with spend / spend; romi: (that value - spend) / spend.
    - new_customers: people whose first attributed conversion fell in the period; cac: spend /
      new_customers (blended); ltv: their average lifetime revenue; ltv_to_cac: ltv / cac;
      payback_months: cac / (ltv per month of customer tenure).
    - pipeline_created, pipeline_sourced, pipeline_influenced, won_amount, win_rate: opportunities
      created in the month (marts.funnel_pipeline_performance).
    - qualified_leads: people who first reached var cdp__qualified_lead_stage in the month;
      lead_velocity_rate: its month-over-month growth (marts.funnel_lead_velocity; none for all).
    - qualified_to_next_rate (MQL -> SQL with the default stages): of the people in the month's
      cohort who reached the qualified-lead stage, the share that reached the next stage
      (marts.funnel_stage_conversion). -#}
{%- set stage = var('cdp__qualified_lead_stage') %}

with roi as (
    select * from {{ ref('attribution_roi') }}
),

pipeline as (
    select * from {{ ref('funnel_pipeline_performance') }}
),

velocity as (
    select * from {{ ref('funnel_lead_velocity') }}
),

stage_conversion as (
    select * from {{ ref('funnel_stage_conversion') }}
),

pacing as (
    select * from {{ ref('budget_pacing') }}
),

models as (
    select distinct model from roi
),

months as (
    select month from roi where grain = 'all_month'
    union
    select created_month from pipeline where grain = 'month'
    union
    select month from velocity
    union
    select period_month from pacing where is_planned
),

grains as (
    select 'month' as grain, month from months where month is not null
    union all
    select 'all', cast(null as date)
),

totals as (
    select
        case when grain = 'all' then 'all' else 'month' end as grain,
        month,
        model,
        spend,
        credited_value as attributed_revenue
    from roi
    where grain in ('all', 'all_month')
),

channels as (
    select
        case when grain = 'channel' then 'all' else 'month' end as grain,
        month,
        model,
        sum(case when spend > 0 then credited_value else 0 end) as paid_credited_value,
        sum(new_customers) as new_customers,
        sum(ltv * new_customers) as ltv_weighted,
        sum(customer_tenure_months * new_customers) as tenure_weighted
    from roi
    where grain in ('channel', 'channel_month')
    group by 1, 2, 3
),

budget as (
    select
        case when grouping(period_month) = 1 then 'all' else 'month' end as grain,
        period_month as month,
        sum(case when is_planned then planned_spend end) as planned_spend,
        sum(spend_to_date) as spend_to_date,
        sum(case when is_planned then expected_spend_to_date end) as expected_spend_to_date
    from pacing
    where campaign = '(all)'
    group by grouping sets ((), (period_month))
),

funnel_pipeline as (
    select
        case when grain = 'all' then 'all' else 'month' end as grain,
        created_month as month,
        pipeline_amount,
        marketing_sourced_pipeline,
        marketing_influenced_pipeline,
        won_amount,
        win_rate
    from pipeline
    where grain in ('all', 'month')
),

leads as (
    select 'month' as grain, month, qualified_leads, lead_velocity_rate from velocity
    union all
    select 'all', cast(null as date), cast(sum(qualified_leads) as bigint), cast(null as {{ type_double() }})
    from velocity
),

qualification as (
    select
        case when grain = 'all' then 'all' else 'month' end as grain,
        cohort_month as month,
        conversion_rate as qualified_to_next_rate
    from stage_conversion
    where grain in ('all', 'cohort_month') and from_stage = {{ cdp_literal(stage) }}
),

joined as (
    select
        g.grain,
        g.month,
        m.model,
        coalesce(t.spend, 0) as spend,
        b.planned_spend,
        cast(b.spend_to_date as {{ type_double() }}) / nullif(b.expected_spend_to_date, 0) as budget_pace_ratio,
        coalesce(t.attributed_revenue, 0) as attributed_revenue,
        coalesce(c.paid_credited_value, 0) as paid_credited_value,
        coalesce(c.new_customers, 0) as new_customers,
        c.ltv_weighted / nullif(c.new_customers, 0) as ltv,
        c.tenure_weighted / nullif(c.new_customers, 0) as tenure_months,
        coalesce(p.pipeline_amount, 0) as pipeline_created,
        coalesce(p.marketing_sourced_pipeline, 0) as pipeline_sourced,
        coalesce(p.marketing_influenced_pipeline, 0) as pipeline_influenced,
        coalesce(p.won_amount, 0) as won_amount,
        p.win_rate,
        coalesce(l.qualified_leads, 0) as qualified_leads,
        l.lead_velocity_rate,
        q.qualified_to_next_rate
    from grains as g
    cross join models as m
    left join totals as t on t.grain = g.grain and t.model = m.model and {{ cdp_same_month('t', 'g') }}
    left join channels as c on c.grain = g.grain and c.model = m.model and {{ cdp_same_month('c', 'g') }}
    left join budget as b on b.grain = g.grain and {{ cdp_same_month('b', 'g') }}
    left join funnel_pipeline as p on p.grain = g.grain and {{ cdp_same_month('p', 'g') }}
    left join leads as l on l.grain = g.grain and {{ cdp_same_month('l', 'g') }}
    left join qualification as q on q.grain = g.grain and {{ cdp_same_month('q', 'g') }}
),

final as (
    select
        -- the row
        grain,
        month,
        model as attribution_model,
        {{ cdp_literal(var('cdp__reporting_currency')) }} as reporting_currency,
        -- spend and budget
        spend,
        planned_spend,
        budget_pace_ratio,
        -- return on spend
        attributed_revenue,
        cast(attributed_revenue as {{ type_double() }}) / nullif(cast(spend as {{ type_double() }}), 0)
            as marketing_efficiency_ratio,
        cast(paid_credited_value as {{ type_double() }}) / nullif(cast(spend as {{ type_double() }}), 0) as roas,
        (cast(paid_credited_value as {{ type_double() }}) - cast(spend as {{ type_double() }}))
            / nullif(cast(spend as {{ type_double() }}), 0) as romi,
        -- customers
        new_customers,
        cast(spend as {{ type_double() }}) / nullif(new_customers, 0) as cac,
        ltv,
        ltv / nullif(cast(spend as {{ type_double() }}) / nullif(new_customers, 0), 0) as ltv_to_cac,
        (cast(spend as {{ type_double() }}) / nullif(new_customers, 0)) / nullif(ltv / nullif(tenure_months, 0), 0)
            as payback_months,
        -- pipeline
        pipeline_created,
        pipeline_sourced,
        pipeline_influenced,
        won_amount,
        win_rate,
        -- leads
        qualified_leads,
        lead_velocity_rate,
        qualified_to_next_rate
    from joined
)

select * from final
