{#- Merge history, appended each run (never rebuilt): when a cluster joined identifiers of two or
    more earlier profiles, one row per retired profile naming the survivor, when it happened, the
    identifier that joined them and the edge (rule, source row, time) that linked it. Splits (an
    earlier profile cut in two by a protection) are recorded too, as event_type 'split'. -#}
{{ config(materialized='incremental', full_refresh=false) }}

with identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

int_identity__clusters as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__clusters') }}
),

int_identity__edges as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__edges') }}
),

registry as (
    select * from identity_profile_registry
),

moved as (
    select node_key, previous_profile_id, profile_id, assignment
    from registry
    where assignment in ('merged', 'split')
      and assigned_at = {{ cdp_run_started_at() }}
),

events as (
    select
        previous_profile_id as retired_profile_id,
        profile_id as surviving_profile_id,
        assignment as event_type,
        count(*) as identifiers_moved
    from moved
    group by previous_profile_id, profile_id, assignment
),

clusters as (
    select node_id, node_key from int_identity__clusters
),

moved_nodes as (
    select m.*, c.node_id
    from moved as m
    inner join clusters as c on c.node_key = m.node_key
    where m.assignment = 'merged'
),

edge_ends as (
    {#- only edges touching a moved identifier (none in most runs) -#}
    select rule, left_node_id as node_id, right_node_id as other_id, first_seen_at, first_source, first_source_key
    from int_identity__edges
    where is_allowed and left_node_id in (select mn.node_id from moved_nodes as mn)
    union all
    select rule, right_node_id, left_node_id, first_seen_at, first_source, first_source_key
    from int_identity__edges
    where is_allowed and right_node_id in (select mn.node_id from moved_nodes as mn)
),

joining_edges as (
    {#- edges from an identifier of the retired profile to one of the survivor that was not -#}
    select
        m.previous_profile_id as retired_profile_id,
        m.profile_id as surviving_profile_id,
        oc.node_key as joined_by_identifier,
        m.node_key as joined_identifier,
        e.rule,
        e.first_seen_at,
        e.first_source,
        e.first_source_key,
        row_number() over (partition by m.previous_profile_id, m.profile_id
                           order by e.first_seen_at desc, oc.node_key asc, m.node_key asc) as position
    from moved_nodes as m
    inner join edge_ends as e on e.node_id = m.node_id
    inner join clusters as oc on oc.node_id = e.other_id
    inner join registry as o on o.node_key = oc.node_key and o.profile_id = m.profile_id
    where not exists (select 1 from moved as x
                      where x.node_key = oc.node_key and x.previous_profile_id = m.previous_profile_id)
),

final as (
    select
        {{ cdp_run_started_at() }} as recorded_at,
        v.event_type,
        v.retired_profile_id,
        v.surviving_profile_id,
        v.identifiers_moved,
        j.joined_by_identifier,
        j.joined_identifier,
        j.rule as joined_by_rule,
        j.first_source as joined_by_source,
        j.first_source_key as joined_by_source_key,
        j.first_seen_at as joined_at
    from events as v
    left join joining_edges as j
        on j.retired_profile_id = v.retired_profile_id and j.surviving_profile_id = v.surviving_profile_id
        and j.position = 1
)

select * from final
