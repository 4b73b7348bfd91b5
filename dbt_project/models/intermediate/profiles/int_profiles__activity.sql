{#- Per profile, what its events and marketing touches add up to: when it was first and last active,
    how many events, sessions (runs of events no more than var cdp__session_timeout_minutes apart),
    orders and order revenue, and its touches (how many, the first and the latest channel, every
    channel). dim_profiles reads it.

    Rebuilt per profile (macros/cross_db/profile_incremental.sql): a run recomputes only the profiles
    whose events may have changed (a new or late event, a merge or split of profiles, a deletion
    request); the others keep their rows. Deleted profiles have none. -#}
-- depends_on: {{ ref('identity_profile_assignments') }}
{%- set session_minutes = var('cdp__session_timeout_minutes') | int %}
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

int_marketing__touches as {{ cte_not_materialized() }} (
    select * from {{ ref('int_marketing__touches') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),
{%- if is_incremental() %}

rebuilt as (
    {#- the profiles the pre-hook found changed (and deleted the rows of) -#}
    select profile_id from {{ cdp_changed_profiles_relation(this) }}
),
{%- endif %}

profile_events as (
    select
        p.profile_id,
        e.occurred_at,
        e.event_name,
        e.revenue
    from stg_segment__events as e
    inner join int_identity__event_profiles as p on p.message_id = e.message_id
    where p.profile_id is not null
    {%- if is_incremental() %}
      and p.profile_id in (select r.profile_id from rebuilt as r)
    {%- endif %}
      and p.profile_id not in (select d.profile_id from int_privacy__deleted_profiles as d)
),

sessionised as (
    select
        *,
        case when previous_at is null or occurred_at > {{ cdp_dateadd('minute', session_minutes, 'previous_at') }}
             then 1 else 0 end as starts_session
    from (
        select *, lag(occurred_at) over (partition by profile_id order by occurred_at) as previous_at
        from profile_events
    ) as ordered
),

activity as (
    select
        profile_id,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        count(*) as event_count,
        cast(sum(starts_session) as bigint) as session_count,
        count(case when event_name = 'Order Completed' then 1 end) as order_count,
        coalesce(sum(case when event_name = 'Order Completed' then revenue end), 0) as order_revenue
    from sessionised
    group by profile_id
),

touches as (
    {#- marketing touches are session starts (intermediate.int_marketing__touches) -#}
    select
        t.profile_id,
        count(*) as touchpoint_count,
        {{ cdp_arg_min('t.channel', 't.occurred_at') }} as first_touch_channel,
        {{ cdp_latest('t.channel', 't.occurred_at') }} as last_touch_channel,
        {{ string_agg_distinct('t.channel', "', '") }} as channels_seen
    from int_marketing__touches as t
    {%- if is_incremental() %}
    where t.profile_id in (select r.profile_id from rebuilt as r)
    {%- endif %}
    group by t.profile_id
),

final as (
    select
        a.profile_id,
        a.first_event_at,
        a.last_event_at,
        a.event_count,
        a.session_count,
        a.order_count,
        a.order_revenue,
        coalesce(t.touchpoint_count, 0) as touchpoint_count,
        t.first_touch_channel,
        t.last_touch_channel,
        t.channels_seen,
        {{ cdp_profile_build_columns('stg_segment__events') }}
    from activity as a
    left join touches as t on t.profile_id = a.profile_id
)

select * from final
