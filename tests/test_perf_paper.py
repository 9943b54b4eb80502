"""`perf --paper` on the CPU: every measurement runs and the projections follow from the recipes."""

import math

import pytest


def test_paper_perf_measures_ours_bare_and_attacks_on_cpu():
    from benchmark.perf.paper import PaperPerfOptions, run

    lines = []
    out = run(["preact_resnet18"], ["natural", "free_at"], PaperPerfOptions(batch=2, steps=1, warmup=1),
              log=lines.append)
    assert set(out["rates"]) == {"preact_resnet18/natural", "preact_resnet18/free_at"}
    assert all(v > 0 and math.isfinite(v) for v in out["rates"].values())
    text = "\n".join(lines)
    assert "ours/bare" in text and "apgd-ce" in text and "apgd-t" in text and "pgd (ours)" in text


def test_projection_is_steps_times_batch_over_the_measured_rate():
    from benchmark.perf.paper import project_entries
    from benchmark.zoo import load_entries

    entries = load_entries()
    rows = {r["model"]: r for r in project_entries({("wrn_32_10", "free_at"): 100.0,
                                                   ("wrn_32_10", "natural"): 400.0}, entries)}
    src = rows["cifar100_wrn_free_source"]
    recipe = entries["cifar100_wrn_free_source"].parsed_recipe()
    assert src["hours"] == pytest.approx(src["optimizer_steps"] * recipe.batch_size / 100.0 / 3600)
    assert src["optimizer_steps"] > 0
    # LwF costs the natural step plus a frozen forward (factor 1.5)
    lwf = rows["lwf_cifar100"]
    r = entries["lwf_cifar100"].parsed_recipe()
    assert lwf["hours"] == pytest.approx(lwf["optimizer_steps"] * r.batch_size / 400.0 * 1.5 / 3600)
