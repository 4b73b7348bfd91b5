{#- Every identifier of every profile (long form): what marts.dim_profiles summarises per type. -#}
select
    r.profile_id,
    c.identifier_type,
    c.identifier,
    c.node_key,
    c.first_seen_at,
    c.last_seen_at,
    c.protection_rule,
    r.assigned_at
from {{ ref('identity_profile_registry') }} as r
inner join {{ ref('int_identity__clusters') }} as c on c.node_key = r.node_key
