{#- The additive inputs of the headline KPIs, one row per month: sums and counts that add up over
    months, so every KPI of any period is a ratio of their sums. marts.marketing_kpis and the
    MetricFlow metrics (_budget__semantic_models.yml) both compute from here, so a KPI is defined once.
    Amounts in var cdp__reporting_currency. Attribution credit depends on the model: it is in
    marts.attribution_roi. -#}
{%- set stage = var('cdp__qualified_lead_stage') %}

with attribution_roi as {{ cte_not_materialized() }} (
    select * from {{ ref('attribution_roi') }}
),

funnel_pipeline_performance as {{ cte_not_materialized() }} (
    select * from {{ ref('funnel_pipeline_performance') }}
),

funnel_lead_velocity as {{ cte_not_materialized() }} (
    select * from {{ ref('funnel_lead_velocity') }}
),

funnel_stage_conversion as {{ cte_not_materialized() }} (
    select * from {{ ref('funnel_stage_conversion') }}
),

budget_pacing as {{ cte_not_materialized() }} (
    select * from {{ ref('budget_pacing') }}
),

roi as (
    select * from attribution_roi
),

pipeline as (
    select * from funnel_pipeline_performance
),

velocity as (
    select * from funnel_lead_velocity
),

stage_conversion as (
    select * from funnel_stage_conversion
),

pacing as (
    select * from budget_pacing
),

spend_and_revenue as (
    select r.month, r.spend, r.credited_value as attributed_revenue
    from roi as r
    where r.grain = 'all_month' and r.model = 'linear'
),

customers as (
    select
        r.month,
        {{ exact_sum('r.new_customers') }} as new_customers,
        {{ exact_sum('r.ltv * r.new_customers') }} as new_customer_lifetime_revenue,
        {{ exact_sum('r.customer_tenure_months * r.new_customers') }} as new_customer_tenure_months
    -- each conversion's shares sum to one under every rule-based model; linear is always built
    from roi as r
    where r.grain = 'channel_month' and r.model = 'linear'
    group by r.month
),

budget as (
    select
        period_month as month,
        sum(case when is_planned then planned_spend end) as planned_spend,
        sum(spend_to_date) as spend_to_date,
        {{ exact_sum('case when is_planned then expected_spend_to_date end') }} as expected_spend_to_date
    from pacing
    where campaign = '(all)'
    group by period_month
),

opportunities as (
    select
        created_month as month,
        pipeline_amount as pipeline_created,
        marketing_sourced_pipeline as pipeline_sourced,
        marketing_influenced_pipeline as pipeline_influenced,
        won_amount,
        won_opportunities,
        won_opportunities + lost_opportunities as closed_opportunities
    from pipeline
    where grain = 'month'
),

qualification as (
    select
        cohort_month as month,
        people_reached_from as qualified_cohort_people,
        people_reached_to as qualified_cohort_advanced
    from stage_conversion
    where grain = 'cohort_month' and from_stage = {{ cdp_literal(stage) }}
),

months as (
    select month from spend_and_revenue
    union
    select month from budget
    union
    select month from opportunities
    union
    select month from velocity
),

final as (
    select
        -- the month
        m.month,
        -- spend and budget
        coalesce(s.spend, 0) as spend,
        cast(b.planned_spend as decimal(38, 2)) as planned_spend,
        cast(coalesce(b.spend_to_date, 0) as decimal(38, 2)) as spend_to_date,
        b.expected_spend_to_date,
        -- revenue and customers
        coalesce(s.attributed_revenue, 0) as attributed_revenue,
        coalesce(c.new_customers, 0) as new_customers,
        coalesce(c.new_customer_lifetime_revenue, 0) as new_customer_lifetime_revenue,
        coalesce(c.new_customer_tenure_months, 0) as new_customer_tenure_months,
        -- pipeline
        cast(coalesce(o.pipeline_created, 0) as decimal(38, 2)) as pipeline_created,
        cast(coalesce(o.pipeline_sourced, 0) as decimal(38, 2)) as pipeline_sourced,
        cast(coalesce(o.pipeline_influenced, 0) as decimal(38, 2)) as pipeline_influenced,
        cast(coalesce(o.won_amount, 0) as decimal(38, 2)) as won_amount,
        coalesce(o.won_opportunities, 0) as won_opportunities,
        coalesce(o.closed_opportunities, 0) as closed_opportunities,
        -- leads
        coalesce(v.qualified_leads, 0) as qualified_leads,
        coalesce(q.qualified_cohort_people, 0) as qualified_cohort_people,
        coalesce(q.qualified_cohort_advanced, 0) as qualified_cohort_advanced
    from months as m
    left join spend_and_revenue as s on s.month = m.month
    left join budget as b on b.month = m.month
    left join customers as c on c.month = m.month
    left join opportunities as o on o.month = m.month
    left join velocity as v on v.month = m.month
    left join qualification as q on q.month = m.month
    where m.month is not null
)

select * from final
