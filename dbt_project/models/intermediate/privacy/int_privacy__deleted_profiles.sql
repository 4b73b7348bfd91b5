{#- Profiles with a deletion request on any of their identifiers, with the (earliest) request that
    covers them. Every mart about people leaves them out (privacy by default); the reverse-ETL engine
    sends deletes for them and the erasure step removes them from raw, staging and every layer.

    A person already erased stays erased when their data arrives again: a cluster whose stable id is
    one the erasure removed is the same person (the id comes from one of their identifiers, see
    identity_profile_assignments), even when the new records carry none of the identifiers the
    request named (a request by email, then events signed in with their user id), as Segment's
    delete-and-suppress does. -#}
with stg_privacy__deletion_requests as {{ cte_not_materialized() }} (
    select * from {{ ref('stg_privacy__deletion_requests') }}
),

identity_profile_registry as {{ cte_not_materialized() }} (
    select * from {{ ref('identity_profile_registry') }}
),

ops_erased_profiles as {{ cte_not_materialized() }} (
    select * from {{ source('ops', 'erased_profiles') }}
),

requests as (
    select * from stg_privacy__deletion_requests
),

registry as (
    select * from identity_profile_registry
),

erased as (
    select * from ops_erased_profiles
),

requested as (
    select r.profile_id, d.request_id, d.requested_at
    from requests as d
    inner join registry as r
        on r.node_key = d.identifier_type || ':' || case when d.identifier_type = 'email'
                                                         then {{ identity_email_key('d.identifier') }}
                                                         else d.identifier end
),

returning_erased as (
    select distinct r.profile_id, e.request_id, d.requested_at
    from registry as r
    inner join erased as e on e.profile_id = r.profile_id
    left join requests as d on d.request_id = e.request_id
),

final as (
    select profile_id, min(request_id) as request_id, min(requested_at) as requested_at
    from (
        select * from requested
        union all
        select * from returning_erased
    ) as covered
    group by profile_id
)

select * from final
