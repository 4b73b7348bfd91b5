{#- Lead velocity rate: per calendar month, the people who became qualified leads (reached the stage
    var cdp__qualified_lead_stage, default mql, or a later one, for the first time), the previous
    month's count and the month-over-month growth. Months without any are present with 0. -#}
{%- set stage = var('cdp__qualified_lead_stage') %}

with recursive fct_funnel_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_funnel_profiles') }}
),

monthly as (
    select cast({{ dbt.date_trunc('month', 'reached_' ~ stage ~ '_at') }} as date) as month, count(*) as qualified_leads
    from fct_funnel_profiles
    where reached_{{ stage }}_at is not null
    group by 1
),

spine as (
    select min(month) as month, max(month) as last_month from monthly
    union all
    select cast({{ cdp_dateadd('month', 1, 'month') }} as date), last_month from spine where month < last_month
),

filled as (
    select s.month, coalesce(m.qualified_leads, 0) as qualified_leads
    from spine as s
    left join monthly as m on m.month = s.month
    where s.month is not null
),

final as (
    select
        month,
        {{ cdp_literal(stage) }} as qualified_lead_stage,
        qualified_leads,
        lag(qualified_leads) over (order by month) as previous_month_qualified_leads,
        case when lag(qualified_leads) over (order by month) > 0
             then cast(qualified_leads - lag(qualified_leads) over (order by month) as {{ type_double() }})
                  / lag(qualified_leads) over (order by month) end as lead_velocity_rate
    from filled
)

select * from final
