{#- Marts invariant: no negative revenue, deal amount, spend or credited value anywhere BI reads money.
    Returns every offending row's table, column and value. -#}
{#- Shown on the last mart it reads (Dagster runs the marts after Markov and Shapley in a later dbt step). -#}
{{ config(meta={'dagster': {'ref': {'name': 'attribution_roi'}}}) }}
select 'fct_conversions' as mart, 'conversion_value' as column_name, conversion_value as value
from {{ ref('fct_conversions') }} where conversion_value < 0
union all
select 'fct_conversions', 'conversion_value_reporting', conversion_value_reporting
from {{ ref('fct_conversions') }} where conversion_value_reporting < 0
union all
select 'fct_opportunities', 'amount', amount from {{ ref('fct_opportunities') }} where amount < 0
union all
select 'attribution_roi', 'spend', spend from {{ ref('attribution_roi') }} where spend < 0
union all
select 'attribution_roi', 'credited_value', credited_value from {{ ref('attribution_roi') }} where credited_value < 0
union all
select 'attribution_credits', 'conversion_value_reporting', conversion_value_reporting
from {{ ref('attribution_credits') }} where conversion_value_reporting < 0
union all
select 'attribution_credits', 'least credited value of any rule-based model',
       least(first_touch_value, last_touch_value, last_non_direct_value, linear_value, time_decay_value,
             u_shaped_value, position_50_50_value, w_shaped_value, full_path_value, j_shaped_value,
             inverse_j_value, custom_value)
from {{ ref('attribution_credits') }}
where least(first_touch_value, last_touch_value, last_non_direct_value, linear_value, time_decay_value,
            u_shaped_value, position_50_50_value, w_shaped_value, full_path_value, j_shaped_value,
            inverse_j_value, custom_value) < 0
