{#- Every profile in the lifecycle history has exactly one current stage, and it is its highest. -#}
select profile_id
from {{ ref('lifecycle_stage_history') }}
group by profile_id
having count(case when is_current_stage then 1 end) <> 1
    or max(stage_order) <> max(case when is_current_stage then stage_order end)
