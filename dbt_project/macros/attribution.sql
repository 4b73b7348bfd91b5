{#- Rule-based attribution models: names, and each model's share of a conversion for one touch as
    SQL over the columns of marts.fct_attribution_touches plus the per-conversion helpers computed
    in marts.attribution_credits (decay_weight, decay_total, last_non_direct_position, w_keys,
    z_keys). Every share is >= 0 and the shares of one conversion sum to 1 for every model. -#}

{% macro attribution_rule_models() -%}
    {{ return(['first_touch', 'last_touch', 'last_non_direct', 'linear', 'time_decay', 'u_shaped',
               'position_50_50', 'w_shaped', 'full_path', 'j_shaped', 'inverse_j', 'custom']) }}
{%- endmacro %}

{#- Position weights (first, middle-in-total, last), normalised per journey: a single touch takes
    first + last, two touches split first : last, middle touches share `middle` evenly. -#}
{% macro attribution_position_share(first, middle, last) -%}
    ((case when touch_position = 1 then {{ first }} else 0 end
      + case when touch_position = touch_count then {{ last }} else 0 end
      + case when touch_position > 1 and touch_position < touch_count
             then {{ middle }} / (touch_count - 2) else 0 end)
     / ({{ first }} + {{ last }} + case when touch_count >= 3 then {{ middle }} else 0 end))
{%- endmacro %}

{#- Milestone weights: each distinct key touch gets `key`, the other touches share `rest` evenly;
    normalised per journey (fewer distinct keys, or no other touches, renormalise). -#}
{% macro attribution_milestone_share(is_key, keys, key, rest) -%}
    ((case when {{ is_key }} then {{ key }} else {{ rest }} / nullif(touch_count - {{ keys }}, 0) end)
     / ({{ key }} * {{ keys }} + case when touch_count > {{ keys }} then {{ rest }} else 0 end))
{%- endmacro %}

{% macro attribution_share(model) -%}
    {%- set custom = var('cdp__attribution_custom_weights') -%}
    {%- if model == 'first_touch' -%} case when touch_position = 1 then 1.0 else 0.0 end
    {%- elif model == 'last_touch' -%} case when touch_position = touch_count then 1.0 else 0.0 end
    {%- elif model == 'last_non_direct' -%} case when touch_position = last_non_direct_position then 1.0 else 0.0 end
    {%- elif model == 'linear' -%} 1.0 / touch_count
    {%- elif model == 'time_decay' -%} decay_weight / decay_total
    {%- elif model == 'u_shaped' -%} {{ attribution_position_share(0.4, 0.2, 0.4) }}
    {%- elif model == 'position_50_50' -%} {{ attribution_position_share(0.5, 0.0, 0.5) }}
    {%- elif model == 'j_shaped' -%} {{ attribution_position_share(0.2, 0.2, 0.6) }}
    {%- elif model == 'inverse_j' -%} {{ attribution_position_share(0.6, 0.2, 0.2) }}
    {%- elif model == 'custom' -%}
        {%- if (custom.first | float) < 0 or (custom.middle | float) < 0 or (custom.last | float) < 0
               or (custom.first | float) + (custom.last | float) <= 0 -%}
            {{ exceptions.raise_compiler_error("var cdp__attribution_custom_weights: first, middle and last must be >= 0 and first + last > 0, got " ~ custom) }}
        {%- endif -%}
        {{ attribution_position_share(custom.first | float, custom.middle | float, custom.last | float) }}
    {%- elif model == 'w_shaped' -%} {{ attribution_milestone_share('is_w_key', 'w_keys', 0.3, 0.1) }}
    {%- elif model == 'full_path' -%} {{ attribution_milestone_share('is_z_key', 'z_keys', 0.225, 0.1) }}
    {%- else -%} {{ exceptions.raise_compiler_error("unknown attribution model " ~ model) }}
    {%- endif -%}
{%- endmacro %}

{#- Touch rows of `shares` (a CTE with the touch columns of marts.fct_attribution_touches and a
    <model>_share per model) with each model's share and its cent-exact value: touch k gets
    round(V x cumulative share to k) - the same to k-1, differences of one rounded running total, so
    per conversion the values sum exactly to V and none is negative. -#}
{% macro attribution_cent_exact_credits(shares, models) -%}
select
    conversion_id, conversion_name, profile_id, converted_at, conversion_value_reporting,
    message_id, touched_at, channel, utm_source, utm_medium, campaign, touch_position, touch_count,
    {%- for m in models %}
    cast({{ m }}_share as {{ type_double() }}) as {{ m }}_share,
    cast(({{ m }}_cents_to_here - coalesce(lag({{ m }}_cents_to_here) over (
              partition by conversion_id order by touch_position), 0)) / 100.0 as decimal(18, 2)) as {{ m }}_value{% if not loop.last %},{% endif %}
    {%- endfor %}
from (
    select
        *,
        {%- for m in models %}
        {#- rounded as a decimal: half away from zero on every engine (PostgreSQL rounds a double half to even) -#}
        round(cast(cast(round(conversion_value_reporting * 100) as bigint)
                   * sum({{ m }}_share) over (partition by conversion_id order by touch_position
                                              rows between unbounded preceding and current row)
                   as decimal(38, 9))) as {{ m }}_cents_to_here{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ shares }}
) as cumulative
{%- endmacro %}

{#- A touch's share of its own conversion under per-touch channel weights `weight` (a column): its
    weight over the sum of the conversion's weights, or an equal share when they are all 0. -#}
{% macro attribution_journey_share(weight) -%}
    case when sum({{ weight }}) over (partition by conversion_id) > 0
         then {{ weight }} / {{ exact_sum(weight, 'over (partition by conversion_id)') }}
         else 1.0 / touch_count end
{%- endmacro %}
