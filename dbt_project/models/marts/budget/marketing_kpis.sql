{#- The headline marketing KPIs: one row per month (grain month) and one for all months (grain all),
    per attribution model. Every column is a ratio of sums of marts.marketing_kpi_inputs (the
    MetricFlow metrics of _budget__semantic_models.yml are the same ratios), except ROAS and ROMI,
    which divide the value the model credits to channels with spend (marts.attribution_roi). Only
    those two depend on the model; every other column is the same on each model's row. Lead velocity
    is month over month, so it has no all-months value. Amounts in var cdp__reporting_currency;
    a ratio is null where its denominator is zero. -#}

with marketing_kpi_inputs as {{ cte_not_materialized() }} (
    select * from {{ ref('marketing_kpi_inputs') }}
),

attribution_roi as {{ cte_not_materialized() }} (
    select * from {{ ref('attribution_roi') }}
),

funnel_lead_velocity as {{ cte_not_materialized() }} (
    select * from {{ ref('funnel_lead_velocity') }}
),

inputs as (
    select * from marketing_kpi_inputs
),

roi as (
    select * from attribution_roi
),

velocity as (
    select * from funnel_lead_velocity
),

models as (
    select distinct model from roi where model is not null
),

periods as (
    select
        case when grouping(month) = 1 then 'all' else 'month' end as grain,
        month,
        sum(spend) as spend,
        sum(planned_spend) as planned_spend,
        sum(spend_to_date) as spend_to_date,
        {{ exact_sum('expected_spend_to_date') }} as expected_spend_to_date,
        {{ exact_sum('attributed_revenue') }} as attributed_revenue,
        {{ exact_sum('new_customers') }} as new_customers,
        {{ exact_sum('new_customer_lifetime_revenue') }} as new_customer_lifetime_revenue,
        {{ exact_sum('new_customer_tenure_months') }} as new_customer_tenure_months,
        sum(pipeline_created) as pipeline_created,
        sum(pipeline_sourced) as pipeline_sourced,
        sum(pipeline_influenced) as pipeline_influenced,
        sum(won_amount) as won_amount,
        sum(won_opportunities) as won_opportunities,
        sum(closed_opportunities) as closed_opportunities,
        sum(qualified_leads) as qualified_leads,
        sum(qualified_cohort_people) as qualified_cohort_people,
        sum(qualified_cohort_advanced) as qualified_cohort_advanced
    from inputs
    group by grouping sets ((), (month))
),

paid_credit as (
    select
        case when grouping(month) = 1 then 'all' else 'month' end as grain,
        month,
        model,
        {{ exact_sum('case when spend > 0 then credited_value else 0 end') }} as paid_credited_value
    from roi
    where grain = 'channel_month'
    group by grouping sets ((model), (model, month))
),

final as (
    select
        -- the row
        p.grain,
        p.month,
        m.model as attribution_model,
        {{ cdp_literal(var('cdp__reporting_currency')) }} as reporting_currency,
        -- spend and budget
        p.spend,
        p.planned_spend,
        cast(p.spend_to_date as {{ type_double() }}) / nullif(p.expected_spend_to_date, 0) as budget_pace_ratio,
        -- return on spend
        p.attributed_revenue,
        cast(p.attributed_revenue as {{ type_double() }}) / nullif(cast(p.spend as {{ type_double() }}), 0)
            as marketing_efficiency_ratio,
        cast(c.paid_credited_value as {{ type_double() }}) / nullif(cast(p.spend as {{ type_double() }}), 0)
            as roas,
        (cast(c.paid_credited_value as {{ type_double() }}) - cast(p.spend as {{ type_double() }}))
            / nullif(cast(p.spend as {{ type_double() }}), 0) as romi,
        -- customers
        p.new_customers,
        cast(p.spend as {{ type_double() }}) / nullif(p.new_customers, 0) as cac,
        p.new_customer_lifetime_revenue / nullif(p.new_customers, 0) as ltv,
        (p.new_customer_lifetime_revenue / nullif(p.new_customers, 0))
            / nullif(cast(p.spend as {{ type_double() }}) / nullif(p.new_customers, 0), 0) as ltv_to_cac,
        (cast(p.spend as {{ type_double() }}) / nullif(p.new_customers, 0))
            / nullif(p.new_customer_lifetime_revenue / nullif(p.new_customer_tenure_months, 0), 0) as payback_months,
        -- pipeline
        p.pipeline_created,
        p.pipeline_sourced,
        p.pipeline_influenced,
        p.won_amount,
        cast(p.won_opportunities as {{ type_double() }}) / nullif(p.closed_opportunities, 0) as win_rate,
        -- leads
        cast(p.qualified_leads as bigint) as qualified_leads,
        cast(case when p.grain = 'month' then v.lead_velocity_rate end as {{ type_double() }}) as lead_velocity_rate,
        cast(p.qualified_cohort_advanced as {{ type_double() }}) / nullif(p.qualified_cohort_people, 0) as qualified_to_next_rate
    from periods as p
    cross join models as m
    left join paid_credit as c on c.grain = p.grain and c.model = m.model and {{ cdp_same_month('c', 'p') }}
    left join velocity as v on v.month = p.month
)

select * from final
