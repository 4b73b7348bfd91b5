{#- Return on marketing spend for every attribution model: ad spend (staging.stg_ads__spend, in the
    reporting currency) joined to the value and conversions each model credits, by channel and month
    (grain channel_month), channel (grain channel) and channel and campaign (grain campaign); plus
    the marketing efficiency ratio for all channels together (grain all_month and all: revenue of all
    attributed conversions, unattributed included, over all spend; the same for every model).
    Every model credits by conversion month and campaign (Markov and Shapley through
    marts.attribution_data_driven_credits).
    new_customers counts credit for profiles' first attributed conversion; LTV is the credit-weighted
    average lifetime revenue (all revenue conversions to date) of those customers; payback months =
    CAC / (LTV per month of customer tenure, from the first conversion to the as-of moment, at least
    one month). Ratios are null where their denominator is zero (unpaid channels have no spend). -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
{%- set models = attribution_rule_models() %}

with stg_ads__spend as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_ads__spend') }}
),

currency_rates as {{ cte_not_materialized() }} (
    select * from {{ ref('currency_rates') }}
),

attribution_credits as {{ cte_not_materialized() }} (
    select * from {{ ref('attribution_credits') }}
),

attribution_data_driven_credits as {{ cte_not_materialized() }} (
    select * from {{ ref('attribution_data_driven_credits') }}
),

fct_conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}
),

spend as (
    select
        s.channel,
        coalesce(s.utm_campaign, '(none)') as campaign,
        cast({{ dbt.date_trunc('month', 's.spend_date') }} as date) as month,
        sum({{ to_reporting_currency('s.spend') }}) as spend
    from stg_ads__spend as s
    left join currency_rates as fx on fx.currency = s.currency
    group by 1, 2, 3
),

as_of as (
    select {{ cdp_as_of() }} as as_of
),

first_conversions as (
    select conversion_id
    from (
        select conversion_id,
               row_number() over (partition by profile_id order by converted_at, conversion_id) as nth
        from attribution_credits
        group by conversion_id, profile_id, converted_at
    ) as ranked
    where nth = 1
),

customers as (
    select
        c.profile_id,
        sum(c.conversion_value_reporting) as lifetime_revenue,
        greatest({{ cdp_days_between('min(c.converted_at)', 'max(a.as_of)') }} / 30.4375, 1.0) as tenure_months
    from fct_conversions as c
    cross join as_of as a
    where c.is_revenue
    group by c.profile_id
),

credits as (
    {%- for m in models + ['markov', 'shapley'] %}
    {%- set source = 'attribution_data_driven_credits' if m in ['markov', 'shapley'] else 'attribution_credits' %}
    select
        '{{ m }}' as model, k.channel, k.campaign,
        cast({{ dbt.date_trunc('month', 'k.converted_at') }} as date) as month,
        k.{{ m }}_share as share, k.{{ m }}_value as credited,
        case when f.conversion_id is not null then k.{{ m }}_share else 0 end as new_customer_share,
        case when f.conversion_id is not null then k.{{ m }}_share * cu.lifetime_revenue else 0 end as ltv_weighted,
        case when f.conversion_id is not null then k.{{ m }}_share * cu.tenure_months else 0 end as tenure_weighted
    from {{ source }} as k
    left join first_conversions as f on f.conversion_id = k.conversion_id
    left join customers as cu on cu.profile_id = k.profile_id
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

rule_based as (
    select
        model,
        case when grouping(month) = 0 then 'channel_month' when grouping(campaign) = 0 then 'campaign'
             else 'channel' end as grain,
        channel,
        case when grouping(campaign) = 1 then '(all)' else campaign end as campaign,
        month,
        {{ exact_sum('share') }} as credited_conversions,
        {{ exact_sum('credited') }} as credited_value,
        {{ exact_sum('new_customer_share') }} as new_customers,
        {{ exact_sum('ltv_weighted') }} as ltv_weighted,
        {{ exact_sum('tenure_weighted') }} as tenure_weighted
    from credits
    group by grouping sets ((model, channel, month), (model, channel), (model, channel, campaign))
),

credited as (
    select * from rule_based
),

spend_by_grain as (
    select 'channel_month' as grain, channel, '(all)' as campaign, month, sum(spend) as spend from spend group by 2, 4
    union all
    select 'channel', channel, '(all)', cast(null as date), sum(spend) from spend group by 2
    union all
    select 'campaign', channel, campaign, cast(null as date), sum(spend) from spend group by 2, 3
),

joined as (
    select
        c.*,
        coalesce(s.spend, 0) as spend
    from credited as c
    left join spend_by_grain as s
        on s.grain = c.grain and s.channel = c.channel and s.campaign = c.campaign
       and (s.month = c.month or (s.month is null and c.month is null))
),

credited_overall as (
    select 'all_month' as grain, cast({{ dbt.date_trunc('month', 'converted_at') }} as date) as month,
           count(distinct conversion_id) as credited_conversions, {{ exact_sum('linear_value') }} as credited_value
    from attribution_credits group by 2
    union all
    select 'all', cast(null as date), count(distinct conversion_id), {{ exact_sum('linear_value') }}
    from attribution_credits
),

credited_models as (
    select distinct model from credited
),

spend_overall as (
    select 'all_month' as grain, month, sum(spend) as spend from spend group by 2
    union all
    select 'all', cast(null as date), sum(spend) from spend
),

totals as (
    {#- marketing efficiency ratio: all attributed revenue over all spend, per month and overall -#}
    select
        m.model, g.grain, '(all)' as channel, '(all)' as campaign, g.month,
        g.credited_conversions, g.credited_value, cast(null as {{ type_double() }}) as new_customers,
        cast(null as {{ type_double() }}) as ltv_weighted, cast(null as {{ type_double() }}) as tenure_weighted,
        coalesce(sp.spend, 0) as spend
    from credited_overall as g
    cross join credited_models as m
    left join spend_overall as sp on sp.grain = g.grain and (sp.month = g.month or (sp.month is null and g.month is null))
),

final as (
    select
        model,
        grain,
        channel,
        campaign,
        month,
        spend,
        credited_conversions,
        credited_value,
        new_customers,
        {#- ratios in double precision from double operands: a decimal division keeps only 6 decimals on
            Spark and all of them on PostgreSQL -#}
        cast(credited_value as {{ type_double() }}) / nullif(spend_d, 0) as roas,
        nullif(spend_d, 0) / nullif(credited_conversions, 0) as cpa,
        nullif(spend_d, 0) / nullif(new_customers, 0) as cac,
        (cast(credited_value as {{ type_double() }}) - spend_d) / nullif(spend_d, 0) as romi,
        case when channel = '(all)' then cast(credited_value as {{ type_double() }}) / nullif(spend_d, 0) end
            as marketing_efficiency_ratio,
        ltv_weighted / nullif(new_customers, 0) as ltv,
        tenure_weighted / nullif(new_customers, 0) as customer_tenure_months,
        (ltv_weighted / nullif(new_customers, 0)) / nullif(spend_d / nullif(new_customers, 0), 0) as ltv_to_cac,
        (nullif(spend_d, 0) / nullif(new_customers, 0))
            / nullif((ltv_weighted / nullif(new_customers, 0)) / nullif(tenure_weighted / nullif(new_customers, 0), 0), 0)
            as payback_months
    from (
        select *, cast(spend as {{ type_double() }}) as spend_d from joined
        union all
        select *, cast(spend as {{ type_double() }}) from totals
    ) as all_rows
)

select * from final
