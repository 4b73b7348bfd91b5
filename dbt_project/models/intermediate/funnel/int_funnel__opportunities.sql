{#- Every CRM opportunity (latest snapshot) with the profile it belongs to: the profile of the
    opportunity id in the identity graph, else of its contact. Deleted profiles are left out. -#}
select
    coalesce(po.profile_id, pc.profile_id) as profile_id,
    o.opportunity_id,
    o.contact_id,
    o.stage,
    o.amount,
    o.currency,
    o.created_at,
    o.closed_at,
    o.is_closed,
    o.is_won,
    o.updated_at
from {{ ref('stg_crm__opportunities') }} as o
left join {{ ref('identity_profile_registry') }} as po on po.node_key = 'opportunity_id:' || o.opportunity_id
left join {{ ref('identity_profile_registry') }} as pc on pc.node_key = 'crm_contact_id:' || o.contact_id
where coalesce(po.profile_id, pc.profile_id) is not null
  and coalesce(po.profile_id, pc.profile_id) not in (select profile_id from {{ ref('int_privacy__deleted_profiles') }})
