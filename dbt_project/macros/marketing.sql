{#- The events a profile's marketing touches are made of (intermediate.int_marketing__touches): page and
    screen events (var cdp__session_event_types) with a channel, of a resolved profile without a
    deletion request. Arguments: the relations of staged events, event profiles and deleted profiles. -#}
{% macro marketing_touch_events(events, event_profiles, deleted_profiles) -%}
    {%- set session_types = var('cdp__session_event_types') | list -%}
    select
        p.profile_id,
        e.message_id,
        e.occurred_at,
        e.channel,
        e.utm_source,
        e.utm_medium,
        e.utm_campaign,
        e.referrer_host
    from {{ events }} as e
    inner join {{ event_profiles }} as p on p.message_id = e.message_id
    where e.event_type in ({% for t in session_types %}{{ cdp_literal(t) }}{% if not loop.last %}, {% endif %}{% endfor %})
      and e.channel is not null
      and p.profile_id is not null
      and p.profile_id not in (select d.profile_id from {{ deleted_profiles }} as d)
{%- endmacro %}

