"""Data-driven attribution math on aggregated tables (their size grows with channels, never with
events): the exact first-order Markov removal effect and exact Shapley values over channel
coalitions. The dbt Python models in dbt_project/models/marts/attribution/ call these; the heavy
lifting (paths, transition and coalition counts) happens in SQL before.
"""

from __future__ import annotations

from math import factorial

import numpy as np

MAX_SHAPLEY_CHANNELS = 20  # 2^20 coalitions x 20 channels stays well under a second in numpy


def conversion_probability(channels: list[str], counts: dict[tuple[str, str], float], removed: str | None) -> float:
    """P(a journey from `start` is absorbed in `conversion`), solving (I - Q) x = r exactly;
    `removed` (a channel) is turned into null: every transition into it is lost."""
    kept = [c for c in channels if c != removed]
    index = {c: i for i, c in enumerate(kept)}
    size = len(kept)
    if size == 0:
        return 0.0
    q = np.zeros((size, size))
    to_conversion = np.zeros(size)
    start = np.zeros(size)
    totals: dict[str, float] = {}
    for (origin, _), n in counts.items():
        totals[origin] = totals.get(origin, 0.0) + n
    for (origin, target), n in counts.items():
        if origin == removed or totals[origin] == 0:
            continue
        p = n / totals[origin]
        if origin == "start":
            if target in index:
                start[index[target]] += p
        elif target == "conversion":
            to_conversion[index[origin]] += p
        elif target in index:
            q[index[origin], index[target]] += p
    return float(start @ np.linalg.solve(np.eye(size) - q, to_conversion))


def removal_effects(counts: dict[tuple[str, str], float]) -> tuple[list[str], float, list[float]]:
    """Channels, P(conversion) of the full chain, and each channel's removal effect (>= 0)."""
    channels = sorted({s for pair in counts for s in pair} - {"start", "conversion", "null"})
    base = conversion_probability(channels, counts, None)
    effects = [max(1 - conversion_probability(channels, counts, c) / base, 0.0) if base > 0 else 0.0
               for c in channels]
    return channels, base, effects


def coalition_values(channels: list[str], coalitions: list[tuple[list[str], float, float]]) -> np.ndarray:
    """v(S) for every coalition S (bitmask over `channels`): the conversion rate of journeys that only
    touched channels in S, i.e. conversions of journeys whose channel set is a subset of S divided by
    all journeys. Monotone, v(empty) = 0, v(all) = the overall conversion rate."""
    n = len(channels)
    if n > MAX_SHAPLEY_CHANNELS:
        raise ValueError(f"Shapley over {n} channels needs 2^{n} coalitions; at most {MAX_SHAPLEY_CHANNELS} are "
                         "supported: exclude channels with var cdp__attribution_excluded_channels")
    bit = {c: 1 << i for i, c in enumerate(channels)}
    conversions = np.zeros(1 << n)
    journeys = 0.0
    for members, journeys_with_set, conversions_with_set in coalitions:
        mask = 0
        for c in members:
            mask |= bit[c]
        conversions[mask] += conversions_with_set
        journeys += journeys_with_set
    masks = np.arange(1 << n)
    for i in range(n):  # subset sums (zeta transform): f(S) = sum over T subset of S
        has = (masks >> i) & 1 == 1
        conversions[has] += conversions[masks[has] ^ (1 << i)]
    return conversions / journeys if journeys else conversions


def shapley_values(values: np.ndarray, n: int) -> np.ndarray:
    """Exact Shapley values of the game `values` (indexed by bitmask) over n players."""
    masks = np.arange(1 << n)
    sizes = np.array([bin(m).count("1") for m in masks])
    weights = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) if s < n else 0.0 for s in range(n + 1)])
    phi = np.zeros(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = float(np.sum(weights[sizes[without]] * (values[without | (1 << i)] - values[without])))
    return phi


ATTRIBUTED_TOTALS = (
    "count(distinct case when channel <> 'unattributed' then conversion_id end) as conversions, "
    "coalesce(sum(case when channel <> 'unattributed' then linear_value end), 0) as attributed_value, "
    "count(case when channel = 'unattributed' then 1 end) as unattributed_conversions, "
    "coalesce(sum(case when channel = 'unattributed' then linear_value end), 0) as unattributed_value"
)
"""What every channel-level model splits, aggregated inside DuckDB over marts.attribution_credits
(one row, whatever the number of conversions): attributed conversions and value, and the rest."""


def cents_exact(total: float, weights: list[float]) -> list[float]:
    """Split `total` by weights (summing to 1) into cents that sum exactly: one rounded running total."""
    cents = round(total * 100)
    out, running, previous = [], 0.0, 0
    for w in weights:
        running += w
        now = round(cents * running)
        out.append((now - previous) / 100)
        previous = now
    return out
