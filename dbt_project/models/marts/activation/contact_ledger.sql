{#- Every contact the syncs made: one row per member a sync sent (added or changed) at its destination,
    with the sync's contact channel, when, and the consent record that allowed it: ops.sync_log joined
    to the run that sent its plan (ops.sync_runs). Deletes and held-back members are not contacts.
    sends_on_channel_7d and sends_on_channel_30d count this person's sends on the same channel in the
    7 and 30 days up to and including this one: the contact pressure that frequency caps
    (reverse_etl/syncs.yml, frequency_caps) act on. Syncs run after the models, so a build shows the
    sends of the syncs before it. It is built with the profile marts it describes (depends_on below):
    a model that read only ops sources would be a dbt invocation of its own, before the loaders. -#}
-- depends_on: {{ ref('dim_profiles') }}


with ops_sync_log as {{ cte_not_materialized() }} (
    select * from {{ source('ops', 'sync_log') }}
),

ops_sync_runs as {{ cte_not_materialized() }} (
    select * from {{ source('ops', 'sync_runs') }}
),

sync_log as (
    select * from ops_sync_log
),

sync_runs as (
    select * from ops_sync_runs
),

plans as (
    -- a plan resumed after a crash has several runs: one channel and destination per plan
    select
        sync_name,
        plan_id,
        max(channel) as channel,
        max(destination) as destination
    from sync_runs
    where plan_id is not null
    group by sync_name, plan_id
),

sends as (
    select
        l.profile_id,
        l.sync_name,
        p.channel,
        p.destination,
        l.op as operation,
        l.logged_at as sent_at,
        l.plan_id,
        l.member_key,
        l.consent_record_id
    from sync_log as l
    inner join plans as p
        on p.sync_name = l.sync_name
       and p.plan_id = l.plan_id
    where l.status = 'sent'
      and l.op <> 'delete'
      and l.profile_id is not null
),

pressure as (
    select
        s.sync_name,
        s.plan_id,
        s.member_key,
        count(case when o.sent_at > {{ cdp_dateadd('day', -7, 's.sent_at') }} then 1 end) as sends_7d,
        count(o.sent_at) as sends_30d
    from sends as s
    inner join sends as o
        on o.profile_id = s.profile_id
       and o.channel = s.channel
       and o.sent_at <= s.sent_at
       and o.sent_at > {{ cdp_dateadd('day', -30, 's.sent_at') }}
    group by s.sync_name, s.plan_id, s.member_key
),

final as (
    select
        s.profile_id,
        s.sync_name,
        s.channel,
        s.destination,
        s.operation,
        s.sent_at,
        s.plan_id,
        s.member_key,
        s.consent_record_id,
        p.sends_7d as sends_on_channel_7d,
        p.sends_30d as sends_on_channel_30d
    from sends as s
    left join pressure as p
        on p.sync_name = s.sync_name
       and p.plan_id = s.plan_id
       and p.member_key = s.member_key
)

select * from final
