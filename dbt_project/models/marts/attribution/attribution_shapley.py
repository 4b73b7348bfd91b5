"""Shapley attribution by channel, exact over all 2^n coalitions (n <= 20 channels).

Value function (stated): v(S) = the conversion rate of journeys that touched only channels in S,
i.e. conversions of journeys whose channel set is a subset of S divided by all journeys
(intermediate.int_attribution__coalitions). v is monotone with v(empty) = 0, so every Shapley value
is >= 0 and they sum to v(all channels), the overall conversion rate (efficiency). Credits split the
attributed conversions and value in proportion to the Shapley values (value to the cent, summing
exactly); conversions without a touch stay `unattributed`. Math: orchestration/attribution_math.py.
"""

import pandas as pd

from orchestration.attribution_math import ATTRIBUTED_TOTALS, cents_exact, coalition_values, shapley_values


def model(dbt, session):
    dbt.config(materialized="table")
    table = dbt.ref("int_attribution__coalitions").df()
    totals = dbt.ref("attribution_credits").aggregate(ATTRIBUTED_TOTALS).df().iloc[0]
    coalitions = [(str(r.channel_set).split("|"), float(r.journeys), float(r.conversions))
                  for r in table.itertuples()]
    channels = sorted({c for members, _, _ in coalitions for c in members})
    values = coalition_values(channels, coalitions)
    phi = shapley_values(values, len(channels)) if channels else []
    total = float(sum(phi))
    weights = [p / total for p in phi] if total > 0 else [0.0] * len(channels)
    conversions, value = float(totals["conversions"]), float(totals["attributed_value"])
    rows = pd.DataFrame({
        "model": "shapley",
        "channel": channels,
        "shapley_value": [float(p) for p in phi],
        "credit_share": weights,
        "credited_conversions": [conversions * w for w in weights],
        "credited_value": cents_exact(value, weights) if total > 0 else [0.0] * len(channels),
        "grand_coalition_value": float(values[-1]) if channels else 0.0,
    })
    unattributed = pd.DataFrame({
        "model": ["shapley"], "channel": ["unattributed"], "shapley_value": [None], "credit_share": [None],
        "credited_conversions": [float(totals["unattributed_conversions"])],
        "credited_value": [float(totals["unattributed_value"])],
        "grand_coalition_value": [float(values[-1]) if channels else 0.0],
    })
    return pd.concat([rows, unattributed], ignore_index=True)
