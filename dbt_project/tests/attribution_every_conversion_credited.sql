{#- Invariant (blocking): every conversion named in var cdp__attribution_conversions is in
    marts.attribution_credits (attributed to touches, or unattributed). -#}
{{ config(meta={'dagster': {'ref': {'name': 'attribution_credits'}}}) }}
{%- set conversions = var('cdp__attribution_conversions') %}
select c.conversion_id
from {{ ref('fct_conversions') }} as c
where c.conversion_name in ({% for n in conversions %}{{ cdp_literal(n) }}{% if not loop.last %}, {% endif %}{% endfor %})
  and c.conversion_id not in (select a.conversion_id from {{ ref('attribution_credits') }} as a)
