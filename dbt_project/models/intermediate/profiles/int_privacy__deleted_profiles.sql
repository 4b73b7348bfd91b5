{#- Profiles with a deletion request on any of their identifiers. Every mart about people leaves
    them out (privacy by default), so they are decided once, here. -#}
select distinct r.profile_id
from {{ ref('stg_privacy__deletion_requests') }} as d
inner join {{ ref('identity_profile_registry') }} as r
    on r.node_key = d.identifier_type || ':' || case when d.identifier_type = 'email'
                                                     then {{ identity_email_key('d.identifier') }}
                                                     else d.identifier end
