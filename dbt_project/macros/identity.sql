{#- Identity resolution helpers: identifier keys, and exact connected components in set-based SQL. -#}

{#- The email as an identity key. With var cdp__identity_gmail_dots_insensitive (off by default),
    Gmail and Googlemail addresses drop dots and a +tag in the local part, as Google does. -#}
{% macro identity_email_key(email) -%}
    {%- if var('cdp__identity_gmail_dots_insensitive', false) -%}
    case when split_part({{ email }}, '@', 2) in ('gmail.com', 'googlemail.com')
         then replace(split_part(split_part({{ email }}, '@', 1), '+', 1), '.', '') || '@gmail.com'
         else {{ email }} end
    {%- else -%}
    {{ email }}
    {%- endif -%}
{%- endmacro %}

{#- The value of `value` on the row where `order_by` is smallest, within a group, among the rows where
    neither is null (as DuckDB's arg_min). A tie on `order_by` goes to the smallest value, so a rebuild
    gives the same answer whatever order the rows arrive in. cdp_first_value keeps a null first value. -#}
{% macro cdp_arg_min(value, order_by) -%}
    {{ return(adapter.dispatch('cdp_arg_min', 'cdp')(value, order_by)) }}
{%- endmacro %}
{% macro default__cdp_arg_min(value, order_by) -%}
    (array_agg({{ value }} order by {{ order_by }}, {{ value }})
        filter (where {{ value }} is not null and {{ order_by }} is not null))[1]
{%- endmacro %}
{% macro duckdb__cdp_arg_min(value, order_by) -%}
    first({{ value }} order by {{ order_by }}, {{ value }}) filter (where {{ value }} is not null and {{ order_by }} is not null)
{%- endmacro %}
{% macro spark__cdp_arg_min(value, order_by) -%}
    min_by({{ value }}, struct({{ order_by }}, {{ value }})) filter (where {{ value }} is not null and {{ order_by }} is not null)
{%- endmacro %}

{#- Replace table `name` with the result of `sql`, which may read `name` itself; returns the number
    of rows written. DuckDB does it in one statement (create or replace); elsewhere: create a new
    table, drop the old one, rename. -#}
{% macro cdp_replace_table(name, sql) -%}
    {{ return(adapter.dispatch('cdp_replace_table', 'cdp')(name, sql)) }}
{%- endmacro %}
{% macro default__cdp_replace_table(name, sql) -%}
    {%- set short = name.split('.')[-1] -%}
    {% do run_query('drop table if exists ' ~ name ~ '__next') %}
    {% do run_query('create table ' ~ name ~ '__next ' ~ cdp_table_format() ~ ' as ' ~ sql) %}
    {% do run_query('drop table if exists ' ~ name) %}
    {% do run_query('alter table ' ~ name ~ '__next rename to ' ~ short) %}
    {{ return(cdp_scalar('select count(*) from ' ~ name)) }}
{%- endmacro %}
{% macro duckdb__cdp_replace_table(name, sql) -%}
    {#- CREATE TABLE AS answers with the number of rows it wrote -#}
    {{ return(run_query('create or replace table ' ~ name ~ ' as ' ~ sql).columns[0].values()[0]) }}
{%- endmacro %}


{#- This dbt invocation's start as a SQL timestamp: the run id that identity history is keyed on. -#}
{% macro cdp_run_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- Rows of `sql`, run while dbt compiles the model (rules from seeds become constants in the SQL);
    empty while dbt only parses the project. -#}
{% macro cdp_compile_time_rows(sql) -%}
    {{ return(run_query(sql).rows if execute else []) }}
{%- endmacro %}

{% macro cdp_scalar(sql) -%}
    {{ return(run_query(sql).columns[0].values()[0]) }}
{%- endmacro %}

{#- Exact connected components of an undirected graph, in set-based SQL.

    `edges_sql` selects integer node ids as columns u and v. Leaves the table `<work>_labels`
    (node, label) where label is the smallest node id of the node's component; nodes without edges
    are not in it. Returns the number of rounds.

    Each round every tree (all nodes sharing a label) hooks onto the smallest label among the trees
    it touches, the hooks are compressed by pointer jumping (so a chain of hooks of length k takes
    log2(k) steps), and the edge list is contracted to edges between the new trees. A chain of n
    nodes therefore resolves in O(log n) rounds whatever the order of its ids, where min-label
    propagation would need n rounds. Runs on any adapter with create table as, joins and group by;
    engines with native graph support can override it through adapter.dispatch. -#}
{% macro connected_components(edges_sql, work) -%}
    {{ return(adapter.dispatch('connected_components', 'cdp')(edges_sql, work)) }}
{%- endmacro %}

{% macro default__connected_components(edges_sql, work) -%}
    {%- set edges, labels, hooks = work ~ '_edges', work ~ '_labels', work ~ '_hooks' -%}
    {%- set state = namespace(rounds=0, edges=0) -%}
    {%- set state.edges = cdp_replace_table(edges, "select distinct case when u < v then u else v end as u, case when u < v then v else u end as v from (" ~ edges_sql ~ ") as g where u <> v") -%}
    {%- do cdp_replace_table(labels, "select u as node, u as label from " ~ edges ~ " union select v, v from " ~ edges) -%}
    {%- for round in range(1000) -%}
        {%- if state.edges == 0 -%}{%- break -%}{%- endif -%}
        {%- set state.rounds = state.rounds + 1 -%}
        {#- edges holds label pairs (roots of trees); each tree hooks onto its smallest neighbour -#}
        {%- do cdp_replace_table(hooks, "select v as r, min(u) as m from " ~ edges ~ " group by v") -%}
        {%- for jump in range(64) -%}
            {%- if cdp_scalar("select count(*) from " ~ hooks ~ " as h inner join " ~ hooks ~ " as g on g.r = h.m") == 0 -%}{%- break -%}{%- endif -%}
            {%- do cdp_replace_table(hooks, "select h.r, coalesce(g.m, h.m) as m from " ~ hooks ~ " as h left join " ~ hooks ~ " as g on g.r = h.m") -%}
        {%- endfor -%}
        {%- do cdp_replace_table(labels, "select l.node, coalesce(h.m, l.label) as label from " ~ labels ~ " as l left join " ~ hooks ~ " as h on h.r = l.label") -%}
        {%- set state.edges = cdp_replace_table(edges, "select distinct case when a < b then a else b end as u, case when a < b then b else a end as v from (select coalesce(hu.m, e.u) as a, coalesce(hv.m, e.v) as b from " ~ edges ~ " as e left join " ~ hooks ~ " as hu on hu.r = e.u left join " ~ hooks ~ " as hv on hv.r = e.v) as c where a <> b") -%}
    {%- endfor -%}
    {% do run_query('drop table if exists ' ~ edges) %}
    {% do run_query('drop table if exists ' ~ hooks) %}
    {{ return(state.rounds) }}
{%- endmacro %}

{#- Rows of the Parquet files matching `glob` (the generator's ground truth), on the engines that read
    files (DuckDB, Spark); cdp_reads_parquet() says whether this one does. -#}
{% macro cdp_read_parquet(glob) -%}
    {{ return(adapter.dispatch('cdp_read_parquet', 'cdp')(glob)) }}
{%- endmacro %}
{% macro default__cdp_read_parquet(glob) -%}
    {{ exceptions.raise_compiler_error("Reading Parquet files is not possible on " ~ target.type) }}
{%- endmacro %}
{% macro duckdb__cdp_read_parquet(glob) -%} read_parquet({{ cdp_literal(glob) }}) {%- endmacro %}
{% macro spark__cdp_read_parquet(glob) -%} parquet.`{{ glob | replace('`', '``') }}` {%- endmacro %}

{% macro cdp_reads_parquet() -%}
    {{ return(adapter.dispatch('cdp_reads_parquet', 'cdp')()) }}
{%- endmacro %}
{% macro default__cdp_reads_parquet() -%} {{ return(false) }} {%- endmacro %}
{% macro duckdb__cdp_reads_parquet() -%} {{ return(true) }} {%- endmacro %}
{% macro spark__cdp_reads_parquet() -%} {{ return(true) }} {%- endmacro %}

{#- The value of `value` on the row where `order_by` is largest, among the rows where neither is null.
    A tie on `order_by` goes to the smallest value, as in cdp_arg_min (deterministic). -#}
{% macro cdp_latest(value, order_by) -%}
    {{ return(adapter.dispatch('cdp_latest', 'cdp')(value, order_by)) }}
{%- endmacro %}
{% macro default__cdp_latest(value, order_by) -%}
    (array_agg({{ value }} order by {{ order_by }} desc, {{ value }})
        filter (where {{ value }} is not null and {{ order_by }} is not null))[1]
{%- endmacro %}
{% macro duckdb__cdp_latest(value, order_by) -%}
    first({{ value }} order by {{ order_by }} desc, {{ value }}) filter (where {{ value }} is not null and {{ order_by }} is not null)
{%- endmacro %}
{% macro spark__cdp_latest(value, order_by) -%}
    {#- max_by would give the largest value on a tie: sort (key descending, value ascending) instead -#}
    try_element_at(array_sort(
        collect_list(named_struct('k', {{ order_by }}, 'v', {{ value }}))
            filter (where {{ value }} is not null and {{ order_by }} is not null),
        (l, r) -> case when l.k > r.k then -1 when l.k < r.k then 1
                       when l.v < r.v then -1 when l.v > r.v then 1 else 0 end), 1).v
{%- endmacro %}

{#- Operation: connected components of any edge table, for checking the algorithm or resolving a
    graph by hand. `dbt run-operation run_connected_components --args '{edges_sql: "select u, v
    from my.edges", work: "my.cc"}'` leaves my.cc_labels (node, label) and my.cc_rounds (rounds). -#}
{% macro run_connected_components(edges_sql, work) -%}
    {%- set rounds = connected_components(edges_sql, work) -%}
    {%- do cdp_replace_table(work ~ '_rounds', 'select ' ~ rounds ~ ' as rounds') -%}
    {{ log('connected components: ' ~ rounds ~ ' rounds; labels in ' ~ work ~ '_labels', info=true) }}
{%- endmacro %}

{#- ops.identity_profile_registry as an earlier version kept it (an incremental table holding the state,
    without ops.identity_profile_assignments beside it), or none. -#}
{% macro cdp_legacy_registry() -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set registry = adapter.get_relation(database=this.database, schema=this.schema,
                                            identifier='identity_profile_registry') -%}
    {{ return(registry) }}
{%- endmacro %}
