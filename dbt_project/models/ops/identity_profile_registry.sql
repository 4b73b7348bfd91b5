{#- Which profile every identifier belongs to now: each identifier's latest row of
    ops.identity_profile_assignments (new, merged or split, with the profile it had before), which is
    the durable state. A table, not a view: most of the identity and profile models read it.

    Kept up to date rather than rebuilt: a run replaces the rows of the identifiers assigned since the
    latest assignment it holds (the assignments are appended run by run, so nothing older can
    change). Spark's Parquet tables cannot delete rows: there it is rebuilt whole. -#}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='delete+insert',
          unique_key='node_key', on_schema_change='fail') }}
with identity_profile_assignments as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_assignments') }}
),

assignments as (
    select * from identity_profile_assignments
    {%- if is_incremental() %}
    where node_key in (
        select node_key from identity_profile_assignments
        where assigned_at > (select coalesce(max(r.assigned_at), cast('1900-01-01' as timestamp)) from {{ this }} as r)
    )
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (partition by node_key order by assigned_at desc) as recency
    from assignments
),

final as (
    select node_key, identifier_type, identifier, profile_id, profile_first_seen_at, previous_profile_id, assignment,
           assigned_at
    from ranked
    where recency = 1
)

select * from final
