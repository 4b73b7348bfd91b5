{#- Invariant (blocking): along the funnel, a later stage is never reached before an earlier one,
    and nobody reaches a stage without having reached (or passed over) every earlier one. -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_funnel_profiles'}}}) }}
-- depends_on: {{ ref('lifecycle_stages') }}
{%- set stages = cdp_rule_rows('lifecycle_stages', 'stage_order') | map(attribute='stage') | list %}
select profile_id
from {{ ref('fct_funnel_profiles') }}
where 1 = 0
{%- for i in range(stages | length - 1) %}
   or reached_{{ stages[i + 1] }}_at < reached_{{ stages[i] }}_at
   or (reached_{{ stages[i + 1] }}_at is not null and reached_{{ stages[i] }}_at is null)
{%- endfor %}
