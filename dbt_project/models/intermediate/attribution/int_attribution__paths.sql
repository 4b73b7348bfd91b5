{#- Channel paths for the Markov model, one row per step: every attributed conversion's journey
    (marts.fct_attribution_touches, ending in a conversion) and, for every profile with touches but
    no attributed conversion, its latest var cdp__attribution_max_touches touches in the
    var cdp__attribution_lookback_days days before the as-of moment (ending in null). Consecutive
    repeats of a channel collapse into one step. conversion_value_reporting is the
    converting journey's value on every step, null for journeys that did not convert. -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
{%- set conversions = var('cdp__attribution_conversions') %}
{%- set lookback = var('cdp__attribution_lookback_days') | int %}
{%- set max_touches = var('cdp__attribution_max_touches') | int %}
{%- set excluded = var('cdp__attribution_excluded_channels') | list + ([] if var('cdp__attribution_count_direct') else ['direct']) %}

with fct_attribution_touches as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_attribution_touches') }}
),

fct_conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}
),

int_marketing__touches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_marketing__touches') }}
),

converting as (
    select
        'conversion:' || conversion_id as journey_id, touch_position as position, channel, true as converted,
        conversion_value_reporting
    from fct_attribution_touches
),

converters as (
    select distinct profile_id
    from fct_conversions
    where conversion_name in ({% for n in conversions %}{{ cdp_literal(n) }}{% if not loop.last %}, {% endif %}{% endfor %})
),

recent as (
    select
        t.profile_id, t.occurred_at, t.message_id, t.channel,
        row_number() over (partition by t.profile_id order by t.occurred_at desc, t.message_id desc) as recency
    from int_marketing__touches as t
    where t.occurred_at <= {{ cdp_as_of() }}
      and t.occurred_at > {{ cdp_dateadd('day', -lookback, cdp_as_of()) }}
      and t.profile_id not in (select c.profile_id from converters as c)
      {%- if excluded %}
      and t.channel not in ({% for ch in excluded %}{{ cdp_literal(ch) }}{% if not loop.last %}, {% endif %}{% endfor %})
      {%- endif %}
),

non_converting as (
    select
        'profile:' || profile_id as journey_id,
        row_number() over (partition by profile_id order by occurred_at, message_id) as position,
        channel,
        false as converted,
        cast(null as decimal(18, 2)) as conversion_value_reporting
    from recent
    where recency <= {{ max_touches }}
),

steps as (
    select * from converting
    union all
    select * from non_converting
),

marked as (
    select *, lag(channel) over (partition by journey_id order by position) as previous_channel
    from steps
),

final as (
    select
        journey_id,
        row_number() over (partition by journey_id order by position) as step,
        channel,
        converted,
        conversion_value_reporting
    from marked
    where previous_channel is null or previous_channel <> channel
)

select * from final
