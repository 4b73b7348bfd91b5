{#- Audience: likely converters, the people the propensity model ranks in decile
    var('cdp__propensity_audience_min_decile') (default 9) or above of those not yet converted,
    addressable by email: a predictive audience for nurture campaigns and ad lookalikes. Consent is
    enforced at sync time for the sync's purpose. -#}
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
        country,
        lifecycle_stage,
        lead_score,
        propensity_score,
        propensity_decile
    from dim_profiles
    where propensity_decile >= {{ var('cdp__propensity_audience_min_decile') | int }}
      and email is not null
)

select * from final
