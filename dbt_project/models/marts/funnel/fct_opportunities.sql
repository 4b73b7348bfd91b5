{#- One row per CRM opportunity of a resolved profile (latest snapshot), with its account, amount in
    its own and the reporting currency, sales cycle, the profile's first marketing touch before the
    opportunity was created, and whether marketing sourced it (the contact's CRM lead_source is in
    var cdp__marketing_lead_sources, or it has none and a marketing touch came first) or influenced
    it (a marketing touch in the var cdp__influence_lookback_days days before creation). Marketing
    touches are touches whose channel is not in var cdp__non_marketing_channels. -#}
{%- set lookback = var('cdp__influence_lookback_days') | int %}
{%- set non_marketing = var('cdp__non_marketing_channels') %}
{%- set marketing_sources = var('cdp__marketing_lead_sources') %}

with int_funnel__opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('int_funnel__opportunities') }}
),

stg_crm__contacts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__contacts') }}
),

int_marketing__touches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_marketing__touches') }}
),

int_profiles__traits as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__traits') }}
),

currency_rates as {{ cte_not_materialized() }} (
    select * from {{ ref('currency_rates') }}
),

opportunities as (
    select
        o.*,
        c.lead_source
    from int_funnel__opportunities as o
    left join stg_crm__contacts as c on c.contact_id = o.contact_id
),

touches_before as (
    select
        o.opportunity_id,
        t.occurred_at,
        t.message_id,
        t.channel,
        t.utm_campaign,
        t.channel not in ({% for c in non_marketing %}{{ cdp_literal(c) }}{% if not loop.last %}, {% endif %}{% endfor %})
            as is_marketing
    from opportunities as o
    inner join int_marketing__touches as t
        on t.profile_id = o.profile_id and t.occurred_at <= o.created_at
),

touch_summary as (
    select
        opportunity_id,
        {#- all three from the one first touch (its campaign may be null: untagged), ties broken by message -#}
        {{ cdp_first_value('channel', 'occurred_at, message_id') }} as first_touch_channel,
        {{ cdp_first_value('utm_campaign', 'occurred_at, message_id') }} as first_touch_campaign,
        min(occurred_at) as first_touch_at,
        {{ cdp_first_value('is_marketing', 'occurred_at, message_id') }} as first_touch_is_marketing,
        count(case when is_marketing then 1 end) as marketing_touches_before,
        count(case when is_marketing and occurred_at >= {{ cdp_dateadd('day', -lookback, 'created_at') }} then 1 end)
            as influencing_touches
    from (
        select tb.*, o.created_at
        from touches_before as tb
        inner join opportunities as o on o.opportunity_id = tb.opportunity_id
    ) as t
    group by opportunity_id
),

final as (
    select
        o.opportunity_id,
        o.profile_id,
        o.contact_id,
        lower(trim(tr.company)) as account_key,
        tr.company,
        o.stage,
        o.amount,
        o.currency,
        {{ to_reporting_currency('o.amount') }} as amount_reporting,
        {{ cdp_literal(var("cdp__reporting_currency") | upper) }} as reporting_currency,
        o.created_at,
        o.closed_at,
        o.is_closed,
        o.is_won,
        cast(case when o.is_closed then {{ cdp_days_between('o.created_at', 'coalesce(o.closed_at, o.updated_at)') }} end
             as {{ type_double() }}) as sales_cycle_days,
        o.lead_source,
        s.first_touch_at,
        s.first_touch_channel,
        s.first_touch_campaign,
        coalesce(s.influencing_touches, 0) as influencing_touches,
        case when o.lead_source is not null
             then o.lead_source in ({% for c in marketing_sources %}{{ cdp_literal(c) }}{% if not loop.last %}, {% endif %}{% endfor %})
             else coalesce(s.first_touch_is_marketing, false) end as is_marketing_sourced,
        coalesce(s.influencing_touches, 0) > 0 as is_marketing_influenced
    from opportunities as o
    left join touch_summary as s on s.opportunity_id = o.opportunity_id
    left join int_profiles__traits as tr on tr.profile_id = o.profile_id
    left join currency_rates as fx on fx.currency = o.currency
)

select * from final
