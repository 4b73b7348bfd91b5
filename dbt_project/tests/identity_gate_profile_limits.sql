{#- Identity gate: no profile may hold more identifiers of a type than its max_per_profile. -#}
select run_at, profiles_breaking_limits
from {{ ref('identity_health') }}
where run_at = (select max(h.run_at) from {{ ref('identity_health') }} as h)
  and profiles_breaking_limits > 0
