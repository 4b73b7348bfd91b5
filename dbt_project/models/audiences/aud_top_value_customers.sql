{#- Audience: top-value customers, the top var('cdp__top_value_share') (default 10%) of paying
    customers by lifetime value (orders plus won deals, reporting currency), as a lookalike seed for ad
    platforms. Carries hashed identifiers; the ad-platform sync normalises and hashes again by the
    platform's own rules from the plain columns. -#}
with fct_conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}
),

dim_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('dim_profiles') }}
),

value as (
    select profile_id, cast(sum(conversion_value_reporting) as decimal(38, 2)) as lifetime_value
    from fct_conversions
    where is_revenue
    group by profile_id
    having sum(conversion_value_reporting) > 0
),

ranked as (
    select
        v.*,
        row_number() over (order by v.lifetime_value desc, v.profile_id asc) as value_rank,
        count(*) over () as paying_customers
    from value as v
    inner join dim_profiles as p on p.profile_id = v.profile_id
),

final as (
    select
        p.profile_id,
        p.email,
        p.email_sha256,
        p.phone_e164,
        p.phone_sha256,
        p.first_name,
        p.last_name,
        p.country,
        r.lifetime_value,
        cast(r.value_rank as bigint) as value_rank
    from ranked as r
    inner join dim_profiles as p on p.profile_id = r.profile_id
    where r.value_rank <= greatest(1, ceil(r.paying_customers * {{ var('cdp__top_value_share') }}))
      and (p.email is not null or p.phone_e164 is not null)
)

select * from final
