{#- Every identifier (a node of the identity graph) once, with an integer node id, when it was first
    and last seen, its type's rules (seed identity_identifier_types) and whether it is blocked: an
    exact placeholder from seed blocked_identifiers or a full match of a pattern from seed
    blocked_identifier_patterns (type `any` applies to every type). Blocked identifiers link nothing. -#}
-- depends_on: {{ ref('blocked_identifier_patterns') }}
{%- set blocked_patterns = [] -%}
{%- if execute -%}
    {%- set blocked_patterns = run_query("select identifier_type, pattern, reason from " ~ ref('blocked_identifier_patterns')
                                         ~ " order by identifier_type, pattern").rows -%}
{%- endif %}

with endpoints as (
    select left_type as identifier_type, left_value as identifier, left_key as node_key,
           first_seen_at, last_seen_at, observations
    from {{ ref('int_identity__pairs') }}
    union all
    select right_type, right_value, right_key, first_seen_at, last_seen_at, observations
    from {{ ref('int_identity__pairs') }}
    where rule <> 'seen'
),

nodes as (
    select
        node_key,
        min(identifier_type) as identifier_type,
        min(identifier) as identifier,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        sum(observations) as observations
    from endpoints
    group by node_key
),

exact_blocks as (
    select n.node_key, min(b.reason) as reason
    from nodes as n
    inner join {{ ref('blocked_identifiers') }} as b
        on b.identifier_type = n.identifier_type and b.identifier = lower(trim(n.identifier))
    group by n.node_key
),

pattern_blocks as (
    {#- patterns are written into the SQL as constants, so each regular expression compiles once -#}
    select node_key, reason
    from (
        select
            node_key,
            case when 1 = 0 then cast(null as varchar)
            {%- for p in blocked_patterns %}
                when {% if p[0] != 'any' %}identifier_type = '{{ p[0] }}' and {% endif -%}
                     {{ cdp_regex_full_match('lower(identifier)', "'" ~ p[1] | replace("'", "''") ~ "'") }}
                    then '{{ p[2] | replace("'", "''") }}'
            {%- endfor %}
            end as reason
        from nodes
    ) as matched
    where reason is not null
)

select
    row_number() over (order by n.node_key) as node_id,
    n.node_key,
    n.identifier_type,
    n.identifier,
    n.first_seen_at,
    n.last_seen_at,
    n.observations,
    t.priority as type_priority,
    coalesce(t.may_link, false) as type_may_link,
    coalesce(e.reason, p.reason) is not null as is_blocked,
    coalesce(e.reason, p.reason) as blocked_reason
from nodes as n
left join {{ ref('identity_identifier_types') }} as t on t.identifier_type = n.identifier_type
left join exact_blocks as e on e.node_key = n.node_key
left join pattern_blocks as p on p.node_key = n.node_key
