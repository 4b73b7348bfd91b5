{#- Models rebuilt per profile: only the profiles whose inputs changed since the last build.

    Such a model keeps, on each row, a fingerprint of everything its profile's rows were made from
    (`profile_inputs_hash`: how many input rows, and the XOR of a 64-bit hash of each one's key).
    Each run computes the fingerprints of the inputs as they are now; a pre-hook deletes the rows
    whose profile's fingerprint changed or whose profile is gone (merged into another, deleted), and
    the model's select rebuilds every profile that has no row under its current fingerprint: new
    events, a late event, a merge, a split and a new deletion request all change or remove a
    fingerprint. A run stopped between the two leaves profiles without rows, which the next run
    rebuilds. A changed rule rebuilds the whole table (`cdp.build_state.RULE_PARTS`).

    Spark's Parquet tables cannot delete rows: there the model is a table, rebuilt whole. -#}

{% macro cdp_profile_incremental_materialization() -%}
    {{ return(adapter.dispatch('cdp_profile_incremental_materialization', 'cdp')()) }}
{%- endmacro %}
{% macro default__cdp_profile_incremental_materialization() -%}{{ return('incremental') }}{%- endmacro %}
{% macro spark__cdp_profile_incremental_materialization() -%}{{ return('table') }}{%- endmacro %}

{#- A 64-bit hash of a text expression, as a signed or unsigned integer per engine (only ever compared
    with hashes made by the same engine). -#}
{% macro cdp_hash64(expression) -%}
    {{ return(adapter.dispatch('cdp_hash64', 'cdp')(expression)) }}
{%- endmacro %}
{% macro default__cdp_hash64(expression) -%} hash({{ expression }}) {%- endmacro %}
{% macro postgres__cdp_hash64(expression) -%} hashtextextended({{ expression }}, 0) {%- endmacro %}
{% macro spark__cdp_hash64(expression) -%} xxhash64({{ expression }}) {%- endmacro %}

{#- The fingerprint of a profile's input rows, an aggregate over them; `key` names each row uniquely. -#}
{% macro cdp_profile_inputs_hash(key) -%}
    cast(count(*) as {{ dbt.type_string() }}) || ':' || cast(bit_xor({{ cdp_hash64(key) }}) as {{ dbt.type_string() }})
{%- endmacro %}

{#- The work table holding a run's current fingerprints between the pre-hook and the model's select. -#}
{% macro cdp_profile_inputs_relation(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}__profile_inputs
{%- endmacro %}

{#- Pre-hooks of an incremental run: keep the current fingerprints that `fingerprints_sql` selects in
    the work table, and delete the rows of `relation` whose (profile_id, profile_inputs_hash) is not
    among them. Nothing on a first build or a full refresh (the select computes the fingerprints). -#}
{% macro cdp_delete_changed_profiles(relation, fingerprints_sql) -%}
    {%- set inputs = cdp_profile_inputs_relation(relation) -%}
    {%- if is_incremental() -%}
    drop table if exists {{ inputs }};
    create table {{ inputs }} {{ cdp_table_format() }} as {{ fingerprints_sql }};
    delete from {{ relation }} as kept
    where not exists (
        select 1 from {{ inputs }} as current_inputs
        where current_inputs.profile_id = kept.profile_id
          and current_inputs.profile_inputs_hash = kept.profile_inputs_hash
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: drop the work table (it names profiles). -#}
{% macro cdp_drop_profile_inputs(relation) -%}
    drop table if exists {{ cdp_profile_inputs_relation(relation) }}
{%- endmacro %}
