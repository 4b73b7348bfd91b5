{#- Every identifier (a node of the identity graph) once, with an integer node id, when it was first
    and last seen, its type's rules (seed identity_identifier_types) and whether it is blocked: an
    exact placeholder from seed blocked_identifiers or a full match of a pattern from seed
    blocked_identifier_patterns (type `any` applies to every type). Blocked identifiers link nothing.
    node_id is an internal number for the clustering: a hash of node_key (cdp_hash_id), so the ids
    need no sort of every identifier; the rare identifiers whose hashes collide are numbered -1, -2, ..
    in node_key order instead. node_key is the identifier's durable name. -#}
-- depends_on: {{ ref('blocked_identifier_patterns') }}
{%- set blocked_patterns = cdp_compile_time_rows("select identifier_type, pattern, reason from "
                                             ~ cdp_seed_relation('blocked_identifier_patterns') ~ " order by identifier_type, pattern") %}

with int_identity__pairs as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__pairs') }}
),

blocked_identifiers as {{ cte_not_materialized() }} (
    select * from {{ ref('blocked_identifiers') }}
),

identity_identifier_types as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_identifier_types') }}
),

endpoints as (
    select left_type as identifier_type, left_value as identifier, first_seen_at, last_seen_at, observations
    from int_identity__pairs
    union all
    select right_type, right_value, first_seen_at, last_seen_at, observations
    from int_identity__pairs
    where rule <> 'seen'
),

nodes as (
    select
        identifier_type,
        identifier,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        sum(observations) as observations
    from endpoints
    group by identifier_type, identifier
),

exact_blocks as (
    select n.identifier_type, n.identifier, min(b.reason) as reason
    from nodes as n
    inner join blocked_identifiers as b
        on b.identifier_type = n.identifier_type and b.identifier = lower(trim(n.identifier))
    group by n.identifier_type, n.identifier
),

checked as (
    {#- patterns are written into the SQL as constants, so each regular expression compiles once -#}
    select
        n.*,
        coalesce(e.reason, case when 1 = 0 then cast(null as {{ dbt.type_string() }})
            {%- for p in blocked_patterns %}
            when {% if p[0] != 'any' %}n.identifier_type = {{ cdp_literal(p[0]) }} and {% endif -%}
                 {{ cdp_regex_full_match('lower(n.identifier)', cdp_literal(p[1])) }}
                then {{ cdp_literal(p[2]) }}
            {%- endfor %}
        end) as blocked_reason
    from nodes as n
    left join exact_blocks as e on e.identifier_type = n.identifier_type and e.identifier = n.identifier
),

hashed as (
    select c.*, {{ cdp_hash_id("c.identifier_type || ':' || c.identifier") }} as hashed_id
    from checked as c
),

collided as (
    select hashed_id from hashed group by hashed_id having count(*) > 1
),

numbered as (
    select h.*, h.hashed_id as node_id
    from hashed as h
    where h.hashed_id not in (select x.hashed_id from collided as x)
    union all
    select h.*, -row_number() over (order by h.identifier_type, h.identifier)
    from hashed as h
    where h.hashed_id in (select x.hashed_id from collided as x)
),

final as (
    select
        c.node_id,
        c.identifier_type || ':' || c.identifier as node_key,
        c.identifier_type,
        c.identifier,
        c.first_seen_at,
        c.last_seen_at,
        c.observations,
        t.priority as type_priority,
        coalesce(t.may_link, false) as type_may_link,
        c.blocked_reason is not null as is_blocked,
        c.blocked_reason
    from numbered as c
    left join identity_identifier_types as t on t.identifier_type = c.identifier_type
)

select * from final
