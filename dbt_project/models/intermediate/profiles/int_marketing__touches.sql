{#- Every marketing touch of a resolved profile: an event with a channel other than `internal`
    (navigation inside our own site), i.e. the landing of a session from a channel, with its UTM
    source, medium and campaign and referrer (term and content stay in staging: kept narrow, this
    table is read by every touch-level model). Deleted profiles are left out. What funnel grouping (first touch), pipeline
    influence and attribution read. -#}
select
    p.profile_id,
    e.message_id,
    e.occurred_at,
    e.channel,
    e.utm_source,
    e.utm_medium,
    e.utm_campaign,
    e.referrer_host
from {{ ref('stg_segment__events') }} as e
inner join {{ ref('int_identity__event_profiles') }} as p on p.message_id = e.message_id
where e.channel is not null
  and e.channel <> 'internal'
  and p.profile_id is not null
  and p.profile_id not in (select profile_id from {{ ref('int_privacy__deleted_profiles') }})
