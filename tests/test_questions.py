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
