"""claims.md's analyses: the (b) chain table carries the guards' evidence on the chain's shared seeds."""

from benchmark.reports.analysis import blocks_section


def _row(name, seeds, robust, clean, guards):
    return {"model": name, "seeds": seeds,
            "robust_outcomes": [[1] * r + [0] * (10 - r) for r in robust],
            "clean_outcomes": [[1] * c + [0] * (10 - c) for c in clean], "guards_by_seed": guards}


def test_blocks_chain_reports_guards_on_the_shared_seeds_only():
    g = [{"square_attacked": 4, "square_broken": 1, "pgd_2x_eps": 0.1, "flags": ""},
         {"square_attacked": 6, "square_broken": 0, "pgd_2x_eps": 0.3, "flags": "gradient masking?"},
         {"square_attacked": 100, "square_broken": 50, "pgd_2x_eps": 0.9, "flags": "large eps"}]
    rows = {"lin": _row("lin", [0, 1, 2], [4, 6, 9], [9, 9, 9], g),
            "r1": _row("r1", [0, 1], [2, 3], [9, 8], [None, g[1]])}
    family = {"roles": {"linear": "lin", "retrain": ["r1"]}}
    lines = blocks_section(rows, {}, family)
    lin = next(line for line in lines if line.startswith("| `lin`"))
    r1 = next(line for line in lines if line.startswith("| `r1`"))
    # seed 2 (only the linear head has it) is left out of every column, the guards' included
    assert "40.0, 60.0 |" in lin and "| 1 of 10 | 20.0% | gradient masking? |" in lin
    assert "| 0 of 6 | 30.0% | gradient masking? |" in r1


def test_data_size_leaves_out_points_and_differences_with_fewer_than_three_seeds():
    from benchmark.reports import datasize

    sizes = [10, 25, 100]
    family = {"data_size": {"sizes": sizes, "arms": {"linear": "linear head", "adv_scratch": "scratch"},
                            "transfer": ["linear"], "baseline": "adv_scratch",
                            "entries": {a: {n: f"p_{a}_n{n}" for n in sizes} for a in ("linear", "adv_scratch")}}}
    rows = {"p_linear_n10": _row("p_linear_n10", [0, 1, 2], [3, 4, 5], [9, 9, 9], None),
            "p_adv_scratch_n10": _row("p_adv_scratch_n10", [0, 1, 2], [6, 7, 8], [9, 9, 9], None),
            "p_linear_n25": _row("p_linear_n25", [0, 1, 2], [3, 3, 3], [9, 9, 9], None),
            # one seed: its interval would hold no spread over seeds
            "p_adv_scratch_n25": _row("p_adv_scratch_n25", [0], [9], [9], None),
            "p_linear_n100": _row("p_linear_n100", [0, 1, 2, 3], [2, 3, 4, 3], [9, 9, 9, 9], None),
            "p_adv_scratch_n100": _row("p_adv_scratch_n100", [0, 1, 2], [9, 8, 9], [9, 9, 9], None)}
    too_few: list[str] = []
    curves = datasize.curves(rows, family, too_few=too_few)
    assert [p.size for p in curves["adv_scratch"]] == [10, 100] and [p.size for p in curves["linear"]] == [10, 25, 100]
    assert too_few == ["p_adv_scratch_n25 (1 seed)"]
    c = datasize.crossover(rows, family, "linear")
    assert [size for size, _ in c.rows] == [10, 100]
    assert c.rows[1][1].n_seeds == 3   # only the seeds both arms have


def test_crossover_text_calls_a_side_ahead_only_where_its_interval_excludes_zero():
    from benchmark.reports.datasize import _crossover_text
    from benchmark.stats import Estimate

    def est(mean, low, high):
        return Estimate(mean, low, high, 0.0, 5, 0.0, 4.0)

    text = _crossover_text([(10, est(0.16, 0.12, 0.20)), (100, est(0.026, -0.005, 0.057))], "adv FT")
    assert "do not cross" in text and "transfer is ahead at 10 (significant), level at 100" in text
    text = _crossover_text([(10, est(-0.06, -0.11, -0.01)), (100, est(-0.28, -0.33, -0.22))], "linear")
    assert "adversarial training from scratch is ahead at every size (2 of 2 differences significant)" in text
    # the means cross, but transfer never leads significantly: no crossover is claimed
    text = _crossover_text([(10, est(0.03, -0.01, 0.07)), (25, est(-0.12, -0.20, -0.05))], "LwF")
    assert "no crossover is claimed" in text and "cross at about" not in text
    assert "adversarial training from scratch is ahead at 25 (significant), level at 10" in text
    # each side significantly ahead somewhere: a crossover, with where it can lie at 95%
    text = _crossover_text([(10, est(0.08, 0.02, 0.14)), (25, est(0.01, -0.03, 0.05)),
                            (50, est(-0.12, -0.20, -0.05))], "LwF")
    assert "cross at about" in text and "[10, 50]" in text
