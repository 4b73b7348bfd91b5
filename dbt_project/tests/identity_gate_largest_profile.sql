{#- Identity gate: the latest run's largest profile must stay within gates.yml identity.largest_profile. -#}
select run_at, largest_profile_identifiers, max_cluster_size_allowed
from {{ ref('identity_health') }}
where run_at = (select max(h.run_at) from {{ ref('identity_health') }} as h)
  and largest_profile_identifiers > max_cluster_size_allowed
