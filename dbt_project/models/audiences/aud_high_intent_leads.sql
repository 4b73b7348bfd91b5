{#- Audience: high-intent leads, people whose current lifecycle stage is var('cdp__high_intent_stage')
    (default mql: marketing qualified, not yet accepted by sales), addressable by email. For a CRM or
    sales-engagement sync. Consent is enforced at sync time for the sync's purpose. -#}
with dim_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('dim_profiles') }}
),

final as (
    select
        profile_id,
        email,
        email_sha256,
        phone_e164,
        first_name,
        last_name,
        company,
        job_title,
        country,
        cast(lead_score as decimal(38, 2)) as lead_score,
        cast(fit_score as decimal(38, 2)) as fit_score,
        cast(engagement_score as decimal(38, 2)) as engagement_score,
        lifecycle_stage,
        lifecycle_stage_entered_at
    from dim_profiles
    where lifecycle_stage = {{ cdp_literal(var("cdp__high_intent_stage")) }}
      and email is not null
)

select * from final
