{#- Models rebuilt per profile: only the profiles whose inputs changed since the model's last build.

    Such a model is a function of each profile's events (staging is append-only: an event never
    changes once staged), of which events belong to which profile (ops.identity_profile_assignments
    records every identifier that changed profile, with the profile it left), and of the deletion
    requests. So the profiles whose rows may differ from the last build are:
    - the profiles of the events staged since then (new ones, late ones);
    - both sides of every identifier that changed profile since then (merges, splits, new people);
    - every profile with a deletion request (their rows must not be there).
    Every row carries when it was built (`_built_at`, the dbt invocation's start, the clock of
    ops.identity_profile_assignments.assigned_at) and how far staging had loaded then
    (`_events_loaded_through`); the latest of each over the table is where the next run looks from. A
    pre-hook keeps the changed profiles in a work table and deletes their rows; the model's select
    rebuilds just those profiles, reading their events through a join on the work table rather than
    every event. Found without reading every event, so an increment costs what it adds. A run
    stopped between the two leaves those profiles without rows, and the next run, looking from the
    same point, rebuilds them. A changed rule rebuilds the whole table (`cdp.build_state.RULE_PARTS`).

    Spark's Parquet tables cannot delete rows: there the model is a table, rebuilt whole. -#}

{#- The materialization of a model kept up to date rather than rebuilt, per profile (above) or by key
    (delete+insert: the identity registry, the event profiles): incremental, but a table on Spark. -#}
{% macro cdp_profile_incremental_materialization() -%}
    {{ return(adapter.dispatch('cdp_profile_incremental_materialization', 'cdp')()) }}
{%- endmacro %}
{% macro default__cdp_profile_incremental_materialization() -%}{{ return('incremental') }}{%- endmacro %}
{% macro spark__cdp_profile_incremental_materialization() -%}{{ return('table') }}{%- endmacro %}

{#- The work table holding a run's changed profiles between the pre-hook and the model's select. -#}
{% macro cdp_changed_profiles_relation(relation) -%}
    {{ relation.schema }}.{{ relation.identifier }}__changed_profiles
{%- endmacro %}

{#- The two columns every per-profile model's rows carry, for the next run to look from. -#}
{% macro cdp_profile_build_columns(events) -%}
    {{ cdp_run_started_at() }} as _built_at,
    (select max(loaded._loaded_at) from {{ events }} as loaded) as _events_loaded_through
{%- endmacro %}

{#- The profiles whose rows in `relation` may be out of date (see the top of this file). -#}
{% macro cdp_changed_profiles(relation) -%}
    {%- set built = "(select coalesce(max(b._built_at), cast('1900-01-01' as timestamp)) from " ~ relation ~ " as b)" -%}
    {%- set loaded = "(select coalesce(max(b._events_loaded_through), cast('1900-01-01' as " ~ type_timestamptz() ~ ")) from "
                     ~ relation ~ " as b)" -%}
    select p.profile_id
    from {{ ref('stg_segment__events') }} as e
    inner join {{ ref('int_identity__event_profiles') }} as p on p.message_id = e.message_id
    where e._loaded_at > {{ loaded }} and p.profile_id is not null
    union
    select profile_id from {{ ref('identity_profile_assignments') }} where assigned_at > {{ built }}
    union
    select previous_profile_id from {{ ref('identity_profile_assignments') }}
    where assigned_at > {{ built }} and previous_profile_id is not null
    union
    select profile_id from {{ ref('int_privacy__deleted_profiles') }}
{%- endmacro %}

{#- Pre-hooks of an incremental run: keep the changed profiles in the work table and delete their
    rows from `relation`. Nothing on a first build or a full refresh (every profile is built). -#}
{% macro cdp_delete_changed_profiles(relation) -%}
    {%- set changed = cdp_changed_profiles_relation(relation) -%}
    {%- if is_incremental() -%}
    drop table if exists {{ changed }};
    create table {{ changed }} {{ cdp_table_format() }} as {{ cdp_changed_profiles(relation) }};
    delete from {{ relation }} where profile_id in (select c.profile_id from {{ changed }} as c)
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: drop the work table (it names profiles). -#}
{% macro cdp_drop_changed_profiles(relation) -%}
    drop table if exists {{ cdp_changed_profiles_relation(relation) }}
{%- endmacro %}
