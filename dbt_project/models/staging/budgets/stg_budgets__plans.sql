{#- Planned spend per month, channel and (optionally) campaign, in the plan's currency and the
    reporting currency. A plan line landed again (same month, channel and campaign) revises the
    earlier one: the line in the file whose name sorts last wins (name revisions so they sort after
    the plan, e.g. budgets_2026-11-14.csv), and within one file the last line. Files load in
    parallel, so the order they arrived in does not decide. A plan without a campaign is the
    channel's whole budget for the month, campaigns included. -#}
with raw_budgets as {{ cte_not_materialized() }} (
    select * from {{ source('raw', 'budgets') }}
),

currency_rates as {{ cte_not_materialized() }} (
    select * from {{ ref('currency_rates') }}
),

source as (
    select * from raw_budgets
),

typed as (
    select
        cast({{ dbt.concat(["substr(trim(period), 1, 7)", "'-01'"]) }} as date) as period_month,
        lower(trim(channel)) as channel,
        {{ normalize_utm('campaign') }} as campaign,
        upper(coalesce(nullif(trim(currency), ''), {{ cdp_literal(var('cdp__reporting_currency')) }})) as currency,
        cast(planned_spend as decimal(18, 2)) as planned_spend,
        cast(target_cpa as decimal(18, 2)) as target_cpa,
        cast(target_roas as decimal(18, 4)) as target_roas,
        cast(target_pipeline as decimal(18, 2)) as target_pipeline,
        _source_file,
        _line_number,
        _loaded_at
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by period_month, channel, coalesce(campaign, '')
            order by _source_file desc, _line_number desc
        ) as revision_rank
    from typed
),

rates as (
    select * from currency_rates
),

final as (
    select
        r.period_month,
        r.channel,
        r.campaign,
        r.currency,
        r.planned_spend,
        {{ to_reporting_currency('r.planned_spend') }} as planned_spend_reporting,
        {{ to_reporting_currency('r.target_cpa') }} as target_cpa_reporting,
        r.target_roas,
        {{ to_reporting_currency('r.target_pipeline') }} as target_pipeline_reporting,
        r._source_file,
        r._loaded_at
    from ranked as r
    left join rates as fx on fx.currency = r.currency
    where r.revision_rank = 1
)

select * from final
