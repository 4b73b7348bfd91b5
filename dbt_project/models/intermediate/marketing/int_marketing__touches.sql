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
    whose touch events changed (a new or late event, a merge or split of profiles, a deletion
    request); the others keep their rows. -#}
{%- set timeout = var('cdp__session_timeout_minutes') | int %}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='append',
          on_schema_change='fail',
          pre_hook="{{ cdp_delete_changed_profiles(this, marketing_touch_fingerprints()) }}",
          post_hook="{{ cdp_drop_profile_inputs(this) }}") }}

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

fingerprints as (
    {#- kept by the pre-hook, which deleted the rows of every profile whose inputs changed -#}
    select profile_id, profile_inputs_hash from {{ cdp_profile_inputs_relation(this) }}
),

rebuilt_profiles as (
    {#- the profiles without rows under their current fingerprint -#}
    select f.profile_id, f.profile_inputs_hash
    from fingerprints as f
    where not exists (
        select 1 from {{ this }} as kept
        where kept.profile_id = f.profile_id and kept.profile_inputs_hash = f.profile_inputs_hash
    )
),

rebuilt_event_profiles as (
    select p.*
    from int_identity__event_profiles as p
    inner join rebuilt_profiles as r on r.profile_id = p.profile_id
),

touch_events as (
    {{ marketing_touch_events('stg_segment__events', 'rebuilt_event_profiles', 'int_privacy__deleted_profiles') }}
),

{%- else %}

touch_events as {{ cte_materialized() }} (
    {{ marketing_touch_events('stg_segment__events', 'int_identity__event_profiles', 'int_privacy__deleted_profiles') }}
),

rebuilt_profiles as (
    {#- a first build or a full refresh: every profile -#}
    select profile_id, {{ cdp_profile_inputs_hash('message_id') }} as profile_inputs_hash
    from touch_events
    group by profile_id
),

{%- endif %}

events as (
    select e.*, r.profile_inputs_hash
    from touch_events as e
    inner join rebuilt_profiles as r on r.profile_id = e.profile_id
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
    select profile_id, message_id, occurred_at, channel, utm_source, utm_medium, utm_campaign, referrer_host,
           profile_inputs_hash
    from visits
    where starts_visit
    union all
    select profile_id, message_id, occurred_at, channel, utm_source, utm_medium, utm_campaign, referrer_host,
           profile_inputs_hash
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
        profile_inputs_hash
    from starts
    where channel <> 'internal'
)

select * from final
