{#- Suppression list: people no sync may ever send, whatever audience they are in (reverse_etl/syncs.yml
    lists it under `suppression`). A person is suppressed by a rule of seed suppression_rules
    (match_kind email_domain, email or company; case-insensitive) or because they revoked every
    marketing purpose (email_marketing, sms and ads_targeting). One row per person, the first
    reason by rule id. -#}
with suppression_rules as {{ cte_not_materialized() }} (
    select * from {{ ref('suppression_rules') }}
),

dim_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('dim_profiles') }}
),

rules as (
    select rule_id, lower(trim(match_kind)) as match_kind, lower(trim(match_value)) as match_value, reason
    from suppression_rules
),

matches as (
    select p.profile_id, r.rule_id, r.reason
    from dim_profiles as p
    inner join rules as r
        on (r.match_kind = 'email_domain' and lower(split_part(p.email, '@', 2)) = r.match_value)
        or (r.match_kind = 'email' and lower(p.email) = r.match_value)
        or (r.match_kind = 'company' and lower(trim(p.company)) = r.match_value)
    union all
    select profile_id, 'revoked_all_marketing', 'Revoked consent for email marketing, SMS and ads targeting.'
    from dim_profiles
    where email_marketing_consent = 'revoked' and sms_consent = 'revoked' and ads_targeting_consent = 'revoked'
),

final as (
    select
        m.profile_id,
        p.email_sha256,
        p.phone_sha256,
        {{ cdp_first_value('m.rule_id', 'm.rule_id') }} as suppression_rule,
        {{ cdp_first_value('m.reason', 'm.rule_id') }} as suppression_reason
    from matches as m
    inner join dim_profiles as p on p.profile_id = m.profile_id
    group by m.profile_id, p.email_sha256, p.phone_sha256
)

select * from final
