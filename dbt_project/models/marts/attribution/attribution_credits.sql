{#- Credit of every rule-based model, side by side: one row per attributable touch of a conversion
    (marts.fct_attribution_touches) with, for each model, its share and the value it credits in
    the reporting currency; plus one `unattributed` row (channel 'unattributed', share 1) for each
    attributed conversion without a touch in the window. Values are rounded to the cent so that they
    sum exactly to the conversion value: touch k gets round(V * cumulative share up to k) minus the
    same up to k-1 (differences of one rounded running total, so never negative and summing exactly). Ties in time are ordered by message_id. Models:
    first_touch, last_touch, last_non_direct (last touch not on channel direct, else last touch),
    linear, time_decay (weight halves every var cdp__attribution_time_decay_half_life_days days before
    the conversion), u_shaped (40/20/40), position_50_50, w_shaped (30% each to the first, lead-
    created and opportunity-created touches, 10% over the rest), full_path (22.5% each to those and
    the last touch, 10% over the rest), j_shaped (20/20/60), inverse_j (60/20/20) and custom
    (var cdp__attribution_custom_weights). -#}
{%- set models = attribution_rule_models() %}
{%- set half_life = var('cdp__attribution_time_decay_half_life_days') | float %}
{%- set conversions = var('cdp__attribution_conversions') %}

with fct_attribution_touches as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_attribution_touches') }}
),

fct_conversions as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_conversions') }}
),

touches as (
    select
        t.*,
        power(0.5, t.days_before_conversion / {{ half_life }}) as decay_weight,
        t.is_first_touch or t.is_lead_created_touch or t.is_opportunity_created_touch as is_w_key,
        t.is_first_touch or t.is_lead_created_touch or t.is_opportunity_created_touch or t.is_last_touch
            as is_z_key
    from fct_attribution_touches as t
),

helpers as (
    select
        *,
        {#- summed exactly (a decimal), so the total does not depend on the order rows are added in -#}
        {{ exact_sum('decay_weight', 'over (partition by conversion_id)') }} as decay_total,
        coalesce(max(case when channel <> 'direct' then touch_position end) over (partition by conversion_id),
                 touch_count) as last_non_direct_position,
        count(case when is_w_key then 1 end) over (partition by conversion_id) as w_keys,
        count(case when is_z_key then 1 end) over (partition by conversion_id) as z_keys
    from touches
),

shares as (
    select
        conversion_id, conversion_name, profile_id, converted_at, conversion_value_reporting,
        message_id, touched_at, channel, utm_source, utm_medium, campaign, touch_position, touch_count,
        {%- for m in models %}
        {{ attribution_share(m) }} as {{ m }}_share{% if not loop.last %},{% endif %}
        {%- endfor %}
    from helpers
),

final as (
    {{ attribution_cent_exact_credits('shares', models) }}

    union all

    select
        c.conversion_id, c.conversion_name, c.profile_id, c.converted_at, c.conversion_value_reporting,
        cast(null as {{ dbt.type_string() }}), cast(null as {{ type_timestamptz() }}), 'unattributed', cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}), '(none)', 0, 0,
        {#- a union branch takes its names from the first: the value repeated per model is no clash #}
        {%- for m in models %}
        1.0, c.conversion_value_reporting{% if not loop.last %},{% endif %}  -- noqa: AL08
        {%- endfor %}
    from fct_conversions as c
    where c.conversion_name in ({% for n in conversions %}{{ cdp_literal(n) }}{% if not loop.last %}, {% endif %}{% endfor %})
      and c.conversion_id not in (select a.conversion_id from fct_attribution_touches as a)
)

select * from final
