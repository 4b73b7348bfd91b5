"""First-order Markov attribution, exact: removal effects from the absorbing chain of journeys.

Reads the transition counts (intermediate.int_attribution__markov_transitions, channels squared in
size) and solves the absorbing chain for P(start -> conversion) with a linear system (no
simulation); removing a channel sends every transition into it to null, and its removal effect is
1 - P(conversion without it) / P(conversion). Credits split the attributed conversions and value in
proportion to the removal effects (value to the cent, summing exactly); conversions without a touch
stay `unattributed`. Math: orchestration/attribution_math.py.
"""

import pandas as pd

from orchestration.attribution_math import ATTRIBUTED_TOTALS, cents_exact, removal_effects


def model(dbt, session):
    dbt.config(materialized="table")
    transitions = dbt.ref("int_attribution__markov_transitions").df()
    totals = dbt.ref("attribution_credits").aggregate(ATTRIBUTED_TOTALS).df().iloc[0]
    counts = {(r.from_state, r.to_state): float(r.journeys) for r in transitions.itertuples()}
    channels, base, effects = removal_effects(counts)
    total_effect = sum(effects)
    weights = [e / total_effect for e in effects] if total_effect > 0 else [0.0] * len(channels)
    conversions, value = float(totals["conversions"]), float(totals["attributed_value"])
    rows = pd.DataFrame({
        "model": "markov",
        "channel": channels,
        "removal_effect": effects,
        "credit_share": weights,
        "credited_conversions": [conversions * w for w in weights],
        "credited_value": cents_exact(value, weights) if total_effect > 0 else [0.0] * len(channels),
        "conversion_probability": base,
    })
    unattributed = pd.DataFrame({
        "model": ["markov"], "channel": ["unattributed"], "removal_effect": [None], "credit_share": [None],
        "credited_conversions": [float(totals["unattributed_conversions"])],
        "credited_value": [float(totals["unattributed_value"])], "conversion_probability": [base],
    })
    return pd.concat([rows, unattributed], ignore_index=True)
