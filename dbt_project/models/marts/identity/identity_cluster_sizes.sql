{#- Distribution of profile sizes (identifiers per profile), for spotting blobs at a glance. People
    with a deletion request are left out: the erasure removes them from the registry after the build,
    and the distribution must be what a rebuild without them gives. -#}
with identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

int_privacy__deleted_profiles as {{ cte_not_materialized() }} (
    select * from {{ ref('int_privacy__deleted_profiles') }}
),

sizes as (
    select r.profile_id, count(*) as identifiers
    from identity_profile_registry as r
    where r.profile_id not in (select d.profile_id from int_privacy__deleted_profiles as d)
    group by r.profile_id
),

bucketed as (
    select
        case when identifiers <= 5 then cast(identifiers as {{ dbt.type_string() }})
             when identifiers <= 10 then '6-10'
             when identifiers <= 20 then '11-20'
             when identifiers <= 50 then '21-50'
             when identifiers <= 100 then '51-100'
             else '101+' end as size_bucket,
        case when identifiers <= 5 then identifiers
             when identifiers <= 10 then 6
             when identifiers <= 20 then 11
             when identifiers <= 50 then 21
             when identifiers <= 100 then 51
             else 101 end as bucket_floor,
        identifiers
    from sizes
),

final as (
    select
        size_bucket,
        bucket_floor,
        count(*) as profiles,
        cast(sum(identifiers) as bigint) as identifiers,
        max(identifiers) as largest
    from bucketed
    group by size_bucket, bucket_floor
)

select * from final
