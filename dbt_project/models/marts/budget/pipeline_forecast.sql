{#- Pipeline and bookings forecast for the current month (the month of the as-of date, cdp_as_of)
    and the next, from stage win rates and sales velocity. One row per period.

    Method:
    1. Stage win rate: of the closed opportunities that were ever exported at a stage (any snapshot
       of staging.stg_crm__opportunity_snapshots), the share that closed won. A stage no closed
       opportunity passed through takes the overall win rate.
    2. Velocity: the median days from creation to close of won opportunities. An open opportunity
       is expected to close that many days after it was created; one already past that date is
       expected in the current month (it has slipped). One open for more than var
       cdp__forecast_stale_multiple times the median is stale: it is not expected to close, and is
       counted apart (stale_opportunities, stale_pipeline).
    3. Bookings forecast = won to date in the month (actual, closed on or before the as-of date)
       + the open opportunities expected to close in the month, each at its amount x the win rate of
       its current stage. Open opportunities expected later than the next month are not counted.
    4. Pipeline created: to date in the current month, plus the run rate (mean pipeline created per
       month over the var cdp__forecast_run_rate_months complete months before the current one) for
       the days left; the next month is the run rate.
    Amounts are in the reporting currency. -#}
{%- set run_rate_months = var('cdp__forecast_run_rate_months') | int %}
{%- set stale_multiple = var('cdp__forecast_stale_multiple') | float %}

with fct_opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_opportunities') }}
),

stg_crm__opportunity_snapshots as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__opportunity_snapshots') }}
),

opportunities as (
    select * from fct_opportunities
),

snapshots as (
    select * from stg_crm__opportunity_snapshots
),

as_of as (
    select
        cast({{ cdp_as_of() }} as date) as as_of_date,
        cast({{ dbt.date_trunc('month', cdp_as_of()) }} as date) as current_month
),

periods as (
    select
        'current' as period,
        a.current_month as period_month,
        a.as_of_date
    from as_of as a
    union all
    select
        'next',
        cast({{ cdp_dateadd('month', 1, 'a.current_month') }} as date),
        a.as_of_date
    from as_of as a
),

closed as (
    select opportunity_id, is_won from opportunities where is_closed
),

overall as (
    select
        count(*) as closed_opportunities,
        sum(case when is_won then 1 else 0 end) * 1.0 / nullif(count(*), 0) as win_rate
    from closed
),

velocity as (
    select {{ cdp_median('sales_cycle_days') }} as median_sales_cycle_days
    from opportunities
    where is_won
),

stage_win_rates as (
    select
        h.stage,
        count(*) as closed_opportunities,
        sum(case when c.is_won then 1 else 0 end) * 1.0 / count(*) as win_rate
    from (select distinct opportunity_id, stage from snapshots) as h
    inner join closed as c on c.opportunity_id = h.opportunity_id
    group by h.stage
),

open_opportunities as (
    select
        o.opportunity_id,
        o.amount_reporting,
        coalesce(w.win_rate, ov.win_rate, 0) as win_rate,
        cast({{ cdp_dateadd('day', 'cast(round(v.median_sales_cycle_days) as integer)', 'o.created_at') }} as date)
            as expected_close_date,
        {{ dbt.datediff('cast(o.created_at as date)', 'a.as_of_date', 'day') }}
            > {{ stale_multiple }} * v.median_sales_cycle_days as is_stale,
        a.as_of_date
    from opportunities as o
    cross join velocity as v
    cross join overall as ov
    cross join as_of as a
    left join stage_win_rates as w on w.stage = o.stage
    where not o.is_closed
),

open_expected as (
    select
        opportunity_id,
        amount_reporting,
        win_rate,
        cast({{ dbt.date_trunc('month', 'case when expected_close_date < as_of_date then as_of_date '
                                        ~ 'else expected_close_date end') }} as date) as expected_close_month
    from open_opportunities
    where not is_stale
),

stale as (
    select count(*) as stale_opportunities, sum(amount_reporting) as stale_pipeline
    from open_opportunities
    where is_stale
),

won as (
    select
        cast({{ dbt.date_trunc('month', 'o.closed_at') }} as date) as period_month,
        sum(o.amount_reporting) as won_amount,
        count(*) as won_opportunities
    from opportunities as o
    cross join as_of as a
    where o.is_won and cast(o.closed_at as date) <= a.as_of_date
    group by 1
),

created as (
    select
        cast({{ dbt.date_trunc('month', 'created_at') }} as date) as period_month,
        sum(amount_reporting) as pipeline_created
    from opportunities
    group by 1
),

run_rate as (
    select cast(sum(c.pipeline_created) as {{ type_double() }}) / {{ run_rate_months }} as pipeline_run_rate
    from created as c
    cross join as_of as a
    where c.period_month >= cast({{ cdp_dateadd('month', -run_rate_months, 'a.current_month') }} as date)
      and c.period_month < a.current_month
),

expected as (
    select
        expected_close_month as period_month,
        count(*) as open_opportunities_expected,
        sum(amount_reporting) as open_pipeline_expected,
        {{ exact_sum('amount_reporting * win_rate') }} as weighted_pipeline_expected
    from open_expected
    group by 1
),

calendar as (
    select
        p.*,
        {{ dbt.datediff('p.period_month', cdp_dateadd('month', 1, 'p.period_month'), 'day') }} as days_in_period
    from periods as p
),

final as (
    select
        -- the period
        c.period,
        c.period_month,
        c.as_of_date,
        cast(c.days_in_period as bigint) as days_in_period,
        -- bookings (won amount), reporting currency
        cast(case when c.period = 'current' then coalesce(w.won_amount, 0) else 0 end as decimal(18, 2)) as won_to_date,
        case when c.period = 'current' then coalesce(w.won_opportunities, 0) else 0 end as won_opportunities_to_date,
        coalesce(e.open_opportunities_expected, 0) as open_opportunities_expected,
        cast(coalesce(e.open_pipeline_expected, 0) as decimal(18, 2)) as open_pipeline_expected,
        coalesce(e.weighted_pipeline_expected, 0) as weighted_pipeline_expected,
        case when c.period = 'current' then coalesce(w.won_amount, 0) else 0 end
            + coalesce(e.weighted_pipeline_expected, 0) as forecast_bookings,
        case when c.period = 'current' then st.stale_opportunities else 0 end as stale_opportunities,
        cast(case when c.period = 'current' then coalesce(st.stale_pipeline, 0) else 0 end as decimal(18, 2))
            as stale_pipeline,
        -- pipeline created, reporting currency
        cast(case when c.period = 'current' then coalesce(cr.pipeline_created, 0) else 0 end as decimal(18, 2))
            as pipeline_created_to_date,
        rr.pipeline_run_rate,
        case when c.period = 'current'
             then coalesce(cr.pipeline_created, 0)
                  + coalesce(rr.pipeline_run_rate, 0)
                    * ({{ dbt.datediff('c.as_of_date', cdp_dateadd('month', 1, 'c.period_month'), 'day') }} - 1)
                    / c.days_in_period
             else coalesce(rr.pipeline_run_rate, 0) end as pipeline_created_forecast,
        -- the method's inputs
        cast(ov.win_rate as {{ type_double() }}) as overall_win_rate,
        ov.closed_opportunities,
        v.median_sales_cycle_days
    from calendar as c
    cross join overall as ov
    cross join velocity as v
    cross join run_rate as rr
    cross join stale as st
    left join won as w on w.period_month = c.period_month
    left join expected as e on e.period_month = c.period_month
    left join created as cr on cr.period_month = c.period_month
)

select * from final
