{#- One row per resolved person: the profile id every other table uses, identifiers by type,
    activity, channels, consent and latest traits. Profiles with a deletion request on any of their
    identifiers are left out (privacy by default). What the profile's own data decides comes from
    int_profiles__attributes (rebuilt per changed profile); lifecycle stage and lead score, which move
    with the as-of moment, from the funnel marts (fct_funnel_profiles, lead_scores); the propensity to
    convert from the propensity step (marts.profile_propensity). -#}

with int_profiles__attributes as {{ cte_not_materialized() }} (
    select * from {{ ref('int_profiles__attributes') }}
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

final as (
    select
        a.profile_id,
        a.user_id,
        a.email,
        a.email_sha256,
        a.phone_e164,
        a.phone_sha256,
        a.crm_contact_id,
        a.identifier_count,
        a.user_id_count,
        a.crm_contact_id_count,
        a.email_count,
        a.phone_count,
        a.device_id_count,
        a.anonymous_id_count,
        a.profile_first_seen_at,
        a.first_seen_at,
        a.last_seen_at,
        a.event_count,
        a.touchpoint_count,
        a.session_count,
        a.channels_seen,
        a.first_touch_channel,
        a.last_touch_channel,
        a.order_count,
        a.order_revenue,
        l.current_stage as lifecycle_stage,
        l.current_stage_entered_at as lifecycle_stage_entered_at,
        cast(coalesce(sc.lead_score, 0) as decimal(38, 2)) as lead_score,
        cast(coalesce(sc.fit_score, 0) as decimal(38, 2)) as fit_score,
        cast(coalesce(sc.engagement_score, 0) as decimal(38, 2)) as engagement_score,
        a.email_marketing_consent,
        a.sms_consent,
        a.ads_targeting_consent,
        a.analytics_consent,
        a.email_marketing_consent_record_id,
        a.sms_consent_record_id,
        a.ads_targeting_consent_record_id,
        a.analytics_consent_record_id,
        a.first_name,
        a.last_name,
        a.company,
        a.job_title,
        a.country,
        a.industry,
        a.company_size,
        pp.propensity_score,
        pp.propensity_decile
    from int_profiles__attributes as a
    left join fct_funnel_profiles as l on l.profile_id = a.profile_id
    left join lead_scores as sc on sc.profile_id = a.profile_id
    left join propensity_profile_propensity as pp on pp.profile_id = a.profile_id
)

select * from final
