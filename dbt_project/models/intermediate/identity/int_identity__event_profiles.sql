{#- The profile of every event: the profile of its user id, else of its anonymous id, else of its
    device id (a shared device's anonymous id is its own profile, so a logged-in user's events stay
    theirs). Null only when every identifier on the event is a blocked placeholder.

    Kept up to date rather than rebuilt: a run resolves again only the events staged since the latest
    it holds and the events carrying an identifier that changed profile since it was last built
    (ops.identity_profile_assignments), replacing their rows (delete+insert on message_id). Spark's
    Parquet tables cannot delete rows: there it is rebuilt whole. -#}
-- depends_on: {{ ref('identity_profile_assignments') }}
{%- set by_type = [('user_id', 'user_id'), ('anonymous_id', 'anonymous_id'), ('device_id', 'device_id')] %}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='delete+insert',
          unique_key='message_id', on_schema_change='fail') }}

with identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

{%- for identifier_type, column in by_type %}

{{ identifier_type }}_profiles as (
    select identifier, profile_id
    from identity_profile_registry
    where identifier_type = {{ cdp_literal(identifier_type) }}
),
{%- endfor %}
{%- if is_incremental() %}

identity_profile_assignments as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_assignments') }}
),

reassigned as (
    {#- identifiers whose profile changed since this table was last built -#}
    select distinct identifier_type, identifier
    from identity_profile_assignments
    where assigned_at > (select coalesce(max(t._built_at), cast('1900-01-01' as timestamp)) from {{ this }} as t)
),

events as (
    select e.*
    from stg_segment__events as e
    where e._loaded_at > (select coalesce(max(t._loaded_at), cast('1900-01-01' as {{ type_timestamptz() }}))
                          from {{ this }} as t)
    {%- for identifier_type, column in by_type %}
       or e.{{ column }} in (select r.identifier from reassigned as r
                             where r.identifier_type = {{ cdp_literal(identifier_type) }})
    {%- endfor %}
),
{%- else %}

events as (
    select * from stg_segment__events
),
{%- endif %}

final as (
    select
        e.message_id,
        coalesce(u.profile_id, a.profile_id, d.profile_id) as profile_id,
        case when u.profile_id is not null then 'user_id'
             when a.profile_id is not null then 'anonymous_id'
             when d.profile_id is not null then 'device_id' end as resolved_by,
        e._loaded_at,
        {{ cdp_run_started_at() }} as _built_at
    from events as e
    left join user_id_profiles as u on u.identifier = e.user_id
    left join anonymous_id_profiles as a on a.identifier = e.anonymous_id
    left join device_id_profiles as d on d.identifier = e.device_id
)

select * from final
