{#- Identity gate: the latest run may not merge far more profiles than the previous one. -#}
select run_at, merges, previous_run_merges, max_merges_allowed
from {{ ref('identity_health') }}
where run_at = (select max(h.run_at) from {{ ref('identity_health') }} as h)
  and merges > max_merges_allowed
