{#- Which profile every identifier belongs to now: each identifier's latest row of
    ops.identity_profile_assignments (new, merged or split, with the profile it had before). Rebuilt
    every run from that history, which is the durable state. A table, not a view: most of the
    identity and profile models read it. -#}
{{ config(materialized='table') }}
with identity_profile_assignments as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_assignments') }}
),

assignments as (
    select * from identity_profile_assignments
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
