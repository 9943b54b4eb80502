"""Statistics over seeds and the finite evaluation subset.

An accuracy measured for one seed on n fixed test examples varies for two reasons: the
training run (seed) and which n examples were drawn. With k seeds evaluated on the same
subset, the mean over seeds has variance s^2/k (s: the spread over seeds) plus the
subset's sampling variance p(1-p)/n, which the seeds share and cannot average away.
Intervals use Student's t with Welch-Satterthwaite degrees of freedom for that sum
(the sampling part counts as known, i.e. infinite degrees of freedom), so with few
seeds they are as wide as few seeds warrant.

Differences between two arms are paired: the same seeds (a transfer's seed s uses its
source's seed s) and the same test examples. Their variance is the spread over seeds of
the per-seed differences, /k, plus the paired sampling variance var_i(d_i)/n of the
per-example differences (averaged over seeds).
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


def accuracy_estimate(outcomes_per_seed: list[list[int]], level: float = 0.95) -> Estimate:
    """An accuracy over seeds from per-example 0/1 outcomes (one list per seed, same examples).

    The sampling variance uses the Agresti-Coull proportion (k + 2) / (n + 4), so that 0% or
    100% measured on n examples still gets an interval of the right width; the interval is
    clipped to [0, 1].
    """
    per_seed = [sum(o) / len(o) for o in outcomes_per_seed]
    n = len(outcomes_per_seed[0])
    p = (sum(per_seed) / len(per_seed) * n + 2) / (n + 4)
    est = combine(per_seed, p * (1 - p) / (n + 4), level)
    return Estimate(est.mean, max(0.0, est.low), min(1.0, est.high), est.sd, est.n_seeds, est.se, est.df)


def difference_estimate(a: list[list[int]], b: list[list[int]], level: float = 0.95) -> Estimate:
    """A - B from per-example outcomes of paired seeds on the same examples (lists in seed order)."""
    if len(a) != len(b):
        raise ValueError("paired seeds needed")
    n = len(a[0])
    per_seed = [sum(x) / n - sum(y) / n for x, y in zip(a, b)]
    k = len(a)
    d = [sum(a[s][i] - b[s][i] for s in range(k)) / k for i in range(n)]  # per-example difference, seed-averaged
    md = sum(d) / n
    var_d = sum((v - md) ** 2 for v in d) / max(n - 1, 1)
    return combine(per_seed, var_d / n, level)


def contrast_estimate(arms: list[list[list[int]]], weights: list[float], level: float = 0.95) -> Estimate:
    """sum_k w_k * accuracy_k from per-example outcomes of paired seeds on the same examples (arms[k][seed][i]):
    a difference is weights (1, -1); a least-squares slope over arms 0..K-1 is (k - mean) / sum((k - mean)^2).
    As for a difference, the variance is the seeds' spread of the per-seed contrasts, /k, plus the paired
    sampling variance of the per-example contrasts."""
    k, n = len(arms[0]), len(arms[0][0])
    if any(len(a) != k for a in arms):
        raise ValueError("paired seeds needed")
    per_seed = [sum(w * sum(a[s]) / n for w, a in zip(weights, arms)) for s in range(k)]
    d = [sum(w * sum(a[s][i] for s in range(k)) / k for w, a in zip(weights, arms)) for i in range(n)]
    md = sum(d) / n
    var_d = sum((v - md) ** 2 for v in d) / max(n - 1, 1)
    return combine(per_seed, var_d / n, level)


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
