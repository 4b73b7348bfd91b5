{#- Merge protection before clustering: identifiers that would join people who must stay apart are
    cut from the graph (they keep their own profile and link nothing). Two rules, both from seed
    identity_identifier_types:
    - shared_value: the identifier is linked to more than `max_shared_people` distinct values of one
      higher-priority type among its `shared_by_types` (the types that tell people apart; every
      higher-priority type when empty), i.e. to that many people (a family tablet, a group mailbox,
      a switchboard phone). Two values of a type that does not tell people apart (a person's two
      devices) never make it shared;
    - profile_limit: it is linked to more identifiers of one higher-priority type than a profile may
      hold (`max_per_profile`, e.g. two user ids): linking would break the limit, so the
      lower-priority identifier is cut. -#}
with int_identity__edges as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__edges') }}
),

int_identity__identifiers as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__identifiers') }}
),

identity_identifier_types as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_identifier_types') }}
),

higher_neighbours as (
    {#- per identifier and higher-priority neighbour type: how many distinct neighbours -#}
    select node_id, neighbour_type, count(*) as neighbours
    from (
        select left_node_id as node_id, right_type as neighbour_type, right_node_id as neighbour_id
        from int_identity__edges
        where is_allowed and right_priority < left_priority
        union
        select right_node_id, left_type, left_node_id
        from int_identity__edges
        where is_allowed and left_priority < right_priority
    ) as linked
    group by node_id, neighbour_type
),

shared_values as (
    select
        h.node_id,
        'shared_value' as rule,
        max(h.neighbours) as linked_identifiers,
        'shared by ' || cast(max(h.neighbours) as {{ dbt.type_string() }}) || ' values of one higher-priority type; at most '
            || cast(min(t.max_shared_people) as {{ dbt.type_string() }}) || ' allowed for ' || min(n.identifier_type) as detail
    from higher_neighbours as h
    inner join int_identity__identifiers as n on n.node_id = h.node_id
    inner join identity_identifier_types as t on t.identifier_type = n.identifier_type
    where t.max_shared_people is not null
      and (t.shared_by_types is null
           or '|' || t.shared_by_types || '|' like '%|' || h.neighbour_type || '|%')
    group by h.node_id
    having max(h.neighbours) > min(t.max_shared_people)
),

limit_breaks as (
    select
        h.node_id,
        'profile_limit' as rule,
        max(h.neighbours) as linked_identifiers,
        'linked to ' || cast(max(h.neighbours) as {{ dbt.type_string() }}) || ' ' || min(h.neighbour_type)
            || ' values; a profile holds at most ' || cast(min(t.max_per_profile) as {{ dbt.type_string() }}) as detail
    from higher_neighbours as h
    inner join identity_identifier_types as t on t.identifier_type = h.neighbour_type
    where t.max_per_profile is not null and h.neighbours > t.max_per_profile
    group by h.node_id
),

protected as (
    select * from limit_breaks
    union all
    select s.* from shared_values as s where not exists (select 1 from limit_breaks as l where l.node_id = s.node_id)
),

final as (
    select
        p.node_id,
        n.node_key,
        n.identifier_type,
        n.identifier,
        p.rule,
        p.linked_identifiers,
        p.detail
    from protected as p
    inner join int_identity__identifiers as n on n.node_id = p.node_id
)

select * from final
