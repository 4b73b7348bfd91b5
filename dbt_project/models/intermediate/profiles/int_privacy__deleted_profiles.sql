{#- Profiles with a deletion request on any of their identifiers, with the (earliest) request that
    covers them. Every mart about people leaves them out (privacy by default); the reverse-ETL engine
    sends deletes for them and the erasure step removes them from raw, staging and every layer. -#}
select
    r.profile_id,
    min(d.request_id) as request_id,
    min(d.requested_at) as requested_at
from {{ ref('stg_privacy__deletion_requests') }} as d
inner join {{ ref('identity_profile_registry') }} as r
    on r.node_key = d.identifier_type || ':' || case when d.identifier_type = 'email'
                                                     then {{ identity_email_key('d.identifier') }}
                                                     else d.identifier end
group by r.profile_id
