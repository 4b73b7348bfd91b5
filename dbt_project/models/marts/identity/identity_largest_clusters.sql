{#- The 25 largest profiles with their identifiers counted by type: where blobs would show first. -#}
with identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

final as (
    select
        r.profile_id,
        count(*) as identifiers,
        {%- for t in ['user_id', 'crm_contact_id', 'email', 'phone', 'device_id', 'anonymous_id', 'order_id', 'opportunity_id'] %}
        count(case when r.identifier_type = {{ cdp_literal(t) }} then 1 end) as {{ t }}_count,
        {%- endfor %}
        min(r.profile_first_seen_at) as profile_first_seen_at
    from identity_profile_registry as r
    group by r.profile_id
    order by identifiers desc, r.profile_id asc
    limit 25
)

select * from final
