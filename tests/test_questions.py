"""Questions beyond the paper (issue 44): written as tests with their margin before their arms' seeds are
trained, read by one rule, on the page for every family that asks them."""

import subprocess
from pathlib import Path

import pytest
import yaml

from benchmark.paths import repo_root
from benchmark.reports.questions import verdict
from benchmark.stats import Estimate

STUDIES = ("studies/fmnist_wrn.yaml", "studies/fmnist_rev.yaml")


def est(mean, low, high):
    return Estimate(mean, low, high, 0.0, 5, (high - low) / 3.92, 10.0)


@pytest.mark.parametrize("estimate,test,p,expected", [
    (None, "superior", None, "missing data"),
    (est(0.03, 0.01, 0.05), "superior", 0.01, "supported"),
    (est(0.03, 0.01, 0.05), "superior", 0.2, "inconclusive"),          # Holm took it back
    (est(-0.03, -0.05, -0.01), "superior", 0.01, "contradicted"),
    (est(-0.02, -0.04, 0.0), "non_inferior", 0.01, "supported"),       # above -5 points
    (est(-0.09, -0.12, -0.06), "non_inferior", 0.001, "contradicted"),
    (est(-0.04, -0.08, 0.0), "non_inferior", 0.3, "inconclusive"),
    (est(-0.03, -0.05, -0.01), "inferior", 0.01, "supported"),
    (est(0.03, 0.01, 0.05), "inferior", 0.01, "contradicted"),
])
def test_one_rule_reads_every_question(estimate, test, p, expected):
    assert verdict(estimate, test, 0.05, p, 0.05) == expected


@pytest.mark.parametrize("path", STUDIES)
def test_every_question_names_entries_the_zoo_has(path):
    from benchmark.studies.families import project_report_config
    from benchmark.zoo import load_entries

    entries = load_entries()
    families = [f for f in project_report_config()["families"] if f.get("file") == path]
    assert families and families[0]["questions"]["seeds"] == [0, 1, 2, 3, 4]
    tests = families[0]["questions"]["tests"]
    assert len(tests) == 17 and len({t["id"] for t in tests}) == 17
    assert all(t["a"] in entries and t["b"] in entries for t in tests)
    # adversarial PEFT against adversarial fine-tuning at every size of the data-size report
    sizes = {t["a"].rsplit("_n", 1)[-1] if "_n" in t["a"] else "all" for t in tests if "_at" in t["a"]}
    assert sizes == {"10", "25", "50", "100", "250", "all"}


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("path", STUDIES)
def test_the_questions_are_as_frozen_and_their_arms_were_trained_after(path):
    now = yaml.safe_load((repo_root() / path).read_text())
    questions = dict(now["questions"])
    commit = questions.pop("analysis_commit")
    try:
        _git("cat-file", "-e", f"{commit}^{{commit}}")
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip(f"the questions' commit {commit[:12]} is not in this clone's history (a shallow clone?)")
    then = yaml.safe_load(_git("show", f"{commit}:{path}"))
    assert then["questions"] == questions
    arms = ("lora", "bitfit", "lora_at", "bitfit_at")
    assert all(then["arms"][a] == now["arms"][a] for a in arms + ("adv_finetune",))
    prefix = now["names"].replace("{arm}", "")
    tracked = _git("ls-tree", "-r", "--name-only", commit, "results/training", "results/tuning").split()
    early = [p for p in tracked if any(Path(p).parent.name == prefix + a or Path(p).stem == prefix + a
                                       or Path(p).parent.name.startswith(f"{prefix}{a}_n")
                                       or Path(p).stem.startswith(f"{prefix}{a}_n") for a in arms)]
    assert not early, f"seeds of the questions' arms trained before their commit: {early[:3]}"


def test_the_corruption_answer_pairs_seeds_and_correlates_ranks():
    """Each model minus its source, seed by seed; the same head on the natural source beside it; Spearman per seed
    across the models, then its interval over seeds (a t interval: the spread over seeds, nothing more)."""
    import pandas as pd

    from benchmark.reports.corruption_answer import corruption_answer, corruption_answer_lines

    seeds = [0, 1, 2]
    corr = {"src": [0.50, 0.52, 0.54], "nat": [0.45, 0.45, 0.45], "lin": [0.56, 0.57, 0.61], "natlin": [0.40, 0.41, 0.42]}
    robust = {"src": 0.6, "nat": 0.0, "lin": 0.4, "natlin": 0.01}
    records = [{"model": m, "seed": s, "corruption_accuracy": v[s], "protocol": {"name": "c", "version": 1}}
               for m, v in corr.items() for s in seeds]
    records += [{"model": "lin", "seed": 0, "corruption_accuracy": 0.0, "protocol": {"name": "c", "version": 0}}]
    agg = pd.DataFrame([{"protocol": "q", "model": m, "source": {"lin": "src", "natlin": "nat"}.get(m), "seeds": seeds,
                         "robust_outcomes": [[1] * int(100 * robust[m]) + [0] * (100 - int(100 * robust[m]))] * 3}
                        for m in corr])
    family = {"roles": {"source": "src", "linear": "lin", "linear_natural_source": "natlin"},
              "questions": {"seeds": seeds, "protocol": "q", "tests": []}}
    answer = corruption_answer(agg, family, records)
    by = {(d["model"], d["minus"]): d["estimate"] for d in answer["differences"]}
    assert by[("lin", "src")].mean == pytest.approx((0.06 + 0.05 + 0.07) / 3)   # version 0's record is left out
    assert by[("natlin", "nat")].mean == pytest.approx(-0.04)
    assert by[("lin", "natlin")].mean == pytest.approx((0.16 + 0.16 + 0.19) / 3)
    # ranks by corruption: natlin < nat < src < lin on seeds 0-2; by robustness: nat < natlin < lin < src
    assert answer["spearman"]["per_seed"] == pytest.approx([0.6] * 3) and answer["spearman"]["estimate"].mean == pytest.approx(0.6)
    text = "\n".join(corruption_answer_lines(answer))
    assert "| `lin` | `natlin` | the same head on the natural source (same task) | 17.0 [" in text and "0.60 [0.60, 0.60]" in text
    answer = corruption_answer(agg, {**family, "questions": {**family["questions"], "seeds": [0, 1]}}, records)
    assert corruption_answer_lines(answer)[0].startswith("Corruptions: not answered yet")  # 2 seeds: no interval
