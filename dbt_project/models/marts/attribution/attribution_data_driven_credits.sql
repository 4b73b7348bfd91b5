{#- Markov and Shapley credit per conversion and touch, so data-driven models have campaign level
    and per-conversion totals too: each attributed conversion's value is spread over its own touches
    in proportion to their channels' weights (marts.attribution_markov removal effect,
    marts.attribution_shapley value), falling back to equal shares when every weight of the journey
    is 0. Cent-exact like the rule-based credits (one rounded running total per conversion);
    conversions without a touch keep their `unattributed` row. The channel tables split totals by
    the global weights; this table splits each conversion by the weights of the channels it saw. -#}
{%- set models = ['markov', 'shapley'] %}

with touches as (
    select
        t.conversion_id, t.conversion_name, t.profile_id, t.converted_at, t.conversion_value_reporting,
        t.message_id, t.touched_at, t.channel, t.utm_source, t.utm_medium, t.campaign, t.touch_position,
        t.touch_count,
        coalesce(m.removal_effect, 0) as markov_weight,
        coalesce(s.shapley_value, 0) as shapley_weight
    from {{ ref('fct_attribution_touches') }} as t
    left join {{ ref('attribution_markov') }} as m on m.channel = t.channel
    left join {{ ref('attribution_shapley') }} as s on s.channel = t.channel
),

shares as (
    select
        *,
        {%- for m in models %}
        case when sum({{ m }}_weight) over (partition by conversion_id) > 0
             then {{ m }}_weight / sum({{ m }}_weight) over (partition by conversion_id)
             else 1.0 / touch_count end as {{ m }}_share{% if not loop.last %},{% endif %}
        {%- endfor %}
    from touches
)

{{ attribution_cent_exact_credits('shares', models) }}

union all

select
    conversion_id, conversion_name, profile_id, converted_at, conversion_value, message_id, touched_at, channel,
    utm_source, utm_medium, campaign, touch_position, touch_count,
    {%- for m in models %}
    1.0, conversion_value{% if not loop.last %},{% endif %}
    {%- endfor %}
from {{ ref('attribution_credits') }}
where channel = 'unattributed'
