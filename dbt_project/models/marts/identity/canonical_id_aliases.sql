{#- Every retired profile id and the profile that carries on for it today (chains of merges are
    followed to the current survivor), so a stored old id can always be looked up. -#}
with recursive merges as (
    select retired_profile_id, surviving_profile_id, recorded_at
    from {{ ref('identity_merge_events') }}
    where event_type = 'merged'
),

chains (retired_profile_id, survivor_profile_id, retired_at, hops) as (
    select retired_profile_id, surviving_profile_id, recorded_at, 1
    from merges
    union all
    select c.retired_profile_id, m.surviving_profile_id, c.retired_at, c.hops + 1
    from chains as c
    inner join merges as m on m.retired_profile_id = c.survivor_profile_id
    where c.hops < 100
)

select retired_profile_id, survivor_profile_id, retired_at, hops as merges_followed
from (
    select *, row_number() over (partition by retired_profile_id order by hops desc) as position
    from chains
) as ranked
where position = 1
