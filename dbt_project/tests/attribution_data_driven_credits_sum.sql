{#- Invariant (blocking): one figure per data-driven model. Per channel, the per-touch credits of
    marts.attribution_data_driven_credits sum exactly (to the cent) to the credited value of
    marts.attribution_markov and marts.attribution_shapley, and to their credited conversions (to
    1e-6); no credit or share is negative. -#}
{{ config(meta={'dagster': {'ref': {'name': 'attribution_data_driven_credits'}}}) }}
with per_channel as (
    select
        channel,
        sum(markov_share) as markov_conversions,
        sum(markov_value) as markov_value,
        sum(shapley_share) as shapley_conversions,
        sum(shapley_value) as shapley_value,
        min(least(markov_value, shapley_value, markov_share, shapley_share)) as minimum
    from {{ ref('attribution_data_driven_credits') }}
    group by channel
),

channel_tables as (
    select
        coalesce(m.channel, s.channel) as channel,
        m.credited_conversions as markov_conversions,
        m.credited_value as markov_value,
        s.credited_conversions as shapley_conversions,
        s.credited_value as shapley_value
    from {{ source('data_driven_attribution', 'attribution_markov') }} as m
    full outer join {{ source('data_driven_attribution', 'attribution_shapley') }} as s on s.channel = m.channel
)

select coalesce(p.channel, t.channel) as channel, p.*, t.*
from per_channel as p
full outer join channel_tables as t on t.channel = p.channel
where round(coalesce(p.markov_value, 0), 2) <> round(coalesce(t.markov_value, 0), 2)
   or round(coalesce(p.shapley_value, 0), 2) <> round(coalesce(t.shapley_value, 0), 2)
   or abs(coalesce(p.markov_conversions, 0) - coalesce(t.markov_conversions, 0)) > 1e-6
   or abs(coalesce(p.shapley_conversions, 0) - coalesce(t.shapley_conversions, 0)) > 1e-6
   or p.minimum < 0
