{#- Every model side by side for BI: per model, credited conversions (sum of shares) and credited
    value per channel and per channel and campaign (rule-based: marts.attribution_credits; Markov and
    Shapley: marts.attribution_data_driven_credits, each conversion split by its channels' weights). -#}
{%- set models = attribution_rule_models() %}

with attribution_credits as {{ cte_not_materialized() }} (
    select * from {{ ref('attribution_credits') }}
),

attribution_data_driven_credits as {{ cte_not_materialized() }} (
    select * from {{ ref('attribution_data_driven_credits') }}
),

credits as (
    select * from attribution_credits
),

long as (
    {%- for m in models %}
    select '{{ m }}' as model, channel, campaign, {{ m }}_share as share, {{ m }}_value as credited
    from credits
    union all
    {%- endfor %}
    {%- for m in ['markov', 'shapley'] %}
    select '{{ m }}' as model, channel, campaign, {{ m }}_share as share, {{ m }}_value as credited
    from attribution_data_driven_credits
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

grouped as (
    select
        model,
        case when grouping(campaign) = 1 then 'channel' else 'campaign' end as grain,
        channel,
        case when grouping(campaign) = 1 then '(all)' else campaign end as campaign,
        {{ exact_sum('share') }} as credited_conversions,
        {{ exact_sum('credited') }} as credited_value
    from long
    group by grouping sets ((model, channel), (model, channel, campaign))
),

final as (
    select
        *,
        credited_value / nullif({{ exact_sum('credited_value', 'over (partition by model, grain)') }}, 0) as share_of_value
    from grouped
)

select * from final
