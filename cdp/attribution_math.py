"""Data-driven attribution math on aggregated tables (their size grows with channels, never with
events): the exact first-order Markov removal effects (on conversions and on conversion value) and
exact Shapley values of the conversion-rate game over channel coalitions. The dbt Python models in
dbt_project/models/marts/attribution/ call these; the heavy
lifting (paths, transition and coalition counts) happens in SQL before.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

MAX_SHAPLEY_CHANNELS = 24  # GA4's grouping has 19 channels; 2^24 coalitions take seconds and ~1 GB in numpy


def absorption(channels: list[str], counts: dict[tuple[str, str], float], values: dict[str, float],
               removed: str | None) -> tuple[float, float]:
    """P(a journey from `start` is absorbed in `conversion`) and the expected conversion value of a
    journey, solving (I - Q) x = [r, r_value] exactly. r[s] is P(s -> conversion); r_value[s] is that
    times the mean value of the conversions reached from s (`values[s]`: their summed value), so the
    value of each conversion is the mean value of conversions ending in its last state, as in
    ChannelAttribution. `removed` (a channel) is turned into null: every transition into it is lost."""
    kept = [c for c in channels if c != removed]
    index = {c: i for i, c in enumerate(kept)}
    size = len(kept)
    if size == 0:
        return 0.0, 0.0
    q = np.zeros((size, size))
    rhs = np.zeros((size, 2))
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
            rhs[index[origin], 0] += p
            rhs[index[origin], 1] += values.get(origin, 0.0) / totals[origin]
        elif target in index:
            q[index[origin], index[target]] += p
    probability, value = start @ np.linalg.solve(np.eye(size) - q, rhs)
    return float(probability), float(value)


def conversion_probability(channels: list[str], counts: dict[tuple[str, str], float], removed: str | None) -> float:
    """P(a journey from `start` is absorbed in `conversion`) with `removed` turned into null."""
    return absorption(channels, counts, {}, removed)[0]


@dataclass(frozen=True)
class MarkovResult:
    channels: list[str]
    conversion_probability: float  # P(start -> conversion) of the full chain
    expected_value: float  # expected conversion value of a journey of the full chain
    removal_effects: list[float]  # 1 - P without the channel / P, clipped at 0
    value_removal_effects: list[float]  # 1 - expected value without the channel / expected value, clipped at 0


def markov_removal_effects(counts: dict[tuple[str, str], float], values: dict[str, float]) -> MarkovResult:
    """Removal effects on conversions and on conversion value. `values[s]` is the summed value of the
    conversions whose journey ended in state s (transition s -> conversion)."""
    channels = sorted({s for pair in counts for s in pair} - {"start", "conversion", "null"})
    base, base_value = absorption(channels, counts, values, None)
    effects, value_effects = [], []
    for c in channels:
        p, v = absorption(channels, counts, values, c)
        effects.append(max(1 - p / base, 0.0) if base > 0 else 0.0)
        value_effects.append(max(1 - v / base_value, 0.0) if base_value > 0 else 0.0)
    return MarkovResult(channels, base, base_value, effects, value_effects)


def removal_effects(counts: dict[tuple[str, str], float]) -> tuple[list[str], float, list[float]]:
    """Channels, P(conversion) of the full chain, and each channel's removal effect (>= 0)."""
    result = markov_removal_effects(counts, {})
    return result.channels, result.conversion_probability, result.removal_effects


def _coalition_masks(channels: list[str],
                     coalitions: list[tuple[list[str], float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Journeys and conversions per exact channel set, indexed by bitmask over `channels`."""
    n = len(channels)
    if n > MAX_SHAPLEY_CHANNELS:
        raise ValueError(f"Shapley over {n} channels needs 2^{n} coalitions; at most {MAX_SHAPLEY_CHANNELS} are "
                         "supported: exclude channels with var cdp__attribution_excluded_channels")
    bit = {c: 1 << i for i, c in enumerate(channels)}
    journeys = np.zeros(1 << n)
    conversions = np.zeros(1 << n)
    for members, journeys_with_set, conversions_with_set in coalitions:
        mask = 0
        for c in members:
            mask |= bit[c]
        journeys[mask] += journeys_with_set
        conversions[mask] += conversions_with_set
    return journeys, conversions


def _subset_sums(table: np.ndarray, n: int) -> np.ndarray:
    """f(S) = sum of table[T] over every T subset of S (zeta transform), for all S at once."""
    out = table.copy()
    masks = np.arange(1 << n)
    for i in range(n):
        has = (masks >> i) & 1 == 1
        out[has] += out[masks[has] ^ (1 << i)]
    return out


def coalition_values(channels: list[str], coalitions: list[tuple[list[str], float, float]]) -> np.ndarray:
    """v(S) for every coalition S (bitmask over `channels`): the conversion rate of the journeys whose
    channels all lie in S, i.e. conversions of those journeys over those journeys (non-converting
    ones in the denominator); 0 where no journey lies in S, so v(empty) = 0.

    A rate, not a count: channels interact (a channel whose journeys convert only together with
    another raises v only in coalitions holding both), values can be negative (a channel whose
    journeys convert less than the others lowers the rate), and they sum to v(all channels), the
    overall conversion rate (efficiency). The count game "conversions of journeys within S over all
    journeys" (Zhao et al.'s simplified Shapley) is additive: its Shapley value is always the equal
    split of each conversion over its distinct channels, so it is not used."""
    n = len(channels)
    journeys, conversions = _coalition_masks(channels, coalitions)
    within_journeys = _subset_sums(journeys, n)
    within_conversions = _subset_sums(conversions, n)
    rates = np.zeros(1 << n)
    np.divide(within_conversions, within_journeys, out=rates, where=within_journeys > 0)
    return rates


def credit_weights(values: list[float]) -> list[float]:
    """Shares of credit from model values that may be negative (Shapley) or all zero: negative values
    get no credit and the positive ones are normalised to sum to 1 (as Google's fractribution does);
    all zeros give all zeros."""
    positive = [max(v, 0.0) for v in values]
    total = sum(positive)
    return [v / total for v in positive] if total > 0 else [0.0] * len(values)


def shapley_values(values: np.ndarray, n: int) -> np.ndarray:
    """Exact Shapley values of the game `values` (indexed by bitmask) over n players:
    phi_i = sum over S without i of |S|! (n - |S| - 1)! / n! x (v(S + i) - v(S))."""
    sizes = np.zeros(1 << n, dtype=np.int8)
    masks = np.arange(1 << n, dtype=np.int64)
    for i in range(n):  # popcount of every mask
        sizes += ((masks >> i) & 1).astype(np.int8)
    del masks
    weights = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) if s < n else 0.0 for s in range(n + 1)])
    phi = np.zeros(n)
    for i in range(n):
        # axis 1 of this view is bit i: [:, 0, :] are the coalitions without i, [:, 1, :] the same with i
        v = values.reshape(-1, 2, 1 << i)
        without_sizes = sizes.reshape(-1, 2, 1 << i)[:, 0, :]
        phi[i] = float(np.sum(weights[without_sizes] * (v[:, 1, :] - v[:, 0, :])))
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
