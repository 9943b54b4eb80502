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


def test_the_screen_section_compares_quick_and_full_example_by_example():
    """Per model: robust under each protocol on the seeds both have, and on the examples both evaluated, what the
    screen called robust that the full protocol broke (and the reverse)."""
    import pandas as pd

    from benchmark.reports.analysis import screen_section

    def rec(proto, model, seeds, index, robust):
        return {"protocol": proto, "model": model, "seeds": seeds, "index": [index] * len(seeds),
                "robust_outcomes": robust, "clean_outcomes": [[1] * len(index)] * len(seeds)}

    agg = pd.DataFrame([
        rec("quick", "lin", [0, 1], [3, 5, 7], [[1, 1, 0], [1, 0, 0]]),
        rec("full", "lin", [0, 1, 2], [1, 3, 5, 7, 9], [[1, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 0, 0, 0, 0]]),
        rec("quick", "only_quick", [0], [3], [[1]])])
    lines = screen_section(agg, {"name": "f", "roles": {"linear": "lin", "source": "only_quick"}}, "quick", "full")
    row = next(line for line in lines if line.startswith("| `lin`"))
    # seed 0: example 3 robust in quick, broken in full (missed); seed 1: example 7 broken in quick, robust in full
    assert "| 0, 1 |" in row and row.endswith("| 1 | 1 | 6 |")
    assert not any("only_quick" in line for line in lines)     # no full-protocol record: nothing to compare
    assert lines[-2] == "| all | | | | | 1 | 1 | 6 |"


def test_claim_c_tests_the_front_only_once_it_has_the_fixed_seeds():
    from benchmark.reports.claim_tests import Rows, lwf_role

    roles = {"lwf": "lwf", "lwf_front": "front"}
    rows = Rows({"lwf": {"seeds": list(range(10))}, "front": {"seeds": [0, 1, 2], "lwf_distance": "l2sq",
                                                               "lwf_lambda": 1.0}})
    rows.need = 10
    name, note, front = lwf_role(rows, roles)
    assert name == "lwf" and "has 3 of its 10 seeds" in note and not front
    rows["front"]["seeds"] = list(range(10))
    name, note, front = lwf_role(rows, roles)
    assert name == "front" and "the l2sq penalty at lambda 1" in note and front
    assert lwf_role(rows, {"lwf": "lwf"}) == ("lwf", None, False)


def test_seeds_that_did_not_learn_are_a_failure_rate_beside_the_mean():
    import math

    from benchmark.reports.frame import did_not_learn

    row = {"seeds": [0, 1, 2, 3], "n_classes": 5, "strategy": "pgd_at",
           "final_loss": [0.2, math.log(5) * 0.999, 0.5, None],
           "clean_outcomes": [[1] * 9 + [0], [1] * 5 + [0] * 5, [1] * 8 + [0] * 2, [1] * 2 + [0] * 8]}
    # seed 1 ended at a uniform guess's loss; seed 3 has no training record and is at chance
    assert did_not_learn(row, [0, 1, 2, 3]) == [1, 3]
    assert did_not_learn({**row, "strategy": "lwf"}, [0, 1, 2, 3]) == [3]   # LwF's loss holds its penalty


def test_a_half_of_the_seeds_keeps_every_per_seed_list_with_its_seed():
    """A confirmatory half (seeds 2-3 here) cuts every per-seed list of a row: a loss left whole once paired the
    half's first seed with seed 0's training loss, and the report named the wrong seeds as failed."""
    import math

    import pandas as pd

    from benchmark.reports.claim_tests import PER_SEED, _rows
    from benchmark.reports.frame import did_not_learn

    row = {"protocol": "p", "model": "m", "seeds": [0, 1, 2, 3], "n_classes": 5, "strategy": "pgd_at",
           "final_loss": [math.log(5), math.log(5), 0.1, math.log(5)],
           "clean_outcomes": [[s] * 4 for s in range(4)], "robust_outcomes": [[s] * 4 for s in range(4)],
           "index": [[s] * 4 for s in range(4)], "guards_by_seed": [{"seed": s} for s in range(4)]}
    cut = _rows(pd.DataFrame([row]), "p", seeds=[2, 3])["m"]
    assert cut["seeds"] == [2, 3] and did_not_learn(cut, [2, 3]) == [3]
    for key in PER_SEED[1:]:
        assert [v if isinstance(v, float) else (v["seed"] if isinstance(v, dict) else v[0]) for v in cut[key]] \
            == ([0.1, math.log(5)] if key == "final_loss" else [2, 3]), key


def test_the_front_section_shows_every_setting_the_floor_and_the_selection(tmp_path):
    import json

    from benchmark.reports.analysis import front_section

    (tmp_path / "tuning").mkdir()
    configs = [{"values": {"lwf_distance": d, "lwf_lambda": lam}, "clean": c, "robust": r}
               for d, lam, c, r in (("l1", 0.1, 0.92, 0.10), ("l1", 1.0, 0.85, 0.40), ("l2sq", 1.0, 0.91, 0.20))]
    (tmp_path / "tuning" / "front.json").write_text(json.dumps({
        "configs": configs, "selected": configs[2]["values"], "grid": {"lwf_distance": [], "lwf_lambda": []},
        "tuning_seeds": [0, 1], "budget": 6, "validation": {"n_examples": 1000},
        "clean_floor": {"entry": "lin", "clean": 0.90, "selected": {}}}))
    lines = front_section({"name": "f", "roles": {"lwf_front": "front"}}, tmp_path)
    assert "| **l2sq** | **1** | 91.0 | 20.0 | yes |" in lines
    assert "| l1 | 1 | 85.0 | 40.0 | no |" in lines                    # more robust, but below the floor
    assert any("at least as accurate as `lin` (90.0% clean, its selection tuned on the same seeds)" in line
               for line in lines)
    assert "Not tuned yet" in front_section({"name": "f", "roles": {"lwf_front": "other"}}, tmp_path)[2]


def test_the_full_protocol_claims_run_beside_the_verdicts_once_every_role_has_three_seeds(monkeypatch):
    """While the verdicts still come from the screen, the claims are also computed under the analysis' protocol on
    the seeds it has (provisional): every role needs three, and (c) tests the LwF the screen's verdict tested."""
    import pandas as pd

    from benchmark.reports import claims as md
    from benchmark.reports import verdicts as cl
    from benchmark.reports.claim_tests import Claim, Test

    def rec(model, seeds):
        return {"protocol": "full", "model": model, "seeds": seeds, "robust_outcomes": [[1]] * len(seeds),
                "clean_outcomes": [[1]] * len(seeds)}

    seen = {}
    monkeypatch.setattr(cl, "_family_claims", lambda rows, family, roles: seen.setdefault("roles", roles) and ["ok"])
    family = {"seeds": 10, "verdict_protocol": "quick", "analysis": {"protocol": "full"},
              "roles": {"linear": "lin", "lwf": "lwf", "lwf_front": "front", "low_data": {10: {"transfer": "t10",
                                                                                           "also": ["x"]}}}}
    screen = [Claim("a", ""), Claim("b", ""), Claim("c", "", tests=[Test("robust(front) - robust(ft) > 0", None, +1)],
                                                       lwf="front")]
    agg = pd.DataFrame([rec("lin", [0, 1, 2, 3]), rec("front", [0, 1, 2]), rec("t10", [0, 1])])
    prov = cl.provisional_full(agg, family, screen)
    assert prov["seeds"] == 2 and prov["short"] == ["t10"] and "claims" not in prov
    lines = md.provisional_section({**family, "name": "f", "provisional_full": prov})
    assert "Not yet: fewer than 3 seeds under `full` of `t10` (2)." in lines
    agg = pd.DataFrame([rec("lin", [0, 1, 2, 3]), rec("front", [0, 1, 2]), rec("t10", [0, 1, 2])])
    prov = cl.provisional_full(agg, family, screen)
    assert prov["seeds"] == 3 and prov["claims"] == ["ok"] and prov["screen_claims"] == ["ok"]
    assert seen["roles"]["lwf"] == "front" and "lwf_front" not in seen["roles"]      # the LwF the screen tested
    assert cl.provisional_full(agg, {**family, "verdict_protocol": "full"}, screen) is None   # switched: nothing beside


def test_verdicts_switch_to_the_full_protocol_once_the_roles_the_tests_use_have_every_fixed_seed():
    import pandas as pd

    from benchmark.reports import verdicts as cl

    def rec(model, seeds):
        return {"protocol": "full", "model": model, "seeds": seeds, "robust_outcomes": [[1]] * len(seeds),
                "clean_outcomes": [[1]] * len(seeds), "lwf_distance": "l1", "lwf_lambda": 0.1}

    family = {"seeds": 3, "analysis": {"protocol": "full"},
              "roles": {"linear": "lin", "lwf": "grid", "lwf_front": "front",
                        "low_data": {10: {"transfer": "t10", "scratch": "s10", "also": ["x"]}}}}
    full = [rec("lin", [0, 1, 2]), rec("t10", [0, 1, 2]), rec("s10", [0, 1, 2])]
    # the front short of its seeds: (c) would test the grid's LwF, which has none there: wait
    agg = pd.DataFrame(full + [rec("front", [0, 1])])
    assert cl.verdict_protocol(agg, family, "quick") == "quick"
    # the front complete: (c) tests it, and the grid's LwF (and the low-data pair's `also`) are not waited for
    agg = pd.DataFrame(full + [rec("front", [0, 1, 2])])
    assert cl.verdict_protocol(agg, family, "quick") == "full"
    # a role the tests use short of a seed: wait
    agg = pd.DataFrame(full[:2] + [rec("s10", [0, 1]), rec("front", [0, 1, 2])])
    assert cl.verdict_protocol(agg, family, "quick") == "quick"
    # no front in the family: the grid's LwF is the one tested, so it is waited for
    agg = pd.DataFrame(full + [rec("grid", [0, 1, 2])])
    assert cl.verdict_protocol(agg, {**family, "roles": {k: v for k, v in family["roles"].items()
                                                         if k != "lwf_front"}}, "quick") == "full"


def test_once_switched_the_page_shows_each_claim_test_under_the_screen_on_the_same_seeds(monkeypatch):
    import pandas as pd

    from benchmark.reports import claims as md
    from benchmark.reports import verdicts as cl
    from benchmark.reports.claim_tests import Claim, Test

    seen = {}

    def fake_claims(rows, family, roles):
        seen.update(rows=rows, roles=roles)
        return [Claim("c", "", tests=[Test("robust(front) - robust(ft) > 0", None, +1)])]

    monkeypatch.setattr(cl, "_family_claims", fake_claims)
    family = {"seeds": 2, "verdict_protocol": "full", "roles": {"lwf": "grid", "lwf_front": "front"}}
    agg = pd.DataFrame([{"protocol": p, "model": "front", "seeds": [0, 1, 2], "robust_outcomes": [[1]] * 3,
                         "clean_outcomes": [[1]] * 3} for p in ("full", "quick")])
    verdict = [Claim("c", "", tests=[Test("robust(front) - robust(ft) > 0", None, +1)], lwf="front")]
    same = cl.screen_beside(agg, family, verdict, "quick")
    assert seen["roles"]["lwf"] == "front" and "lwf_front" not in seen["roles"]      # the LwF the verdict tested
    assert list(seen["rows"]) == ["front"] and seen["rows"]["front"]["seeds"] == [0, 1]   # the screen, fixed seeds
    lines = md.screen_beside_section({**family, "name": "f", "screen_beside": same}, verdict, "quick")
    assert lines[0] == "### The claims under the screen, `quick`, on the same seeds (f)"
    assert "| `full` (the verdict) | its verdict | `quick` | its verdict |" in lines[4]
    assert cl.screen_beside(agg, {**family, "verdict_protocol": "quick"}, verdict, "quick") is None  # not switched
