{#- Every identifier's cluster: the exact connected component of the allowed graph (edges the rules
    allow, minus identifiers cut by int_identity__protected_identifiers), computed in the warehouse by
    macro connected_components (O(log n) rounds, any graph shape).

    Then per-profile limits are enforced on whole clusters, since two user ids can also meet through
    a chain no single identifier sees: in a cluster holding more identifiers of a type than
    `max_per_profile` allows, the lowest-priority identifiers that bridge two or more higher-priority
    ones are cut and that cluster is recomputed, repeated until no cluster breaks a limit (at most
    var cdp__identity_max_repair_rounds times; what remains is reported by the identity health gate).

    Kept up to date rather than rebuilt: a run recomputes only the components that changed. Node ids
    are hashes of the identifiers (stable from run to run), and beside the table the run keeps the
    allowed edges before repair (`__allowed_state`) and the protected identifiers (`__protected_state`)
    it clustered. The next run compares the graph with them: an edge added or gone, an identifier new,
    gone, blocked, protected or seen again marks the component it was in before repair
    (`component_node_id`); those components and the new identifiers are clustered and repaired again
    from every edge between them, and every other row stays as it is. Repair only splits within a
    component before repair and an unchanged edge only joins identifiers of one such component, so
    the result is the same as clustering the whole graph (a full refresh). Spark's Parquet tables
    cannot delete rows: there the model is a table, clustered whole. Work tables live beside the
    model while it builds and are dropped after. -#}
-- depends_on: {{ ref('int_identity__edges') }}
{%- set work = this.schema ~ '.' ~ this.identifier ~ '__work' -%}
{%- set allowed_state = this.schema ~ '.' ~ this.identifier ~ '__allowed_state' -%}
{%- set protected_state = this.schema ~ '.' ~ this.identifier ~ '__protected_state' -%}
{%- set keeps_state = cdp_profile_incremental_materialization() == 'incremental' -%}
{#- hooks are rendered when they run (this.schema is known then); one statement per hook: Spark runs a
    single statement at a time -#}
{%- set named = "{{ this.schema }}.{{ this.identifier }}__" -%}
{%- set post_hooks = [] -%}
{%- if keeps_state -%}
    {%- do post_hooks.extend(["drop table if exists " ~ named ~ "allowed_state",
                              "alter table " ~ named ~ "work_allowed_all rename to {{ this.identifier }}__allowed_state",
                              "drop table if exists " ~ named ~ "protected_state",
                              "create table " ~ named ~ "protected_state as select node_id, rule, detail from "
                              ~ "{{ ref('int_identity__protected_identifiers') }}"]) -%}
{%- endif -%}
{%- for suffix in ['allowed_all', 'allowed', 'nodes', 'changed', 'removed', 'assign', 'cuts', 'cc_labels', 'violations', 'repair_labels'] -%}
    {%- do post_hooks.append("drop table if exists " ~ named ~ "work_" ~ suffix) -%}
{%- endfor %}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='delete+insert',
          unique_key='node_key', on_schema_change='append_new_columns',
          pre_hook=["{% if is_incremental() %}delete from {{ this }} where node_key in (select r.node_key from "
                    ~ named ~ "work_removed as r){% else %}select 1{% endif %}"],
          post_hook=post_hooks) }}
{%- set identifiers = ref('int_identity__identifiers') -%}
{%- set protected_model = ref('int_identity__protected_identifiers') -%}
{%- set types = ref('identity_identifier_types') -%}
{%- set state = namespace(rounds=0, repairs=0, incremental=false) -%}
{%- if execute -%}
    {#- a run clusters only what changed when the last one left its state and every node id is a hash
        (a collided id, numbered per run, is not stable: then everything is clustered) -#}
    {%- if is_incremental() and keeps_state
           and adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier ~ '__allowed_state') is not none
           and adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier ~ '__protected_state') is not none
           and 'component_node_id' in adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- set state.incremental = cdp_scalar("select count(*) from " ~ identifiers ~ " where node_id < 0") == 0
                                    and cdp_scalar("select count(*) from " ~ this ~ " where node_id < 0") == 0 -%}
    {%- endif -%}
    {%- set protected = "(select node_id from " ~ protected_model ~ ")" -%}
    {#- every allowed edge before repair, once, smaller id first: what the next run compares with -#}
    {%- do cdp_replace_table(work ~ '_allowed_all', "select distinct least(e.left_node_id, e.right_node_id) as u, greatest(e.left_node_id, e.right_node_id) as v from "
        ~ ref('int_identity__edges') ~ " as e where e.is_allowed and e.left_node_id <> e.right_node_id and e.left_node_id not in " ~ protected
        ~ " and e.right_node_id not in " ~ protected) -%}
    {%- if state.incremental -%}
        {#- one full outer join per pair of tables (an EXCEPT each way would read both twice) -#}
        {%- set node_columns = ['node_key', 'identifier_type', 'identifier', 'type_priority', 'first_seen_at', 'last_seen_at',
                                'is_blocked', 'blocked_reason'] -%}
        {%- set changed_sql -%}
            select coalesce(n.node_id, t.node_id) as node_id
            from {{ identifiers }} as n
            full outer join {{ this }} as t on t.node_id = n.node_id
            where n.node_id is null or t.node_id is null
            {%- for c in node_columns %} or n.{{ c }} is distinct from t.{{ c }}{% endfor %}
            union
            select coalesce(p.node_id, s.node_id)
            from {{ protected_model }} as p
            full outer join {{ protected_state }} as s on s.node_id = p.node_id
            where p.node_id is null or s.node_id is null or p.rule is distinct from s.rule or p.detail is distinct from s.detail
            union
            select case when k.side = 1 then d.u else d.v end
            from (
                select coalesce(a.u, s.u) as u, coalesce(a.v, s.v) as v
                from {{ work }}_allowed_all as a
                full outer join {{ allowed_state }} as s on s.u = a.u and s.v = a.v
                where a.u is null or s.u is null
            ) as d
            cross join (select 1 as side union all select 2) as k
        {%- endset -%}
        {%- do cdp_replace_table(work ~ '_changed', changed_sql) -%}
        {#- the nodes to cluster again: every node of a component before repair that holds a change,
            and the new ones -#}
        {%- do cdp_replace_table(work ~ '_nodes', "select n.node_id from " ~ identifiers ~ " as n left join " ~ this
            ~ " as t on t.node_id = n.node_id where t.node_id is null or t.component_node_id in (select p.component_node_id from "
            ~ this ~ " as p inner join " ~ work ~ "_changed as c on c.node_id = p.node_id)") -%}
        {%- do cdp_replace_table(work ~ '_removed', "select t.node_key from " ~ this ~ " as t where t.node_id not in (select n.node_id from "
            ~ identifiers ~ " as n)") -%}
        {%- do cdp_replace_table(work ~ '_allowed', "select e.u, e.v from " ~ work ~ "_allowed_all as e where e.u in (select node_id from "
            ~ work ~ "_nodes) and e.v in (select node_id from " ~ work ~ "_nodes)") -%}
    {%- else -%}
        {%- do cdp_replace_table(work ~ '_nodes', "select node_id from " ~ identifiers) -%}
        {%- do cdp_replace_table(work ~ '_removed', "select node_key from " ~ (this if is_incremental() else identifiers ~ " where 1 = 0")) -%}
        {%- do cdp_replace_table(work ~ '_allowed', "select u, v from " ~ work ~ "_allowed_all") -%}
    {%- endif -%}
    {%- set state.rounds = connected_components("select u, v from " ~ work ~ "_allowed", work ~ "_cc") -%}
    {%- do cdp_replace_table(work ~ '_assign', "select n.node_id, coalesce(l.label, n.node_id) as cluster_node_id, coalesce(l.label, n.node_id) as component_node_id from "
        ~ work ~ "_nodes as n left join " ~ work ~ "_cc_labels as l on l.node = n.node_id") -%}
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
            ~ work ~ "_violations) then coalesce(l.label, a.node_id) else a.cluster_node_id end as cluster_node_id, a.component_node_id from "
            ~ work ~ "_assign as a left join " ~ work ~ "_repair_labels as l on l.node = a.node_id") -%}
    {%- endfor -%}
{%- endif %}

with int_identity__identifiers as {{ cte_not_materialized() }} (
    select * from {{ identifiers }}
),

int_identity__protected_identifiers as {{ cte_not_materialized() }} (
    select * from {{ protected_model }}
),

{#- the work tables the statements above wrote: the nodes clustered in this run -#}
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
        a.component_node_id,
        case when p.node_id is not null then p.rule when c.node_id is not null then 'profile_limit' end as protection_rule,
        coalesce(p.detail, c.detail) as protection_detail,
        {{ state.rounds }} as resolution_rounds,
        {{ state.repairs }} as repair_rounds,
        {{ cdp_run_started_at() }} as _built_at
    from int_identity__identifiers as n
    inner join assignments as a on a.node_id = n.node_id
    left join int_identity__protected_identifiers as p on p.node_id = n.node_id
    left join cuts as c on c.node_id = n.node_id
)

select * from final
