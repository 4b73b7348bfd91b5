{#- Pipeline and sales performance by the month opportunities were created, overall and by the
    profile's first-touch channel before creation (grain: month, month_channel, all): pipeline
    created, marketing-sourced and marketing-influenced pipeline, win rate, average deal size,
    sales-cycle length and pipeline velocity, amounts in var cdp__reporting_currency. -#}
with fct_opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_opportunities') }}
),

opportunities as (
    select
        *,
        cast({{ dbt.date_trunc('month', 'created_at') }} as date) as created_month,
        coalesce(first_touch_channel, '(none)') as channel
    from fct_opportunities
),

grouped as (
    select
        case when grouping(created_month) = 1 then 'all'
             when grouping(channel) = 1 then 'month'
             else 'month_channel' end as grain,
        created_month,
        case when grouping(channel) = 1 then '(all)' else channel end as first_touch_channel,
        count(*) as opportunities_created,
        sum(amount_reporting) as pipeline_amount,
        sum(case when is_marketing_sourced then amount_reporting else 0 end) as marketing_sourced_pipeline,
        sum(case when is_marketing_influenced then amount_reporting else 0 end) as marketing_influenced_pipeline,
        count(case when not is_closed then 1 end) as open_opportunities,
        count(case when is_won then 1 end) as won_opportunities,
        count(case when is_closed and not is_won then 1 end) as lost_opportunities,
        sum(case when is_won then amount_reporting else 0 end) as won_amount,
        {{ exact_avg('case when is_won then amount_reporting end') }} as average_deal_size,
        {{ exact_avg('case when is_won then sales_cycle_days end') }} as average_sales_cycle_days
    from opportunities
    group by grouping sets ((), (created_month), (created_month, channel))
),

final as (
    select
        grain,
        created_month,
        first_touch_channel,
        opportunities_created,
        cast(pipeline_amount as decimal(38, 2)) as pipeline_amount,
        cast(marketing_sourced_pipeline as decimal(38, 2)) as marketing_sourced_pipeline,
        cast(marketing_influenced_pipeline as decimal(38, 2)) as marketing_influenced_pipeline,
        open_opportunities,
        won_opportunities,
        lost_opportunities,
        cast(won_amount as decimal(38, 2)) as won_amount,
        case when won_opportunities + lost_opportunities > 0
             then cast(won_opportunities as {{ type_double() }}) / (won_opportunities + lost_opportunities) end as win_rate,
        average_deal_size,
        average_sales_cycle_days,
        case when average_sales_cycle_days > 0 and won_opportunities + lost_opportunities > 0
             then opportunities_created * average_deal_size
                  * (won_opportunities * 1.0 / (won_opportunities + lost_opportunities))
                  / average_sales_cycle_days end as pipeline_velocity_per_day
    from grouped
)

select * from final
