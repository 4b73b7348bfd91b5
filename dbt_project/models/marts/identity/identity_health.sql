{#- Identity health, one row per run (history kept; never rebuilt): graph size, profile sizes,
    merges, splits and protections this run, blocked values, unreadable emails and phones dropped,
    clustering rounds, and accuracy
    against planted truth when there is some. The identity gate (dbt tests on this model, blocking)
    fails the run when the largest profile passes gates.yml identity.largest_profile, when a
    profile still breaks a per-profile limit, or when merges jump above
    gates.yml identity.merge_jump's multiple of the previous run's (and its floor). -#}
{{ config(materialized='incremental', full_refresh=false, on_schema_change='append_new_columns') }}
{%- set run_at = cdp_run_started_at() %}

with int_identity__clusters as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__clusters') }}
),

identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

identity_identifier_types as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_identifier_types') }}
),

identity_merge_events as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_merge_events') }}
),

int_identity__event_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__event_profiles') }}
),

stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

stg_crm__contacts as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_crm__contacts') }}
),

identity_blocked_identifiers as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_blocked_identifiers') }}
),

int_identity__edges as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__edges') }}
),

identity_protection_events as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_protection_events') }}
),

identity_accuracy as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_accuracy') }}
),

clusters as (
    select * from int_identity__clusters
),

profile_sizes as (
    select profile_id, count(*) as identifiers from identity_profile_registry group by profile_id
),

limit_breaks as (
    select count(*) as profiles
    from (
        select r.profile_id
        from identity_profile_registry as r
        inner join identity_identifier_types as t on t.identifier_type = r.identifier_type
        where t.max_per_profile is not null
        group by r.profile_id, r.identifier_type
        having count(*) > max(t.max_per_profile)
    ) as broken
),

this_run_events as (
    select
        count(case when event_type = 'merged' then 1 end) as merges,
        count(case when event_type = 'split' then 1 end) as splits
    from identity_merge_events
    where recorded_at = {{ run_at }}
),

event_resolution as (
    select count(*) as events, count(profile_id) as events_resolved
    from int_identity__event_profiles
),

dropped as (
    select
        sum(case when email_is_invalid then 1 else 0 end) as invalid_emails,
        sum(case when phone_is_invalid then 1 else 0 end) as invalid_phones,
        sum(case when email is not null or email_is_invalid then 1 else 0 end)
            + sum(case when phone_e164 is not null or phone_is_invalid then 1 else 0 end) as given
    from (
        select email, email_is_invalid, phone_e164, phone_is_invalid from stg_segment__events
        union all
        select email, email_is_invalid, phone_e164, phone_is_invalid from stg_crm__contacts
    ) as records
),

previous as (
    {% if is_incremental() -%}
    select max(merges) as merges
    from {{ this }}
    where run_at = (select max(h.run_at) from {{ this }} as h where h.run_at < {{ run_at }})
    {%- else -%}
    select cast(null as bigint) as merges
    {%- endif %}
),

final as (
    select
        {{ run_at }} as run_at,
        (select count(*) from clusters) as identifiers,
        (select count(*) from clusters as c where c.is_blocked) as blocked_identifiers,
        (select cast(coalesce(sum(b.observations), 0) as bigint) from identity_blocked_identifiers as b)
            as blocked_observations,
        (select count(*) from int_identity__edges) as edges,
        (select count(*) from int_identity__edges as e where e.is_allowed) as allowed_edges,
        (select count(*) from profile_sizes) as profiles,
        (select max(s.identifiers) from profile_sizes as s) as largest_profile_identifiers,
        (select count(*) from profile_sizes as s where s.identifiers = 1) as single_identifier_profiles,
        -- this run's clustering: the rows it built (every row on a full build, the changed components otherwise)
        (select max(c.resolution_rounds) from clusters as c
         where c._built_at = (select max(b._built_at) from clusters as b)) as resolution_rounds,
        (select max(c.repair_rounds) from clusters as c
         where c._built_at = (select max(b._built_at) from clusters as b)) as repair_rounds,
        cast(coalesce(d.invalid_emails, 0) as bigint) as invalid_email_records,
        cast(coalesce(d.invalid_phones, 0) as bigint) as invalid_phone_records,
        cast(coalesce(d.given, 0) as bigint) as email_or_phone_records,
        cast(coalesce(d.invalid_emails, 0) + coalesce(d.invalid_phones, 0) as {{ type_double() }}) / nullif(d.given, 0)
            as dropped_identifier_share,
        (select lb.profiles from limit_breaks as lb) as profiles_breaking_limits,
        (select count(*) from clusters as c where c.protection_rule = 'shared_value') as shared_value_protections,
        (select count(*) from clusters as c where c.protection_rule = 'profile_limit') as profile_limit_protections,
        (select count(*) from identity_protection_events as pe where pe.recorded_at = {{ run_at }}) as new_protections,
        m.merges,
        m.splits,
        p.merges as previous_run_merges,
        r.events,
        r.events_resolved,
        a.pairwise_precision,
        a.pairwise_recall,
        a.pairwise_recall_strict,
        {{ cdp_gate('largest_profile', 'max_identifiers') }} as max_cluster_size_allowed,
        greatest({{ cdp_gate('merge_jump', 'floor') }}, cast(floor(
            {{ cdp_gate('merge_jump', 'max_multiple_of_previous') }} * coalesce(p.merges, 0)) as {{ dbt.type_bigint() }}))
            as max_merges_allowed
    from this_run_events as m
    cross join previous as p
    cross join event_resolution as r
    cross join identity_accuracy as a
    cross join dropped as d
)

select * from final
