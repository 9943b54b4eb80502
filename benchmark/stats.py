"""Statistics over seeds and the finite evaluation subset.

An accuracy measured for one seed on n fixed test examples varies for two reasons: the
training run (seed) and which n examples were drawn. With k seeds evaluated on the same
subset, outcome o[s][i] = mean + seed effect + example effect + their interaction, and the
mean over seeds and examples has variance sigma_S^2/k + sigma_E^2/n + sigma_SE^2/(kn).
From the two-way table of outcomes (mean squares MS_S over seeds, MS_E over examples, MS_R
the residual, i.e. the seed-by-example interaction) that is (MS_S + MS_E - MS_R)/(kn):
s^2/k (s: the spread of the per-seed values, = MS_S/(kn)) plus the sampling part
(MS_E - MS_R)/(kn), the examples' share that the seeds cannot average away. Counting
MS_E/(kn) whole, as this module did before, counted the interaction twice (it is in s^2
already): intervals 5-20% too wide on the committed records. Intervals use Student's t
with Welch-Satterthwaite degrees of freedom for the sum (the sampling part counts as
known, i.e. infinite degrees of freedom), so with few seeds they are as wide as few seeds
warrant.

Differences and other contrasts between arms are paired: the same seeds (a transfer's
seed s uses its source's seed s) and the same test examples, so the same decomposition
applies to the per-example contrasts. A level (one arm's accuracy) adds two always-right
and two always-wrong pseudo-examples to the sampling part (Agresti-Coull's correction), so
that 0% or 100% measured on n examples still gets an interval of the right width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (normal for infinite df)."""
    from scipy import stats

    return float(stats.norm.ppf(p)) if not math.isfinite(df) else float(stats.t.ppf(p, df))


# Seeds an estimate over seeds needs before it is reported as one: with fewer, its interval holds only
# the evaluation subset's sampling error and none of the spread over seeds. A claim test with fewer is
# missing data; between it and the family's fixed count, its verdict is provisional.
MIN_SEEDS = 3


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95% interval."""

    mean: float
    low: float
    high: float
    sd: float            # spread over seeds (sample standard deviation; 0 for one seed)
    n_seeds: int
    se: float            # standard error of the mean, seeds and evaluation subset together
    df: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes(self, value: float = 0.0) -> int:
        """+1 if the whole interval lies above value, -1 if below, 0 if it contains it."""
        return 1 if self.low > value else (-1 if self.high < value else 0)

    def pct(self, digits: int = 1) -> str:
        return f"{100 * self.mean:.{digits}f} [{100 * self.low:.{digits}f}, {100 * self.high:.{digits}f}]"


def _sample_var(values: list[float]) -> float:
    k = len(values)
    if k < 2:
        return 0.0
    m = sum(values) / k
    return sum((v - m) ** 2 for v in values) / (k - 1)


def combine(per_seed: list[float], sampling_var: float, level: float = 0.95) -> Estimate:
    """Mean of per-seed values, with the seed variance and a shared sampling variance."""
    k = len(per_seed)
    if k == 0:
        raise ValueError("no seeds")
    mean = sum(per_seed) / k
    s2 = _sample_var(per_seed)
    a = s2 / k if k > 1 else 0.0
    b = max(sampling_var, 0.0)
    var = a + b
    if var == 0:
        return Estimate(mean, mean, mean, 0.0, k, 0.0, math.inf)
    if k > 1 and a > 0:
        df = var ** 2 / (a ** 2 / (k - 1))  # Welch-Satterthwaite with the sampling part known
    else:
        df = math.inf
    half = t_quantile(0.5 + level / 2, df) * math.sqrt(var)
    return Estimate(mean, mean - half, mean + half, math.sqrt(s2), k, math.sqrt(var), df)


def sampling_variance(values: list[list[float]], pseudo: list[float] = ()) -> float:
    """The examples' share of the variance of the mean over seeds and examples, (MS_E - MS_R)/(kn), from the
    two-way table values[seed][example] (the interaction, MS_R, is in the seeds' spread already); `pseudo`:
    examples with the same value on every seed, added to the table (0 and 1 twice: Agresti-Coull)."""
    k = len(values)
    table = [list(row) + list(pseudo) for row in values]
    n = len(table[0])
    if n < 2:
        return 0.0
    grand = sum(map(sum, table)) / (k * n)
    ex_means = [sum(table[s][i] for s in range(k)) / k for i in range(n)]
    ms_e = k * sum((m - grand) ** 2 for m in ex_means) / (n - 1)
    if k < 2:
        return ms_e / n
    seed_means = [sum(row) / n for row in table]
    ss_total = sum((v - grand) ** 2 for row in table for v in row)
    ss_s = n * sum((m - grand) ** 2 for m in seed_means)
    ms_r = max(ss_total - ss_s - (n - 1) * ms_e, 0.0) / ((k - 1) * (n - 1))
    return max(ms_e - ms_r, 0.0) / (k * n)


def accuracy_estimate(outcomes_per_seed: list[list[int]], level: float = 0.95) -> Estimate:
    """An accuracy over seeds from per-example 0/1 outcomes (one list per seed, same examples); the interval is
    clipped to [0, 1]."""
    per_seed = [sum(o) / len(o) for o in outcomes_per_seed]
    if len({len(o) for o in outcomes_per_seed}) == 1:
        sampling = sampling_variance(outcomes_per_seed, (1, 1, 0, 0))
    else:  # seeds evaluated on different examples (another --n): no two-way table; the binomial of the fewest
        n = min(len(o) for o in outcomes_per_seed)
        p = (sum(per_seed) / len(per_seed) * n + 2) / (n + 4)
        sampling = p * (1 - p) / (n + 4)
    est = combine(per_seed, sampling, level)
    return Estimate(est.mean, max(0.0, est.low), min(1.0, est.high), est.sd, est.n_seeds, est.se, est.df)


def difference_estimate(a: list[list[int]], b: list[list[int]], level: float = 0.95) -> Estimate:
    """A - B from per-example outcomes of paired seeds on the same examples (lists in seed order)."""
    if len(a) != len(b):
        raise ValueError("paired seeds needed")
    return contrast_estimate([a, b], [1, -1], level)


def contrast_estimate(arms: list[list[list[int]]], weights: list[float], level: float = 0.95) -> Estimate:
    """sum_k w_k * accuracy_k from per-example outcomes of paired seeds on the same examples (arms[k][seed][i]):
    a difference is weights (1, -1); a least-squares slope over arms 0..K-1 is (k - mean) / sum((k - mean)^2).
    The variance is the seeds' spread of the per-seed contrasts, /k, plus the sampling part of the per-example
    contrasts (their two-way table, as for an accuracy)."""
    k, n = len(arms[0]), len(arms[0][0])
    if any(len(a) != k for a in arms):
        raise ValueError("paired seeds needed")
    table = [[sum(w * a[s][i] for w, a in zip(weights, arms)) for i in range(n)] for s in range(k)]
    per_seed = [sum(row) / n for row in table]
    return combine(per_seed, sampling_variance(table), level)


def p_value(est: Estimate, threshold: float = 0.0) -> float:
    """Two-sided p-value of `mean = threshold`, with the estimate's own degrees of freedom (its interval is
    exactly the set of thresholds this does not reject at 5%)."""
    from scipy import stats

    if est.se == 0:
        return 0.0 if est.mean != threshold else 1.0
    t = abs(est.mean - threshold) / est.se
    return float(2 * (stats.norm.sf(t) if not math.isfinite(est.df) else stats.t.sf(t, est.df)))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error over the list), in the input's order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out, running = [1.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n)


@dataclass(frozen=True)
class Band:
    """The range a retrained copy may land in: the committed seeds' range, widened by z
    binomial standard errors of the evaluation subset."""

    low: float
    high: float
    seeds: tuple[float, ...]
    widen: float

    def contains(self, value: float) -> bool:
        return self.low - 1e-9 <= value <= self.high + 1e-9


def seed_band(values: list[float], n_examples: int, z: float = 2.0) -> Band:
    p = sum(values) / len(values)
    w = z * binomial_se(p, n_examples)
    return Band(max(0.0, min(values) - w), min(1.0, max(values) + w), tuple(values), w)
