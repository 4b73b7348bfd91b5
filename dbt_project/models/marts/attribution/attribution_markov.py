"""First-order Markov attribution, exact: removal effects from the absorbing chain of journeys.

Reads the transition counts (intermediate.int_attribution__markov_transitions, channels squared in
size, with the summed value of the conversions each state leads to) and solves the absorbing chain
for P(start -> conversion) and for the expected conversion value with a linear system (no
simulation). Removing a channel sends every transition into it to null.
- Conversions: a channel's removal effect is 1 - P(conversion without it) / P(conversion); the
  attributed conversions are split in proportion to the removal effects.
- Value: a channel's value removal effect is 1 - E[value without it] / E[value], where each
  conversion is worth the mean value of the conversions ending in its last state (as
  ChannelAttribution computes it); the attributed value is split in proportion to these, to the
  cent, summing exactly.
Conversions without a touch stay `unattributed`. marts.attribution_data_driven_credits spreads each
channel's credit over its touches, summing per channel to this table. Math:
orchestration/attribution_math.py.
"""

import pandas as pd

from orchestration.attribution_math import ATTRIBUTED_TOTALS, cents_exact, credit_weights, markov_removal_effects


def model(dbt, session):
    dbt.config(materialized="table")
    transitions = dbt.ref("int_attribution__markov_transitions").df()
    totals = dbt.ref("attribution_credits").aggregate(ATTRIBUTED_TOTALS).df().iloc[0]
    counts = {(r.from_state, r.to_state): float(r.journeys) for r in transitions.itertuples()}
    values = {r.from_state: float(r.conversion_value_reporting) for r in transitions.itertuples()
              if r.to_state == "conversion" and pd.notna(r.conversion_value_reporting)}
    chain = markov_removal_effects(counts, values)
    weights = credit_weights(chain.removal_effects)
    value_weights = credit_weights(chain.value_removal_effects)
    conversions, value = float(totals["conversions"]), float(totals["attributed_value"])
    rows = pd.DataFrame({
        "model": "markov",
        "channel": chain.channels,
        "removal_effect": chain.removal_effects,
        "value_removal_effect": chain.value_removal_effects,
        "credit_share": weights,
        "value_credit_share": value_weights,
        "credited_conversions": [conversions * w for w in weights],
        "credited_value": cents_exact(value, value_weights) if any(value_weights) else [0.0] * len(chain.channels),
        "conversion_probability": chain.conversion_probability,
        "expected_value": chain.expected_value,
    })
    unattributed = pd.DataFrame({
        "model": ["markov"], "channel": ["unattributed"], "removal_effect": [None], "value_removal_effect": [None],
        "credit_share": [None], "value_credit_share": [None],
        "credited_conversions": [float(totals["unattributed_conversions"])],
        "credited_value": [float(totals["unattributed_value"])],
        "conversion_probability": [chain.conversion_probability], "expected_value": [chain.expected_value],
    })
    return pd.concat([rows, unattributed], ignore_index=True)
