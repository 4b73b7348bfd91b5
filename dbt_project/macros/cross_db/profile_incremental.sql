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

{#- The profiles whose rows in `relation` may be out of date (see the top of this file). A model that
    also reads other staged records names them in `records`, and carries a column saying how far each
    was loaded when it was built (cdp_records_loaded_through):
    - 'crm': CRM contacts and opportunity snapshots staged since (traits, fit score, CRM conversions);
    - 'consent': consent records staged since;
    - 'clusters': identifiers clustered again since the model's last build (first and last seen);
    - 'as_of': every profile of the table when the as-of moment went back since its last build (an
      erasure removed the latest records): rows that read only records up to the as-of moment are
      otherwise up to date, as every record staged before the last build was at or before it then. -#}
{% macro cdp_changed_profiles(relation, records=[]) -%}
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
    {%- for kind in records if kind != 'as_of' %}
    {%- set since = "(select coalesce(max(b._" ~ kind ~ "_loaded_through), cast('1900-01-01' as " ~ type_timestamptz()
                    ~ ")) from " ~ relation ~ " as b)" %}
    union
    select r.profile_id
    from {{ ref('identity_profile_registry') }} as r
    {%- if kind == 'crm' %}
    inner join (
        select contact_id from {{ ref('stg_crm__contacts') }} where _loaded_at > {{ since }}
        union
        select contact_id from {{ ref('stg_crm__opportunity_snapshots') }} where _loaded_at > {{ since }}
    ) as c on c.contact_id = r.identifier
    where r.identifier_type = 'crm_contact_id' and r.profile_id is not null
    {%- elif kind == 'consent' %}
    inner join {{ ref('stg_consent__records') }} as k
        on r.node_key = k.identifier_type || ':' || case when k.identifier_type = 'email'
                                                         then {{ identity_email_key('k.identifier') }}
                                                         else k.identifier end
    where k._loaded_at > {{ since }} and r.profile_id is not null
    {%- elif kind == 'clusters' %}
    inner join {{ ref('int_identity__clusters') }} as c on c.node_key = r.node_key
    where c._built_at > {{ built }} and r.profile_id is not null
    {%- else %}
    {{ exceptions.raise_compiler_error("cdp_changed_profiles: unknown records '" ~ kind ~ "' (crm, consent, clusters or as_of)") }}
    {%- endif %}
    {%- endfor %}
    {%- if 'as_of' in records %}
    union
    select b.profile_id from {{ relation }} as b
    where {{ cdp_as_of() }} < (select max(m._as_of) from {{ relation }} as m)
    {%- endif %}
{%- endmacro %}

{#- The columns saying how far the `records` of cdp_changed_profiles (crm, consent) were loaded when a
    row was built: _crm_loaded_through, _consent_loaded_through; and for 'as_of' the as-of moment then. -#}
{% macro cdp_records_loaded_through(records) -%}
    {%- for kind in records if kind in ('crm', 'consent', 'as_of') %}
    {%- if not loop.first %},{% endif %}
    {%- if kind == 'as_of' %}
    {{ cdp_as_of() }} as _as_of
    {%- else %}
    (select max(x.loaded_at) from (
        {%- if kind == 'crm' %}
        select _loaded_at as loaded_at from {{ ref('stg_crm__contacts') }}
        union all
        select _loaded_at from {{ ref('stg_crm__opportunity_snapshots') }}
        {%- else %}
        select _loaded_at as loaded_at from {{ ref('stg_consent__records') }}
        {%- endif %}
    ) as x) as _{{ kind }}_loaded_through
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- Pre-hooks of an incremental run: keep the changed profiles in the work table and delete their
    rows from `relation`. Nothing on a first build or a full refresh (every profile is built). -#}
{% macro cdp_delete_changed_profiles(relation, records=[]) -%}
    {%- set changed = cdp_changed_profiles_relation(relation) -%}
    {%- if is_incremental() -%}
    drop table if exists {{ changed }};
    create table {{ changed }} {{ cdp_table_format() }} as {{ cdp_changed_profiles(relation, records) }};
    delete from {{ relation }} where profile_id in (select c.profile_id from {{ changed }} as c)
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: drop the work table (it names profiles). -#}
{% macro cdp_drop_changed_profiles(relation) -%}
    drop table if exists {{ cdp_changed_profiles_relation(relation) }}
{%- endmacro %}
