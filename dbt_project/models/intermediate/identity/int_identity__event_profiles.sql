{#- The profile of every event: the profile of its user id, else of its anonymous id, else of its
    device id (a shared device's anonymous id is its own profile, so a logged-in user's events stay
    theirs). Null only when every identifier on the event is a blocked placeholder. -#}
{%- set by_type = [('user_id', 'user_id'), ('anonymous_id', 'anonymous_id'), ('device_id', 'device_id')] %}

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

final as (
    select
        e.message_id,
        coalesce(u.profile_id, a.profile_id, d.profile_id) as profile_id,
        case when u.profile_id is not null then 'user_id'
             when a.profile_id is not null then 'anonymous_id'
             when d.profile_id is not null then 'device_id' end as resolved_by
    from stg_segment__events as e
    left join user_id_profiles as u on u.identifier = e.user_id
    left join anonymous_id_profiles as a on a.identifier = e.anonymous_id
    left join device_id_profiles as d on d.identifier = e.device_id
)

select * from final
