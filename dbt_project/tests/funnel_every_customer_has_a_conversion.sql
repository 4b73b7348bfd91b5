{#- Invariant (blocking): everyone in the last lifecycle stage (customer) has a revenue conversion
    (an order or a won deal) in marts.fct_conversions. -#}
-- depends_on: {{ ref('lifecycle_stages') }}
{{ config(meta={'dagster': {'ref': {'name': 'fct_funnel_profiles'}}}) }}
{%- set stages = cdp_rule_rows('lifecycle_stages', 'stage_order') | map(attribute='stage') | list %}
{%- set last = stages[-1] if stages else 'customer' %}
select f.profile_id
from {{ ref('fct_funnel_profiles') }} as f
where f.reached_{{ last }}_at is not null
  and not exists (
      select 1 from {{ ref('fct_conversions') }} as c
      where c.profile_id = f.profile_id and c.is_revenue
  )
