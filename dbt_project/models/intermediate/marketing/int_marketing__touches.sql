{#- Every marketing touch of a resolved, not deleted profile: the start of a session, with the channel
    evidence of the event that landed it (UTM source, medium and campaign, referrer host). Term and
    content stay in staging: kept narrow, this table is read by every touch-level model (funnel first
    touch, pipeline influence, attribution).

    Sessions are built as GA4 and Snowplow build them, from the profile's events of the types in var
    cdp__session_event_types (Segment page and screen) only; track and identify events never start,
    extend or credit a session, so a conversion never counts as its own touch. A new session starts
    - after more than var cdp__session_timeout_minutes without such an event, or
    - when an event brings campaign evidence (a channel other than direct and internal) that differs
      from the evidence in force in the session (its last such event, or none when it landed direct).
    Navigation inside our own site (channel internal, var cdp__own_domains) carries no channel
    evidence: it never starts a session mid-visit, and a visit that begins with it (a tab left open
    past the timeout) is no new touch either, so it neither inflates direct nor hides the touch that
    brought the person.

    Rebuilt per profile (macros/cross_db/profile_incremental.sql): a run recomputes only the profiles
    whose events may have changed (a new or late event, a merge or split of profiles, a deletion
    request); the others keep their rows. -#}
-- depends_on: {{ ref('identity_profile_assignments') }}
{%- set timeout = var('cdp__session_timeout_minutes') | int %}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='append',
          on_schema_change='fail',
          pre_hook="{{ cdp_delete_changed_profiles(this) }}",
          post_hook="{{ cdp_drop_changed_profiles(this) }}") }}

with stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

int_identity__event_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__event_profiles') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

{%- if is_incremental() %}

rebuilt_event_profiles as (
    {#- the events of the profiles the pre-hook found changed (and deleted the rows of) -#}
    select p.*
    from int_identity__event_profiles as p
    where p.profile_id in (select c.profile_id from {{ cdp_changed_profiles_relation(this) }} as c)
),

touch_events as (
    {{ marketing_touch_events('stg_segment__events', 'rebuilt_event_profiles', 'int_privacy__deleted_profiles') }}
),

{%- else %}

touch_events as (
    {{ marketing_touch_events('stg_segment__events', 'int_identity__event_profiles', 'int_privacy__deleted_profiles') }}
),

{%- endif %}

events as (
    select * from touch_events
),

with_previous as (
    select
        *,
        case when channel not in ('direct', 'internal')
             then {{ channel_key('utm_source', 'utm_medium', 'utm_campaign', 'referrer_host') }} || '|' || channel
        end as evidence_key,
        lag(occurred_at) over (partition by profile_id order by occurred_at, message_id) as previous_at
    from events
),

visits as (
    {#- a visit: events no further apart than the timeout -#}
    select
        *,
        sum(case when starts_visit then 1 else 0 end)
            over (partition by profile_id order by occurred_at, message_id rows between unbounded preceding and current row)
            as visit_number
    from (
        select
            *,
            previous_at is null or occurred_at > {{ cdp_dateadd('minute', timeout, 'previous_at') }} as starts_visit
        from with_previous
    ) as ordered
),

evidence_changes as (
    {#- Mid-visit, only an event with evidence can start a session, and it does when its evidence
        differs from the visit's latest evidence before it: the previous evidence-bearing event of the
        visit (none when the visit landed direct). Windowing over those few events alone keeps this to
        one more sort of a small part of the table. -#}
    select
        *,
        lag(evidence_key) over (partition by profile_id, visit_number order by occurred_at, message_id)
            as previous_evidence
    from visits
    where evidence_key is not null
),

starts as (
    select profile_id, message_id, occurred_at, channel, utm_source, utm_medium, utm_campaign, referrer_host
    from visits
    where starts_visit
    union all
    select profile_id, message_id, occurred_at, channel, utm_source, utm_medium, utm_campaign, referrer_host
    from evidence_changes
    where not starts_visit
      and evidence_key <> coalesce(previous_evidence, '')
),

final as (
    select
        profile_id,
        message_id,
        occurred_at,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        referrer_host,
        {{ cdp_profile_build_columns('stg_segment__events') }}
    from starts
    where channel <> 'internal'
)

select * from final
