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
