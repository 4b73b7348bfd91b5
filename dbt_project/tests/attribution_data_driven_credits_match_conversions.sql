{#- Invariant (blocking): every per-touch data-driven credit belongs to a conversion of
    marts.fct_conversions, with that conversion's profile and time (whose profiles are checked against
    marts.dim_profiles by marts_profile_ids_exist_in_profiles). Returns the rows that do not. -#}
{{ config(meta={'dagster': {'ref': {'name': 'attribution_data_driven_credits'}}}) }}
with credits as (
    select conversion_id, profile_id, converted_at from {{ ref('attribution_data_driven_credits') }}
    where conversion_id is not null
),

conversions as (
    select conversion_id, profile_id, converted_at from {{ ref('fct_conversions') }}
)

select k.*
from credits as k
left join conversions as c
    on c.conversion_id = k.conversion_id and c.profile_id = k.profile_id and c.converted_at = k.converted_at
where c.conversion_id is null
