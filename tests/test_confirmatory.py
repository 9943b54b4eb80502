"""The confirmatory replication: the analysis frozen in a commit before any fresh seed, the verdicts from the fresh
seeds alone, the exploratory half beside them, and (c) and (e) read as the paper words them."""

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmark.paths import repo_root

FAMILIES = ("studies/fmnist_wrn.yaml", "studies/fmnist_cnn.yaml", "studies/fmnist_rev.yaml")


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, check=True).stdout


def _history_or_skip(commit: str):
    try:
        _git("cat-file", "-e", f"{commit}^{{commit}}")
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip(f"the analysis commit {commit[:12]} is not in this clone's history (a shallow clone?)")


def _frozen(claims: dict) -> dict:
    """What the freeze covers: the analysis, the roles, the seeds of both halves, the exploratory roles."""
    return {k: claims.get(k) for k in ("analysis", "roles", "seeds", "confirmatory_seeds", "exploratory_roles")}


@pytest.mark.parametrize("path", FAMILIES)
def test_the_analysis_roles_and_seeds_are_as_frozen_in_their_commit(path):
    now = yaml.safe_load((repo_root() / path).read_text())
    commit = now["claims"]["analysis_commit"]
    _history_or_skip(commit)
    then = yaml.safe_load(_git("show", f"{commit}:{path}"))
    assert _frozen(then["claims"]) == _frozen(now["claims"])
    # the arms the new claims test, their recipes and tuning budgets included
    for role in ("lwf", "lwf_self"):
        arm = now["claims"]["roles"][role]
        assert then["arms"][arm] == now["arms"][arm], f"{path}: arm {arm} changed since the analysis was frozen"


@pytest.mark.parametrize("path", FAMILIES)
def test_no_confirmatory_seed_was_trained_or_tuned_before_the_analysis_was_frozen(path):
    study = yaml.safe_load((repo_root() / path).read_text())
    claims = study["claims"]
    commit = claims["analysis_commit"]
    _history_or_skip(commit)
    first, count = claims["seeds"], claims["confirmatory_seeds"]
    prefix = study["names"].replace("{arm}", "")
    tracked = _git("ls-tree", "-r", "--name-only", commit, "results/training", "results/tuning").split()
    fresh = [f"seed{s}.json" for s in range(first, first + count)]
    early = [p for p in tracked if p.startswith(f"results/training/{prefix}") and Path(p).name in fresh
             and not Path(p).parent.name.startswith(prefix + "rich")]
    assert not early, f"confirmatory seeds trained before the analysis commit: {early[:3]}"
    for role in ("lwf", "lwf_self"):
        assert f"results/tuning/{prefix}{claims['roles'][role]}.json" not in tracked


def test_the_verdicts_come_from_the_confirmatory_seeds_and_the_exploratory_half_stands_beside_them():
    from benchmark.reports.claims import halves_summary
    from benchmark.reports.verdicts import evaluate_claims

    def rec(model, seeds, robust, clean=0.9):
        n = 100
        return {"protocol": "full", "model": model, "seeds": list(seeds), "lwf_distance": "l2sq", "lwf_lambda": 1.0,
                "robust_outcomes": [[1] * int(robust * n + s % 3) + [0] * (n - int(robust * n + s % 3)) for s in seeds],
                "clean_outcomes": [[1] * int(clean * n + s % 2) + [0] * (n - int(clean * n + s % 2)) for s in seeds],
                "cost": 1.0, "strategy": "x", "n_classes": 5}

    roles = {"source": "src", "linear": "lin", "linear_natural_source": "nat", "retrain": ["r1"], "lwf": "front2",
             "lwf_self": "self", "finetune": "ft", "low_data": {10: {"transfer": "t10", "scratch": "s10"}}}
    family = {"name": "f", "seeds": 4, "exploratory_seeds": 4, "confirmatory_seeds": 4,
              "exploratory_roles": {"lwf": "front1"}, "roles": roles,
              "analysis": {"protocol": "full", "margin": 0.05, "multiple_comparisons": "holm"}}
    explo, conf = range(0, 4), range(4, 8)
    every = list(explo) + list(conf)
    records = [rec("src", every, 0.6), rec("lin", every, 0.4), rec("nat", every, 0.0), rec("r1", every, 0.3),
               rec("ft", every, 0.0, 0.97), rec("t10", every, 0.3), rec("s10", every, 0.5),
               # the new front: robust 2 points below the linear head (inside the margin), clean higher
               rec("front2", conf, 0.38, 0.95),
               # the exploratory half's LwF: 20 points below it (outside the margin)
               rec("front1", explo, 0.2, 0.95),
               # LwF on the source task: clean higher than the source's, robust 20 points lower
               rec("self", conf, 0.4, 0.95)]
    agg = pd.DataFrame(records)
    [(fam, claims)] = evaluate_claims(agg, {"families": [family], "protocol": "quick"})
    by = {c.key: c for c in claims}
    assert fam["verdict_protocol"] == "full"
    c = by["c"]
    assert [t.decides for t in c.tests] == [True, True, False]       # natural fine-tuning: the reference only
    assert c.tests[0].threshold == -0.05 and c.tests[0].estimate.mean == pytest.approx(-0.02)
    assert c.tests[0].per_seed.endswith("(seeds [4, 5, 6, 7])")      # the confirmatory seeds alone
    assert c.lwf == "front2" and c.lwf_is_front
    e = by["e"]
    assert e.tests[0].text == "clean(self) - clean(src) > 0" and e.tests[1].threshold == -0.05
    assert e.tests[1].verdict == "contradicted"                      # 20 points below: inferior beyond the margin
    explo_c = next(x for x in fam["exploratory"] if x.key == "c")
    assert explo_c.lwf == "front1" and explo_c.tests[0].verdict == "contradicted"
    assert next(x for x in fam["exploratory"] if x.key == "e").final == "missing data"   # no exploratory (e) arm
    lines = halves_summary([(fam, claims)])
    assert any(line.startswith("| (c) |") and "(differs)" in line for line in lines) == (c.final != explo_c.final)


def test_the_halves_pair_tests_of_the_same_shape_not_of_the_same_position():
    """The exploratory half may lack a test (a cost test) and name another model for a role (its LwF): each of its
    tests stands beside the confirmatory test of the same wording, the k-th of a wording beside the k-th."""
    from benchmark.reports.claim_tests import Test
    from benchmark.reports.claims import same_tests

    def t(text):
        return Test(text, None, +1)

    explo = [t("n=10: robust(a10) - robust(s10) > 0"), t("n=100: robust(a100) - robust(s100) > 0"),
             t("robust(front1) - robust(lin) > -5 (non-inferior)"),
             t("robust(r1) - robust(r2) >= 0 (one more block retrained)"),
             t("robust(r2) - robust(r3) >= 0 (one more block retrained)")]
    conf = [t("n=10: robust(a10) - robust(s10) > 0"), t("n=10: cost(a10) / cost(s10) <= 0.2"),
            t("n=100: robust(a100) - robust(s100) > 0"), t("n=100: cost(a100) / cost(s100) <= 0.2"),
            t("robust(front2) - robust(lin) > -5 (non-inferior)"),
            t("robust(r1) - robust(r2) >= 0 (one more block retrained)"),
            t("robust(r2) - robust(r3) >= 0 (one more block retrained)")]
    paired = same_tests(explo, conf)
    assert [u.text for u in paired] == [conf[0].text, conf[2].text, conf[4].text, conf[5].text, conf[6].text]
    assert same_tests(explo[:1], []) == [None]
