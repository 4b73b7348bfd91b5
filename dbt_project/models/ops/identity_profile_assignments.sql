{#- Every assignment of an identifier to a profile, appended run by run (durable state: never rebuilt
    by --full-refresh); an identifier's latest row is where it belongs now (ops.identity_profile_registry).
    Appending is the one write every engine does alike (Spark's Parquet tables have no delete or merge).
    Blocked identifiers belong to no profile.

    A cluster keeps the profile id its identifiers already had. When a cluster holds identifiers of
    several earlier profiles (a merge), the profile first seen earliest survives and the others are
    retired (ops.identity_merge_events, marts.canonical_id_aliases). A cluster with no earlier
    profile gets a new id derived from its earliest identifier, 'prf_' + 24 hex digits of its MD5, so
    a rebuild from scratch over the same data gives the same ids as the incremental path. When a
    protection splits an earlier profile, the part holding its earliest identifier keeps the id.
    Each run appends only the rows that are new or changed, and looks only at the identifiers
    int_identity__clusters clustered since the latest assignment (the components that changed). -#}
{{ config(materialized='incremental', incremental_strategy='append', full_refresh=false,
          on_schema_change='append_new_columns') }}
{#- A warehouse from before this table kept the state in ops.identity_profile_registry itself (one row
    per identifier): the first run here continues from it, so no profile id changes. -#}
{%- set legacy = none if is_incremental() else cdp_legacy_registry() -%}
{%- set has_previous = is_incremental() or legacy is not none -%}

with int_identity__clusters as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__clusters') }}
),

clusters as (
    select node_key, identifier_type, identifier, first_seen_at, cluster_node_id
    from int_identity__clusters
    where not is_blocked
    {%- if is_incremental() %}
      {#- only the identifiers clustered after the latest assignment (the clustering of that run was
          assigned then): the clustering keeps every other component as it was, so their identifiers
          keep their profile (a component holds all the identifiers of any profile it had, so no claim
          below reaches outside these). A run whose clustering changed no profile leaves its rows to
          be looked at again next time, which changes nothing. #}
      and _built_at > (select coalesce(max(t.assigned_at), cast('1900-01-01' as timestamp)) from {{ this }} as t)
    {%- endif %}
),

anchors as (
    {#- a cluster's earliest identifier names a new profile -#}
    select cluster_node_id, 'prf_' || substr(md5(node_key), 1, 24) as new_profile_id,
           first_seen_at as cluster_first_seen_at
    from (
        select
            cluster_node_id, node_key, first_seen_at,
            row_number() over (partition by cluster_node_id order by first_seen_at, node_key) as position
        from clusters
    ) as ranked
    where position = 1
),

{% if has_previous %}
previous as (
    {#- where each identifier belongs before this run: its latest assignment -#}
    {%- if is_incremental() %}
    select node_key, profile_id, profile_first_seen_at
    from (
        select node_key, profile_id, profile_first_seen_at,
               row_number() over (partition by node_key order by assigned_at desc) as recency
        from {{ this }}
        where node_key in (select c.node_key from clusters as c)
    ) as ranked
    where recency = 1
    {%- else %}
    select node_key, profile_id, profile_first_seen_at from {{ legacy }}
    {%- endif %}
),

with_previous as (
    {#- each identifier with the profile it had before this run (one join, used twice) -#}
    select c.*, p.profile_id as previous_profile_id, p.profile_first_seen_at as previous_first_seen_at
    from clusters as c
    left join previous as p on p.node_key = c.node_key
),

claims as (
    {#- each earlier profile present in a cluster, with its earliest identifier there -#}
    select
        cluster_node_id,
        previous_profile_id as profile_id,
        min(previous_first_seen_at) as profile_first_seen_at,
        min(first_seen_at) as claim_first_seen_at,
        min(node_key) as claim_key
    from with_previous
    where previous_profile_id is not null
    group by cluster_node_id, previous_profile_id
),

kept_claims as (
    {#- a profile split over several clusters stays with the cluster holding its earliest identifier -#}
    select *
    from (
        select
            *,
            row_number() over (partition by profile_id order by claim_first_seen_at, claim_key) as keep_rank
        from claims
    ) as ranked
    where keep_rank = 1
),

survivors as (
    {#- of the profiles a cluster keeps, the one first seen earliest survives -#}
    select cluster_node_id, profile_id, profile_first_seen_at
    from (
        select
            *,
            row_number() over (partition by cluster_node_id order by profile_first_seen_at, profile_id) as survive_rank
        from kept_claims
    ) as ranked
    where survive_rank = 1
),
{% endif %}

assigned as (
    select
        c.node_key,
        c.identifier_type,
        c.identifier,
        {% if has_previous -%}
        coalesce(s.profile_id, a.new_profile_id) as profile_id,
        coalesce(s.profile_first_seen_at, a.cluster_first_seen_at) as profile_first_seen_at,
        c.previous_profile_id,
        case
            when c.previous_profile_id is null then 'new'
            when c.previous_profile_id = coalesce(s.profile_id, '') then 'kept'
            when k.profile_id is not null then 'merged'
            else 'split'
        end as assignment
        {%- else -%}
        a.new_profile_id as profile_id,
        a.cluster_first_seen_at as profile_first_seen_at,
        cast(null as {{ dbt.type_string() }}) as previous_profile_id,
        'new' as assignment
        {%- endif %}
    {% if has_previous -%}
    from with_previous as c
    inner join anchors as a on a.cluster_node_id = c.cluster_node_id
    left join survivors as s on s.cluster_node_id = c.cluster_node_id
    left join kept_claims as k on k.profile_id = c.previous_profile_id and k.cluster_node_id = c.cluster_node_id
    {%- else -%}
    from clusters as c
    inner join anchors as a on a.cluster_node_id = c.cluster_node_id
    {%- endif %}
),

final as (
    select
        node_key,
        identifier_type,
        identifier,
        profile_id,
        profile_first_seen_at,
        previous_profile_id,
        assignment,
        {{ cdp_run_started_at() }} as assigned_at
    from assigned
    {% if has_previous -%}
    where assignment <> 'kept'
    {%- endif %}
    {%- if legacy is not none %}
    union all
    {# the first run over an older warehouse carries its state over: every row this run does not change #}
    select node_key, identifier_type, identifier, profile_id, profile_first_seen_at, previous_profile_id, assignment,
           assigned_at
    from {{ legacy }} as l
    where not exists (select 1 from assigned as a where a.node_key = l.node_key and a.assignment <> 'kept')
    {%- endif %}
)

select * from final
