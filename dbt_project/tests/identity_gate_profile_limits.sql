{#- Identity gate: no profile may hold more identifiers of a type than its max_per_profile. -#}
select run_at, profiles_breaking_limits
from {{ ref('identity_health') }}
where run_at = (select max(run_at) from {{ ref('identity_health') }})
  and profiles_breaking_limits > 0
