"""Intervals over seeds and the evaluation subset, the training gate's band, claim verdicts."""

import math
import random

import pytest

from benchmark.reports.claim_tests import Test as ClaimTest
from benchmark.stats import accuracy_estimate, combine, difference_estimate, seed_band


def outcomes(p: float, n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [int(rng.random() < p) for _ in range(n)]


def test_interval_counts_seeds_and_subset():
    # no seed spread: the interval is the subset's binomial interval (~ +-1.96 sqrt(p(1-p)/n))
    est = combine([0.5, 0.5, 0.5], 0.25 / 1000)
    assert est.half_width == pytest.approx(1.96 * math.sqrt(0.25 / 1000), rel=1e-3)
    # seed spread widens it, and with 3 seeds t (not the normal quantile) applies
    wide = combine([0.4, 0.5, 0.6], 0.25 / 1000)
    assert wide.half_width > est.half_width + 0.05
    assert wide.df < 10
    # one seed: only the sampling part, never a zero-width interval
    one = accuracy_estimate([[1] * 200])
    assert one.high == 1.0 and one.low < 0.99


def test_paired_difference_is_tighter_than_unpaired():
    base = [outcomes(0.6, 1000, s) for s in range(3)]
    # B equals A except on 30 examples per seed: the paired interval sees only those
    other = [list(o) for o in base]
    for o in other:
        for i in range(30):
            o[i] = 0
    est = difference_estimate(base, other)
    assert est.low > 0, est
    unpaired = math.sqrt(2 * 0.24 / 1000) * 1.96
    assert est.half_width < unpaired


def test_band_contains_seeds_and_rejects_far_values():
    band = seed_band([0.20, 0.24, 0.22], 200)
    assert band.contains(0.20) and band.contains(0.24)
    assert band.contains(0.24 + 0.9 * band.widen) and not band.contains(0.24 + 1.1 * band.widen)
    assert band.widen == pytest.approx(2 * math.sqrt(0.22 * 0.78 / 200))


def test_claim_verdicts_follow_the_interval():
    sure = combine([0.10, 0.11, 0.12], 0.0001)
    assert ClaimTest("x > 0", sure, +1).verdict == "reproduced"
    assert ClaimTest("x < 0", sure, -1).verdict == "contradicted"
    unsure = combine([-0.05, 0.0, 0.06], 0.0004)
    assert ClaimTest("x > 0", unsure, +1).verdict == "inconclusive"
    assert ClaimTest("x > 0", None, +1).verdict == "missing"


def test_verdicts_on_fewer_seeds_than_fixed_are_provisional_and_fewer_than_three_missing():
    import pandas as pd

    from benchmark.reports.claim_tests import Claim, _rows, diff

    sure = combine([0.10, 0.11, 0.12], 0.0001)
    short = ClaimTest("x > 0", sure, +1, seeds=3, need=10)
    assert short.verdict == "reproduced" and short.label == "reproduced (provisional: 3 of 10 seeds)"
    assert ClaimTest("x > 0", sure, +1, seeds=10, need=10).label == "reproduced"
    claim = Claim("a", "s", [short, ClaimTest("y > 0", sure, +1, seeds=10, need=10)])
    assert claim.final == "reproduced" and claim.verdict == "reproduced (provisional: 3 of 10 seeds)"

    def agg(seeds):
        rows = [{"protocol": "p", "model": m, "seeds": list(seeds), "clean_outcomes": [[1] * 20] * len(seeds),
                 "robust_outcomes": [[int(i < k) for i in range(20)]] * len(seeds)} for m, k in (("a", 15), ("b", 5))]
        return pd.DataFrame(rows)

    for seeds, expect in (([0, 1], None), ([0, 1, 2], 3), (range(10), None)):
        est, _, n = diff(_rows(agg(seeds), "p", 10), "a", "b")
        assert (est is None) == (len(seeds) < 3)
        if est is not None:
            assert ClaimTest("a - b > 0", est, +1, **n).provisional == (expect is not None)


def test_flip_tolerance_applies_unless_the_machines_are_of_one_kind():
    from benchmark.gate import allowed_flips
    from benchmark.io import machine

    here = machine()
    ref = {"machine": here, "protocol": {"flip_tolerance": 3}}
    assert allowed_flips(ref, {"machine": dict(here), "protocol": {"flip_tolerance": 3}}) == 0
    for key in ("cpu_flags", "cpu_model", "threads", "cpu_capability", "dnnl_max_cpu_isa"):
        other = {**here, key: f"not {here[key]}"}
        assert allowed_flips(ref, {"machine": other, "protocol": {"flip_tolerance": 3}}) == 3, key
    old = {k: v for k, v in here.items() if k not in ("cpu_model", "cpu_flags")}  # a record from before the fields
    assert allowed_flips({"machine": old}, {"machine": here, "protocol": {"flip_tolerance": 3}}) == 3


def test_holm_adjusts_step_down_and_keeps_the_order():
    from benchmark.stats import holm

    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5] and holm([]) == []
    assert max(holm([0.9, 0.8, 0.7])) <= 1.0


def test_a_test_significant_alone_but_not_after_holm_is_inconclusive():
    from benchmark.stats import Estimate, p_value

    est = Estimate(0.02, 0.004, 0.036, 0.01, 5, 0.008, 30.0)     # excludes 0 on its own (p ~ 0.018)
    assert 0.01 < p_value(est) < 0.05
    t = ClaimTest("x > 0", est, +1)
    assert t.verdict == "reproduced"
    t.p_adjusted = 0.054
    assert t.verdict == "inconclusive"
    t.p_adjusted = 0.03
    assert t.verdict == "reproduced"


def test_a_contrast_is_a_difference_or_a_slope():
    from benchmark.stats import contrast_estimate

    a, b = [outcomes(0.7, 400, s) for s in range(4)], [outcomes(0.4, 400, s + 9) for s in range(4)]
    d1, d2 = contrast_estimate([a, b], [1, -1]), difference_estimate(a, b)
    assert (d1.mean, d1.low, d1.high) == pytest.approx((d2.mean, d2.low, d2.high))
    # a linear fall of 10 points per step over 4 arms: the slope is -0.1, its interval excludes 0
    arms = [[outcomes(0.8 - 0.1 * k, 2000, 10 * k + s) for s in range(4)] for k in range(4)]
    slope = contrast_estimate(arms, [(k - 1.5) / 5 for k in range(4)])
    assert slope.mean == pytest.approx(-0.1, abs=0.02) and slope.high < 0


def test_the_variance_counts_the_seed_by_example_interaction_once():
    """Seed effects, example effects and their interaction with known variances: the estimated variance of the
    mean (the seeds' spread / k plus the sampling part) matches the spread of the mean over many replications, and
    counting the examples' whole mean square (the interaction twice) would overstate it."""
    from benchmark.stats import sampling_variance

    rng = random.Random(0)
    k, n, sd_s, sd_e, sd_se = 4, 60, 0.05, 0.3, 0.5
    means, estimated, doubled = [], [], []
    for _ in range(600):
        a = [rng.gauss(0, sd_s) for _ in range(k)]
        b = [rng.gauss(0, sd_e) for _ in range(n)]
        table = [[a[s] + b[i] + rng.gauss(0, sd_se) for i in range(n)] for s in range(k)]
        per_seed = [sum(row) / n for row in table]
        means.append(sum(per_seed) / k)
        m = means[-1]
        s2 = sum((v - m) ** 2 for v in per_seed) / (k - 1)
        estimated.append(s2 / k + sampling_variance(table))
        ex = [sum(table[s][i] for s in range(k)) / k for i in range(n)]
        doubled.append(s2 / k + sum((v - m) ** 2 for v in ex) / (n - 1) / n)
    truth = sd_s ** 2 / k + sd_e ** 2 / n + sd_se ** 2 / (k * n)
    mean_of_means = sum(means) / len(means)
    empirical = sum((v - mean_of_means) ** 2 for v in means) / (len(means) - 1)
    assert sum(estimated) / len(estimated) == pytest.approx(truth, rel=0.05)
    assert empirical == pytest.approx(truth, rel=0.15)
    assert sum(doubled) / len(doubled) > 1.1 * truth


def test_a_level_at_zero_keeps_an_interval_and_one_seed_is_the_binomial():
    zero = accuracy_estimate([[0] * 300] * 5)
    assert zero.low == 0.0 and 0.005 < zero.high < 0.02
    half = accuracy_estimate([[i % 2 for i in range(1000)]])
    assert half.half_width == pytest.approx(1.96 * math.sqrt(0.25 / 1000), rel=0.02)


def test_seeds_on_different_numbers_of_examples_still_get_an_interval():
    est = accuracy_estimate([[1, 0] * 15, [1, 1, 0, 0] * 5])
    assert 0 < est.low < est.mean < est.high < 1
