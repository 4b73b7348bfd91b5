{#- Markov and Shapley credit per conversion and touch, so data-driven models have campaign and month
    level too, with one figure per model: for each channel, the rows here sum exactly to that
    channel's credited conversions and credited value in marts.attribution_markov and
    marts.attribution_shapley (value to the cent), and marts.attribution_roi and
    marts.attribution_model_comparison read them.

    A channel's credit is spread over the touches on it in proportion to each touch's share of its
    own conversion under the model's channel weights (the conversion's value, or 1 for conversions,
    times the touch's channel weight over the sum of the weights of the conversion's touches; equal
    shares when every weight of a journey is 0). Markov weights are the removal effects (value: the
    value removal effects); Shapley weights are the credit shares (negative values get none). Value
    is cent-exact per channel: differences of one rounded running total over the channel's touches.
    Because the channel totals are set by the whole chain or game, a conversion's rows sum to about,
    not exactly, its value for these two models. A channel the model credits although no attributed
    conversion touched it (possible in Markov: a channel that leads to others), or whose touches
    carry no value, keeps what they could not carry in one row without a conversion. Conversions without a touch keep their `unattributed` row. -#}
{%- set models = ['markov', 'shapley'] %}

with fct_attribution_touches as {{ cte_not_materialized() }} (
    select * from {{ ref('fct_attribution_touches') }}
),

data_driven_attribution_attribution_markov as {{ cte_not_materialized() }} (
    select * from {{ source('data_driven_attribution', 'attribution_markov') }}
),

data_driven_attribution_attribution_shapley as {{ cte_not_materialized() }} (
    select * from {{ source('data_driven_attribution', 'attribution_shapley') }}
),

attribution_credits as {{ cte_not_materialized() }} (
    select * from {{ ref('attribution_credits') }}
),

touches as (
    select
        t.conversion_id, t.conversion_name, t.profile_id, t.converted_at, t.conversion_value_reporting,
        t.message_id, t.touched_at, t.channel, t.utm_source, t.utm_medium, t.campaign, t.touch_position,
        t.touch_count
    from fct_attribution_touches as t
),

channel_credit as (
    select
        'markov' as model, channel, coalesce(removal_effect, 0) as conversion_weight,
        coalesce(value_removal_effect, 0) as value_weight, credited_conversions, credited_value
    from data_driven_attribution_attribution_markov
    where channel <> 'unattributed'
    union all
    select
        'shapley', channel, coalesce(credit_share, 0), coalesce(credit_share, 0), credited_conversions, credited_value
    from data_driven_attribution_attribution_shapley
    where channel <> 'unattributed'
),

weighted as (
    select
        t.*,
        {%- for m in models %}
        coalesce({{ m }}.conversion_weight, 0) as {{ m }}_conversion_weight,
        coalesce({{ m }}.value_weight, 0) as {{ m }}_value_weight,
        coalesce({{ m }}.credited_conversions, 0) as {{ m }}_channel_conversions,
        coalesce({{ m }}.credited_value, 0) as {{ m }}_channel_value{% if not loop.last %},{% endif %}
        {%- endfor %}
    from touches as t
    {%- for m in models %}
    left join channel_credit as {{ m }} on {{ m }}.model = '{{ m }}' and {{ m }}.channel = t.channel
    {%- endfor %}
),

in_journey as (
    {#- each touch's share of its own conversion under the model's weights -#}
    select
        *,
        {%- for m in models %}
        {{ attribution_journey_share(m ~ '_conversion_weight') }} as {{ m }}_conversion_in_journey,
        {{ attribution_journey_share(m ~ '_value_weight') }} * conversion_value_reporting
            as {{ m }}_value_in_journey{% if not loop.last %},{% endif %}
        {%- endfor %}
    from weighted
),

spread as (
    select
        *,
        {%- for m in models %}
        {{ m }}_channel_conversions * {{ m }}_conversion_in_journey
            / nullif({{ exact_sum(m ~ '_conversion_in_journey', 'over (partition by channel)') }}, 0) as {{ m }}_share,
        round(cast(cast(round({{ m }}_channel_value * 100) as bigint)
                   * {{ exact_sum(m ~ '_value_in_journey', 'over (partition by channel order by conversion_id, '
                                      ~ 'touch_position rows between unbounded preceding and current row)') }}
                   / nullif({{ exact_sum(m ~ '_value_in_journey', 'over (partition by channel)') }}, 0)
                   as decimal(38, 9))) as {{ m }}_cents_to_here{% if not loop.last %},{% endif %}
        {%- endfor %}
    from in_journey
),

touch_credits as (
    select
        conversion_id, conversion_name, profile_id, converted_at, conversion_value_reporting,
        message_id, touched_at, channel, utm_source, utm_medium, campaign, touch_position, touch_count,
        {%- for m in models %}
        coalesce({{ m }}_share, 0) as {{ m }}_share,
        cast(coalesce(({{ m }}_cents_to_here - coalesce(lag({{ m }}_cents_to_here) over (
                  partition by channel order by conversion_id, touch_position), 0)) / 100.0, 0) as decimal(18, 2))
            as {{ m }}_value{% if not loop.last %},{% endif %}
        {%- endfor %}
    from spread
),

touched_totals as (
    select
        channel,
        {%- for m in models %}
        {{ exact_sum(m ~ '_share') }} as {{ m }}_share,
        sum({{ m }}_value) as {{ m }}_value{% if not loop.last %},{% endif %}
        {%- endfor %}
    from touch_credits
    group by channel
),

remainders as (
    {#- credit the model gives a channel that its touches could not carry: a channel no attributed
        conversion touched, or one whose touches carry no value -#}
    select
        c.channel,
        {%- for m in models %}
        coalesce(max(case when c.model = '{{ m }}' then c.credited_conversions end), 0)
            - coalesce(max(t.{{ m }}_share), 0) as {{ m }}_share,
        cast(coalesce(max(case when c.model = '{{ m }}' then c.credited_value end), 0)
             - coalesce(max(t.{{ m }}_value), 0) as decimal(18, 2)) as {{ m }}_value{% if not loop.last %},{% endif %}
        {%- endfor %}
    from channel_credit as c
    left join touched_totals as t on t.channel = c.channel
    group by c.channel
),

untouched_channels as (
    select
        cast(null as {{ dbt.type_string() }}) as conversion_id, cast(null as {{ dbt.type_string() }}) as conversion_name,
        cast(null as {{ dbt.type_string() }}) as profile_id, cast(null as {{ type_timestamptz() }}) as converted_at,
        cast(null as decimal(18, 2)) as conversion_value_reporting, cast(null as {{ dbt.type_string() }}) as message_id,
        cast(null as {{ type_timestamptz() }}) as touched_at, channel, cast(null as {{ dbt.type_string() }}) as utm_source,
        cast(null as {{ dbt.type_string() }}) as utm_medium, '(none)' as campaign, 0 as touch_position, 0 as touch_count,
        {%- for m in models %}
        case when abs({{ m }}_share) > 1e-9 then {{ m }}_share else 0 end as {{ m }}_share,
        {{ m }}_value{% if not loop.last %},{% endif %}
        {%- endfor %}
    from remainders
    where {% for m in models %}abs({{ m }}_share) > 1e-9 or {{ m }}_value <> 0{% if not loop.last %} or {% endif %}{% endfor %}
),

final as (
    select * from touch_credits

    union all

    select * from untouched_channels

    union all

    select
        conversion_id, conversion_name, profile_id, converted_at, conversion_value_reporting, message_id, touched_at, channel,
        utm_source, utm_medium, campaign, touch_position, touch_count,
        {#- a union branch takes its names from the first: the value repeated per model is no clash #}
        {%- for m in models %}
        1.0, conversion_value_reporting{% if not loop.last %},{% endif %}  -- noqa: AL08
        {%- endfor %}
    from attribution_credits
    where channel = 'unattributed'
)

select * from final
