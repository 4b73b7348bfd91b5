{#- Attributable touches: for every conversion named in var cdp__attribution_conversions
    (marts.fct_conversions), each marketing touch of the same profile (intermediate.int_marketing__touches)
    in the var cdp__attribution_lookback_days days up to the conversion, at most the latest
    var cdp__attribution_max_touches of them; direct visits count unless var
    cdp__attribution_count_direct is false; channels in var cdp__attribution_excluded_channels never
    count. Touches are ordered by time, ties by message_id (position 1 = first touch). The milestone
    flags feed the W-shaped and full-path models: the lead-created touch is the last touch at or
    before the profile reached the lead stage, the opportunity-created touch the last touch at or
    before the converting (or, for orders, no) opportunity was created. Conversions without any touch
    are not here; marts.attribution_credits gives them an `unattributed` row. -#}
{%- set conversions = var('cdp__attribution_conversions') %}
{%- set lookback = var('cdp__attribution_lookback_days') | int %}
{%- set max_touches = var('cdp__attribution_max_touches') | int %}
{%- set excluded = var('cdp__attribution_excluded_channels') | list + ([] if var('cdp__attribution_count_direct') else ['direct']) %}

with fct_conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}
),

fct_funnel_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_funnel_profiles') }}
),

fct_opportunities as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_opportunities') }}
),

int_marketing__touches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_marketing__touches') }}
),

conversions as (
    select
        c.conversion_id, c.conversion_name, c.profile_id, c.converted_at, c.conversion_value_reporting,
        f.reached_lead_at,
        o.created_at as opportunity_created_at
    from fct_conversions as c
    left join fct_funnel_profiles as f on f.profile_id = c.profile_id
    left join fct_opportunities as o
        on c.source = 'crm_opportunity' and o.opportunity_id = c.source_key
    where c.conversion_name in ({% for n in conversions %}{{ cdp_literal(n) }}{% if not loop.last %}, {% endif %}{% endfor %})
),

in_window as (
    select
        c.*,
        t.message_id,
        t.occurred_at as touched_at,
        t.channel,
        t.utm_source,
        t.utm_medium,
        coalesce(t.utm_campaign, '(none)') as campaign,
        row_number() over (partition by c.conversion_id order by t.occurred_at desc, t.message_id desc) as recency
    from conversions as c
    inner join int_marketing__touches as t
        on t.profile_id = c.profile_id
       and t.occurred_at <= c.converted_at
       and t.occurred_at > {{ cdp_dateadd('day', -lookback, 'c.converted_at') }}
    {%- if excluded %}
    where t.channel not in ({% for ch in excluded %}{{ cdp_literal(ch) }}{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif %}
),

kept as (
    select
        *,
        count(*) over (partition by conversion_id) as touch_count,
        {#- position from the first kept touch: the newest has recency 1 -#}
        count(*) over (partition by conversion_id) - recency + 1 as touch_position,
        max(case when touched_at <= reached_lead_at then touched_at end) over (partition by conversion_id)
            as lead_touch_at,
        max(case when touched_at <= opportunity_created_at then touched_at end) over (partition by conversion_id)
            as opportunity_touch_at
    from in_window
    where recency <= {{ max_touches }}
),

final as (
    select
        conversion_id,
        conversion_name,
        profile_id,
        converted_at,
        conversion_value_reporting,
        message_id,
        touched_at,
        channel,
        utm_source,
        utm_medium,
        campaign,
        touch_position,
        touch_count,
        cast({{ cdp_days_between('touched_at', 'converted_at') }} as {{ type_double() }}) as days_before_conversion,
        touch_position = 1 as is_first_touch,
        touch_position = touch_count as is_last_touch,
        {#- the milestone touch is the latest touch at that moment (ties: the last by position) -#}
        coalesce(touched_at = lead_touch_at
                 and touch_position = max(case when touched_at = lead_touch_at then touch_position end)
                                      over (partition by conversion_id), false) as is_lead_created_touch,
        coalesce(touched_at = opportunity_touch_at
                 and touch_position = max(case when touched_at = opportunity_touch_at then touch_position end)
                                      over (partition by conversion_id), false) as is_opportunity_created_touch
    from kept
)

select * from final
