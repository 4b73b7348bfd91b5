{#- Per profile, everything dim_profiles shows that the profile's own data decides: identifiers by
    type, activity and touches (int_profiles__activity), consent and latest traits
    (int_profiles__traits). What moves with the as-of moment (lifecycle stage, lead score, propensity)
    is joined on in dim_profiles. Profiles with a deletion request have no row.

    Rebuilt per profile (macros/cross_db/profile_incremental.sql): a run recomputes the changed
    profiles, with the profiles of CRM rows and consent records staged since the last build and of
    identifiers clustered again since (their first and last seen) among them. -#}
-- depends_on: {{ ref('identity_profile_assignments') }}, {{ ref('int_identity__event_profiles') }}, {{ ref('stg_crm__contacts') }}, {{ ref('stg_crm__opportunity_snapshots') }}
{{ config(materialized=cdp_profile_incremental_materialization(), incremental_strategy='append',
          on_schema_change='fail',
          pre_hook="{{ cdp_delete_changed_profiles(this, ['crm', 'consent', 'clusters']) }}",
          post_hook="{{ cdp_drop_changed_profiles(this) }}") }}

with stg_segment__events as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_segment__events') }}
),

identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

int_identity__clusters as {{ cte_not_materialized() }} (
    select * from {{ ref('int_identity__clusters') }}
),

int_profiles__activity as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__activity') }}
),

stg_consent__records as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_consent__records') }}
),

int_profiles__traits as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__traits') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

registry as (
    select profile_id, identifier_type, identifier, node_key, profile_first_seen_at
    from identity_profile_registry
    {%- if is_incremental() %}
    where profile_id in (select c.profile_id from {{ cdp_changed_profiles_relation(this) }} as c)
    {%- endif %}
),

identifiers as (
    select
        r.profile_id,
        min(r.profile_first_seen_at) as profile_first_seen_at,
        count(*) as identifier_count,
        {%- for t in ['user_id', 'crm_contact_id', 'email', 'phone', 'device_id', 'anonymous_id'] %}
        count(case when r.identifier_type = {{ cdp_literal(t) }} then 1 end) as {{ t }}_count,
        {{ cdp_latest("case when r.identifier_type = '" ~ t ~ "' then r.identifier end", 'c.last_seen_at') }} as latest_{{ t }},
        {%- endfor %}
        min(c.first_seen_at) as identifiers_first_seen_at,
        max(c.last_seen_at) as identifiers_last_seen_at
    from registry as r
    inner join int_identity__clusters as c on c.node_key = r.node_key
    group by r.profile_id
),

consent_records as (
    select
        identifier_type, identifier, purpose, status, recorded_at, consent_record_id,
        identifier_type || ':' || case when identifier_type = 'email' then {{ identity_email_key('identifier') }}
                                       else identifier end as node_key
    from stg_consent__records
    where identifier is not null
),

consent_latest as (
    {#- each identifier's latest status per purpose (a revocation wins a tie) -#}
    select node_key, purpose, status, recorded_at, consent_record_id
    from (
        select
            node_key, identifier_type, identifier, purpose, status, recorded_at, consent_record_id,
            row_number() over (partition by identifier_type, identifier, purpose
                               order by recorded_at desc, status desc) as recency
        from consent_records
        {%- if is_incremental() %}
        where node_key in (select r.node_key from registry as r)
        {%- endif %}
    ) as ranked
    where recency = 1
),

consent as (
    {#- per profile and purpose: revoked if any identifier's latest says so, else granted if any does -#}
    select
        r.profile_id,
        {%- for purpose in ['email_marketing', 'sms', 'ads_targeting', 'analytics'] %}
        case when count(case when k.purpose = {{ cdp_literal(purpose) }} and k.status = 'revoked' then 1 end) > 0 then 'revoked'
             when count(case when k.purpose = {{ cdp_literal(purpose) }} and k.status = 'granted' then 1 end) > 0 then 'granted'
             else 'unknown' end as {{ purpose }}_consent,
        {#- the record that decided it: the latest revocation, else the latest grant (the proof a sync logs) -#}
        coalesce(
            {{ cdp_latest("case when k.purpose = '" ~ purpose ~ "' and k.status = 'revoked' then k.consent_record_id end",
                          "case when k.purpose = '" ~ purpose ~ "' and k.status = 'revoked' then k.recorded_at end") }},
            {{ cdp_latest("case when k.purpose = '" ~ purpose ~ "' and k.status = 'granted' then k.consent_record_id end",
                          "case when k.purpose = '" ~ purpose ~ "' and k.status = 'granted' then k.recorded_at end") }}
        ) as {{ purpose }}_consent_record_id{% if not loop.last %},{% endif %}
        {%- endfor %}
    from consent_latest as k
    inner join registry as r on r.node_key = k.node_key
    group by r.profile_id
),

final as (
    select
        i.profile_id,
        i.latest_user_id as user_id,
        i.latest_email as email,
        {{ sha256_hex('i.latest_email') }} as email_sha256,
        i.latest_phone as phone_e164,
        {{ sha256_hex('i.latest_phone') }} as phone_sha256,
        i.latest_crm_contact_id as crm_contact_id,
        i.identifier_count,
        i.user_id_count,
        i.crm_contact_id_count,
        i.email_count,
        i.phone_count,
        i.device_id_count,
        i.anonymous_id_count,
        i.profile_first_seen_at,
        least(i.identifiers_first_seen_at, coalesce(a.first_event_at, i.identifiers_first_seen_at)) as first_seen_at,
        greatest(i.identifiers_last_seen_at, coalesce(a.last_event_at, i.identifiers_last_seen_at)) as last_seen_at,
        coalesce(a.event_count, 0) as event_count,
        coalesce(a.touchpoint_count, 0) as touchpoint_count,
        coalesce(a.session_count, 0) as session_count,
        a.channels_seen,
        a.first_touch_channel,
        a.last_touch_channel,
        coalesce(a.order_count, 0) as order_count,
        cast(coalesce(a.order_revenue, 0) as decimal(38, 2)) as order_revenue,
        coalesce(k.email_marketing_consent, 'unknown') as email_marketing_consent,
        coalesce(k.sms_consent, 'unknown') as sms_consent,
        coalesce(k.ads_targeting_consent, 'unknown') as ads_targeting_consent,
        coalesce(k.analytics_consent, 'unknown') as analytics_consent,
        k.email_marketing_consent_record_id,
        k.sms_consent_record_id,
        k.ads_targeting_consent_record_id,
        k.analytics_consent_record_id,
        t.first_name,
        t.last_name,
        t.company,
        t.job_title,
        t.country,
        t.industry,
        t.company_size,
        {{ cdp_profile_build_columns('stg_segment__events') }},
        {{ cdp_records_loaded_through(['crm', 'consent']) }}
    from identifiers as i
    left join int_profiles__activity as a on a.profile_id = i.profile_id
    left join consent as k on k.profile_id = i.profile_id
    left join int_profiles__traits as t on t.profile_id = i.profile_id
    where i.profile_id not in (select d.profile_id from int_privacy__deleted_profiles as d)
)

select * from final
