{#- Every identifier's cluster: the exact connected component of the allowed graph (edges the rules
    allow, minus identifiers cut by int_identity__protected_identifiers), computed in the warehouse by
    macro connected_components (O(log n) rounds, any graph shape).

    Then per-profile limits are enforced on whole clusters, since two user ids can also meet through
    a chain no single identifier sees: in a cluster holding more identifiers of a type than
    `max_per_profile` allows, the lowest-priority identifiers that bridge two or more higher-priority
    ones are cut and that cluster is recomputed, repeated until no cluster breaks a limit (at most
    var cdp__identity_max_repair_rounds times; what remains is reported by the identity health gate).
    Work tables live beside the model while it builds and are dropped after. -#}
-- depends_on: {{ ref('int_identity__edges') }}
{%- set work = this.schema ~ '.' ~ this.identifier ~ '__work' -%}
{#- one statement per hook: Spark runs a single statement at a time -#}
{{ config(post_hook=["drop table if exists {{ this.schema }}.{{ this.identifier }}__work_allowed",
                     "drop table if exists {{ this.schema }}.{{ this.identifier }}__work_assign",
                     "drop table if exists {{ this.schema }}.{{ this.identifier }}__work_cuts",
                     "drop table if exists {{ this.schema }}.{{ this.identifier }}__work_cc_labels",
                     "drop table if exists {{ this.schema }}.{{ this.identifier }}__work_violations",
                     "drop table if exists {{ this.schema }}.{{ this.identifier }}__work_repair_labels"]) }}
{%- set identifiers = ref('int_identity__identifiers') -%}
{%- set types = ref('identity_identifier_types') -%}
{%- set state = namespace(rounds=0, repairs=0) -%}
{%- if execute -%}
    {%- set protected = "(select node_id from " ~ ref('int_identity__protected_identifiers') ~ ")" -%}
    {%- do cdp_replace_table(work ~ '_allowed', "select e.left_node_id as u, e.right_node_id as v from " ~ ref('int_identity__edges')
        ~ " as e where e.is_allowed and e.left_node_id not in " ~ protected ~ " and e.right_node_id not in " ~ protected) -%}
    {%- set state.rounds = connected_components("select u, v from " ~ work ~ "_allowed", work ~ "_cc") -%}
    {%- do cdp_replace_table(work ~ '_assign', "select n.node_id, coalesce(l.label, n.node_id) as cluster_node_id from "
        ~ identifiers ~ " as n left join " ~ work ~ "_cc_labels as l on l.node = n.node_id") -%}
    {%- do cdp_replace_table(work ~ '_cuts', "select node_id, cast('' as " ~ dbt.type_string() ~ ") as detail from " ~ identifiers ~ " where 1 = 0") -%}
    {%- for repair in range(var('cdp__identity_max_repair_rounds', 5)) -%}
        {%- set violations = cdp_replace_table(work ~ '_violations',
            "select a.cluster_node_id, min(i.identifier_type) as identifier_type, max(t.max_per_profile) as max_per_profile, count(*) as holding"
            ~ " from " ~ work ~ "_assign as a inner join " ~ identifiers ~ " as i on i.node_id = a.node_id"
            ~ " inner join " ~ types ~ " as t on t.identifier_type = i.identifier_type"
            ~ " where t.max_per_profile is not null and not i.is_blocked"
            ~ " group by a.cluster_node_id, i.identifier_type having count(*) > max(t.max_per_profile)") -%}
        {%- if violations == 0 -%}{%- break -%}{%- endif -%}
        {%- set cut_sql -%}
            with both_ways as (
                select u as node_id, v as neighbour_id from {{ work }}_allowed
                union all
                select v, u from {{ work }}_allowed
            ),
            bridges as (
                select a.node_id, a.cluster_node_id, i.type_priority, count(distinct m.node_id) as higher
                from {{ work }}_assign as a
                inner join (select distinct cluster_node_id from {{ work }}_violations) as v
                    on v.cluster_node_id = a.cluster_node_id
                inner join both_ways as b on b.node_id = a.node_id
                inner join {{ identifiers }} as i on i.node_id = a.node_id
                inner join {{ identifiers }} as m on m.node_id = b.neighbour_id
                where m.type_priority < i.type_priority
                group by a.node_id, a.cluster_node_id, i.type_priority
                having count(distinct m.node_id) >= 2
            ),
            lowest as (
                select cluster_node_id, max(type_priority) as type_priority from bridges group by cluster_node_id
            )
            select b.node_id,
                   'cluster would hold ' || cast(v.holding as {{ dbt.type_string() }}) || ' ' || v.identifier_type
                   || ' values; a profile holds at most ' || cast(v.max_per_profile as {{ dbt.type_string() }}) as detail
            from bridges as b
            inner join lowest as l on l.cluster_node_id = b.cluster_node_id and l.type_priority = b.type_priority
            inner join (select cluster_node_id, min(identifier_type) as identifier_type, max(holding) as holding,
                               min(max_per_profile) as max_per_profile
                        from {{ work }}_violations group by cluster_node_id) as v on v.cluster_node_id = b.cluster_node_id
        {%- endset -%}
        {%- set new_cuts = cdp_replace_table(work ~ '_new_cuts', cut_sql) -%}
        {%- if new_cuts == 0 -%}
            {% do run_query("drop table " ~ work ~ "_new_cuts") %}
            {%- break -%}
        {%- endif -%}
        {%- set state.repairs = state.repairs + 1 -%}
        {#- every step rewrites its table (create-table-as-select), the one write Spark's Parquet tables
            allow besides appending: no UPDATE or DELETE on any engine -#}
        {%- do cdp_replace_table(work ~ '_cuts', "select node_id, detail from " ~ work ~ "_cuts union all select node_id, detail from "
            ~ work ~ "_new_cuts") -%}
        {%- do cdp_replace_table(work ~ '_allowed', "select u, v from " ~ work ~ "_allowed where u not in (select node_id from "
            ~ work ~ "_new_cuts) and v not in (select node_id from " ~ work ~ "_new_cuts)") -%}
        {% do run_query("drop table " ~ work ~ "_new_cuts") %}
        {%- do connected_components("select e.u, e.v from " ~ work ~ "_allowed as e inner join " ~ work ~ "_assign as a on a.node_id = e.u"
            ~ " where a.cluster_node_id in (select cluster_node_id from " ~ work ~ "_violations)", work ~ "_repair") -%}
        {%- do cdp_replace_table(work ~ '_assign', "select a.node_id, case when a.cluster_node_id in (select cluster_node_id from "
            ~ work ~ "_violations) then coalesce(l.label, a.node_id) else a.cluster_node_id end as cluster_node_id from "
            ~ work ~ "_assign as a left join " ~ work ~ "_repair_labels as l on l.node = a.node_id") -%}
    {%- endfor -%}
{%- endif %}

with int_identity__identifiers as {{ cte_not_materialized() }} (
    select * from {{ identifiers }}
),

int_identity__protected_identifiers as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__protected_identifiers') }}
),

{#- the work tables the statements above wrote -#}
assignments as {{ cte_not_materialized() }} (
    select * from {{ work }}_assign
),

cuts as {{ cte_not_materialized() }} (
    select * from {{ work }}_cuts
),

final as (
    select
        n.node_id,
        n.node_key,
        n.identifier_type,
        n.identifier,
        n.type_priority,
        n.first_seen_at,
        n.last_seen_at,
        n.is_blocked,
        n.blocked_reason,
        a.cluster_node_id,
        case when p.node_id is not null then p.rule when c.node_id is not null then 'profile_limit' end as protection_rule,
        coalesce(p.detail, c.detail) as protection_detail,
        {{ state.rounds }} as resolution_rounds,
        {{ state.repairs }} as repair_rounds
    from int_identity__identifiers as n
    inner join assignments as a on a.node_id = n.node_id
    left join int_identity__protected_identifiers as p on p.node_id = n.node_id
    left join cuts as c on c.node_id = n.node_id
)

select * from final
