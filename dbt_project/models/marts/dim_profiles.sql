{#- One row per resolved person: the profile id every other table uses, identifiers by type,
    activity, channels, consent and latest traits. Profiles with a deletion request on any of their
    identifiers are left out (privacy by default). Activity and touches come from
    int_profiles__activity (rebuilt per changed profile); lifecycle stage and lead score from the funnel
    marts (fct_funnel_profiles, lead_scores); traits from int_profiles__traits; the propensity to
    convert from the propensity step (marts.profile_propensity). -#}

with identity_profile_registry as {{ cte_not_materialized() }} (
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

fct_funnel_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_funnel_profiles') }}
),

lead_scores as {{ cte_not_materialized() }} (
    select * from {{ ref('lead_scores') }}
),

propensity_profile_propensity as {{ cte_not_materialized() }} (
    select * from {{ source('propensity', 'profile_propensity') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

registry as (
    select profile_id, identifier_type, identifier, node_key, profile_first_seen_at
    from identity_profile_registry
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

consent_latest as (
    {#- each identifier's latest status per purpose (a revocation wins a tie) -#}
    select identifier_type, identifier, purpose, status, recorded_at, consent_record_id
    from (
        select
            identifier_type, identifier, purpose, status, recorded_at, consent_record_id,
            row_number() over (partition by identifier_type, identifier, purpose
                               order by recorded_at desc, status desc) as recency
        from stg_consent__records
        where identifier is not null
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
    inner join registry as r
        on r.node_key = k.identifier_type || ':' || case when k.identifier_type = 'email'
                                                         then {{ identity_email_key('k.identifier') }}
                                                         else k.identifier end
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
        l.current_stage as lifecycle_stage,
        l.current_stage_entered_at as lifecycle_stage_entered_at,
        cast(coalesce(sc.lead_score, 0) as decimal(38, 2)) as lead_score,
        cast(coalesce(sc.fit_score, 0) as decimal(38, 2)) as fit_score,
        cast(coalesce(sc.engagement_score, 0) as decimal(38, 2)) as engagement_score,
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
        pp.propensity_score,
        pp.propensity_decile
    from identifiers as i
    left join int_profiles__activity as a on a.profile_id = i.profile_id
    left join consent as k on k.profile_id = i.profile_id
    left join int_profiles__traits as t on t.profile_id = i.profile_id
    left join fct_funnel_profiles as l on l.profile_id = i.profile_id
    left join lead_scores as sc on sc.profile_id = i.profile_id
    left join propensity_profile_propensity as pp on pp.profile_id = i.profile_id
    where i.profile_id not in (select d.profile_id from int_privacy__deleted_profiles as d)
)

select * from final
