"""Shapley attribution by channel, exact over all 2^n coalitions (n <= 20 channels).

The game: v(S) = the conversion rate of the journeys whose channels all lie in S (their conversions
over their number, non-converting journeys included; intermediate.int_attribution__coalitions), 0
where no journey lies in S. Channels interact in this game, and a Shapley value can be negative (a
channel whose journeys convert below the rest lowers the rate); the values are reported as
computed in `shapley_value` and sum to v(all channels), the overall conversion rate.
Credit: negative values get none and the positive ones are normalised (as Google's fractribution
does), so `credit_share` is >= 0 and sums to 1; the attributed conversions and value (to the cent,
summing exactly) are split by it. Conversions without a touch stay `unattributed`.
marts.attribution_data_driven_credits spreads each channel's credit over its touches, summing per
channel to this table. Math: orchestration/attribution_math.py.
"""

import pandas as pd

from orchestration.attribution_math import (
    ATTRIBUTED_TOTALS,
    cents_exact,
    coalition_values,
    credit_weights,
    shapley_values,
)


def model(dbt, session):
    dbt.config(materialized="table")
    table = dbt.ref("int_attribution__coalitions").df()
    totals = dbt.ref("attribution_credits").aggregate(ATTRIBUTED_TOTALS).df().iloc[0]
    coalitions = [(str(r.channel_set).split("|"), float(r.journeys), float(r.conversions))
                  for r in table.itertuples()]
    channels = sorted({c for members, _, _ in coalitions for c in members})
    values = coalition_values(channels, coalitions)
    phi = [float(p) for p in shapley_values(values, len(channels))] if channels else []
    weights = credit_weights(phi)
    conversions, value = float(totals["conversions"]), float(totals["attributed_value"])
    grand = float(values[-1]) if channels else 0.0
    rows = pd.DataFrame({
        "model": "shapley",
        "channel": channels,
        "shapley_value": phi,
        "credit_share": weights,
        "credited_conversions": [conversions * w for w in weights],
        "credited_value": cents_exact(value, weights) if any(weights) else [0.0] * len(channels),
        "grand_coalition_value": grand,
    })
    unattributed = pd.DataFrame({
        "model": ["shapley"], "channel": ["unattributed"], "shapley_value": [None], "credit_share": [None],
        "credited_conversions": [float(totals["unattributed_conversions"])],
        "credited_value": [float(totals["unattributed_value"])],
        "grand_coalition_value": [grand],
    })
    return pd.concat([rows, unattributed], ignore_index=True)
