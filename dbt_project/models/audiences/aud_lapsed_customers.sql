{#- Audience: lapsed customers, people with at least one completed order whose latest order is more
    than var('cdp__lapsed_after_days') days (default 120) before the as-of moment (cdp_as_of). For
    win-back email. -#}
/* depends_on: {{ ref('int_profiles__as_of') }} */
{%- set lapsed_days = var('cdp__lapsed_after_days') | int -%}
with fct_conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}
),

dim_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('dim_profiles') }}
),

orders as (
    select profile_id, count(*) as order_count, cast(sum(conversion_value_reporting) as decimal(38, 2)) as lifetime_revenue,
           max(converted_at) as last_order_at
    from fct_conversions
    where conversion_name = 'order_completed'
    group by profile_id
),

as_of as (
    select {{ cdp_as_of() }} as as_of
),

final as (
    select
        p.profile_id,
        p.email,
        p.email_sha256,
        p.phone_e164,
        p.first_name,
        p.last_name,
        p.country,
        o.order_count,
        o.lifetime_revenue,
        o.last_order_at,
        cast(floor({{ cdp_days_between('o.last_order_at', 'as_of.as_of') }}) as integer) as days_since_last_order
    from orders as o
    inner join dim_profiles as p on p.profile_id = o.profile_id
    cross join as_of
    where p.email is not null
      and o.last_order_at < {{ cdp_dateadd('day', -lapsed_days, 'as_of.as_of') }}
)

select * from final
