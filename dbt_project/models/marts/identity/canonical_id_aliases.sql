{#- Every retired profile id and the profile that carries on for it today, so a stored old id can
    always be looked up:
    - merge_history: ids retired by a recorded merge (ops.identity_merge_events), chains of merges
      followed to the current survivor;
    - derived_from_identifier: the id each identifier of a profile would carry had it formed a
      profile of its own ('prf_' + 24 hex digits of the MD5 of its node key, the rule new profiles
      get their id by). Every retired id was once such an id, so after a rebuild from scratch, with
      no merge history, an id a destination or a spreadsheet still holds resolves all the same. -#}
with recursive identity_merge_events as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_merge_events') }}
),

identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

merges as (
    select retired_profile_id, surviving_profile_id, recorded_at
    from identity_merge_events
    where event_type = 'merged'
),

{#- read twice each: not materialized, so PostgreSQL plans each read over the table itself -#}
registry as {{ cte_not_materialized() }} (
    select node_key, profile_id from identity_profile_registry where profile_id is not null
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

recorded as {{ cte_not_materialized() }} (
    select retired_profile_id, survivor_profile_id, retired_at, hops as merges_followed,
           'merge_history' as evidence
    from (
        select *, row_number() over (partition by retired_profile_id order by hops desc) as position
        from chains
    ) as ranked
    where position = 1
),

{#- Each identifier's would-be id, kept when exactly one profile holds the identifiers that give it
    and it is neither retired by a recorded merge nor a live profile id: one grouping over the three
    sets, no joins (a join planned from the estimate of a grouped filter became a nested loop over
    hundreds of thousands of rows on PostgreSQL). -#}
derived as (
    select retired_profile_id, min(survivor_profile_id) as survivor_profile_id
    from (
        select 'prf_' || substr(md5(node_key), 1, 24) as retired_profile_id, profile_id as survivor_profile_id,
               0 as taken
        from registry
        union all
        select retired_profile_id, cast(null as {{ dbt.type_string() }}), 1 from recorded
        union all
        select profile_id, cast(null as {{ dbt.type_string() }}), 1 from registry
    ) as candidates
    group by retired_profile_id
    -- one survivor: min = max over the non-null ones (a distinct count would hash every value)
    having min(survivor_profile_id) = max(survivor_profile_id) and max(taken) = 0
),

final as (
    select
        retired_profile_id, survivor_profile_id, cast(retired_at as {{ type_timestamptz() }}) as retired_at,
        cast(merges_followed as bigint) as merges_followed, evidence
    from recorded
    union all
    select retired_profile_id, survivor_profile_id, cast(null as {{ type_timestamptz() }}), cast(null as bigint),
           'derived_from_identifier'
    from derived
)

select * from final
