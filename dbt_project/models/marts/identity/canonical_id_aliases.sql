{#- Every retired profile id and the profile that carries on for it today, so a stored old id can
    always be looked up:
    - merge_history: ids retired by a recorded merge (ops.identity_merge_events), chains of merges
      followed to the current survivor;
    - derived_from_identifier: the id each identifier of a profile would carry had it formed a
      profile of its own ('prf_' + 24 hex digits of the MD5 of its node key, the rule new profiles
      get their id by). Every retired id was once such an id, so after a rebuild from scratch, with
      no merge history, an id a destination or a spreadsheet still holds resolves all the same. -#}
with recursive merges as (
    select retired_profile_id, surviving_profile_id, recorded_at
    from {{ ref('identity_merge_events') }}
    where event_type = 'merged'
),

registry as (
    select node_key, profile_id from {{ ref('identity_profile_registry') }} where profile_id is not null
),

chains (retired_profile_id, survivor_profile_id, retired_at, hops) as (
    select retired_profile_id, surviving_profile_id, recorded_at, 1
    from merges
    union all
    select c.retired_profile_id, m.surviving_profile_id, c.retired_at, c.hops + 1
    from chains as c
    inner join merges as m on m.retired_profile_id = c.survivor_profile_id
    where c.hops < 100
),

recorded as (
    select retired_profile_id, survivor_profile_id, retired_at, hops as merges_followed,
           'merge_history' as evidence
    from (
        select *, row_number() over (partition by retired_profile_id order by hops desc) as position
        from chains
    ) as ranked
    where position = 1
),

derived as (
    select
        'prf_' || substr(md5(node_key), 1, 24) as retired_profile_id,
        min(profile_id) as survivor_profile_id,
        count(distinct profile_id) as survivors
    from registry
    group by 1
),

final as (
    select * from recorded
    union all
    select d.retired_profile_id, d.survivor_profile_id, cast(null as {{ type_timestamptz() }}), cast(null as bigint),
           'derived_from_identifier'
    from derived as d
    where d.survivors = 1
      {# anti-joins, not `not in (subquery)`: PostgreSQL runs a subquery larger than work_mem once per row #}
      and not exists (select 1 from recorded as r where r.retired_profile_id = d.retired_profile_id)
      and not exists (select 1 from registry as g where g.profile_id = d.retired_profile_id)
)

select * from final
