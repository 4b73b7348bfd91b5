{#- The profile of every event: the profile of its user id, else of its anonymous id, else of its
    device id (a shared device's anonymous id is its own profile, so a logged-in user's events stay
    theirs). Null only when every identifier on the event is a blocked placeholder. -#}
with registry as {{ cte_not_materialized() }} (
    select node_key, profile_id from {{ ref('identity_profile_registry') }}
)

select
    e.message_id,
    coalesce(u.profile_id, a.profile_id, d.profile_id) as profile_id,
    case when u.profile_id is not null then 'user_id'
         when a.profile_id is not null then 'anonymous_id'
         when d.profile_id is not null then 'device_id' end as resolved_by
from {{ ref('stg_segment__events') }} as e
left join registry as u on u.node_key = 'user_id:' || e.user_id
left join registry as a on a.node_key = 'anonymous_id:' || e.anonymous_id
left join registry as d on d.node_key = 'device_id:' || e.device_id
