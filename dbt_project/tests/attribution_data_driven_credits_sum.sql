{#- Invariant (blocking): per conversion, Markov and Shapley credits sum exactly to the conversion
    value and are never negative (null-safe: no credit at all for a valued conversion fails). -#}
select conversion_id
from {{ ref('attribution_data_driven_credits') }}
group by conversion_id
having (max(conversion_value) is not null and (sum(markov_value) is distinct from max(conversion_value)
                                            or sum(shapley_value) is distinct from max(conversion_value)))
    or min(least(markov_value, shapley_value, markov_share, shapley_share)) < 0
