{#- Invariant (blocking): per conversion, Markov and Shapley credits sum exactly to the conversion
    value and are never negative. -#}
select conversion_id
from {{ ref('attribution_data_driven_credits') }}
group by conversion_id
having sum(markov_value) <> max(conversion_value) or sum(shapley_value) <> max(conversion_value)
    or min(least(markov_value, shapley_value, markov_share, shapley_share)) < 0
