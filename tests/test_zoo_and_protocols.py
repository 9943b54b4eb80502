import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.errors import BenchmarkError
from benchmark.evaluation import available_protocols, load_protocol, parse_protocol
from benchmark.zoo import dependency_order, load_entries, parse_entry


def test_committed_zoo_and_protocols_are_valid():
    entries = load_entries()
    assert {"fmnist_src_robust", "fmnist_lwf", "fmnist_cnn_lwf", "lwf_cifar100", "cifar100_wrn_free_source",
            "imagenet_resnet50_free4"} <= set(entries)
    for name, entry in entries.items():
        assert entry.protocol in available_protocols(), name
        if entry.source:
            source = entries[entry.source]  # transfer seed s on source seed s, or on a single-seed source
            assert set(entry.seeds) <= set(source.seeds) or len(source.seeds) == 1, name
    order = dependency_order(["fmnist_lwf"], entries)
    assert order.index("fmnist_src_robust") < order.index("fmnist_lwf")
    for name in ("fmnist-linf", "fmnist-l2", "cifar-linf", "cifar-l2"):
        p = load_protocol(name)
        types = {a["type"] for a in p.attacks}
        assert types >= {"pgd", "deepfool"}, name
        if "autoattack" in types:  # the standard AutoAttack, the reference code
            assert next(a for a in p.attacks if a["type"] == "autoattack")["version"] == "standard", name
            continue
        # the fewer-passes battery: APGD-CE and APGD-T on min(9, C-1) targets at the reference's 100 steps, and the
        # rest of the standard AutoAttack (FAB-T, Square at 5,000 queries) in the guards
        apgd = {a["loss"]: a for a in p.attacks if a["type"] == "apgd"}
        assert set(apgd) == {"ce", "dlr-targeted"} and apgd["dlr-targeted"]["targets"] == 9, name
        assert all(a["steps"] == 100 for a in apgd.values()), name
        assert p.guards["fab_targets"] == 9 and p.guards["square_queries"] == 5000, name
        # the standard AutoAttack stays one flag away
        reference = load_protocol(f"{name}-reference")
        assert {"type": "autoattack", "version": "standard"}.items() <= reference.attacks[-1].items(), name
        assert (reference.eps, reference.n_examples) == (p.eps, p.n_examples), name
    assert load_protocol("cifar-linf").eps == pytest.approx(8 / 255)


def test_suites_have_their_fixed_seeds_and_tuning_budgets():
    """Seed counts fixed in advance (the studies' `claims`): the claim entries of the default family's first pair
    and their sources carry the exploratory half (10) and the confirmatory one (10 more); the small CNN's and the
    reverse pair's carry 5 and 5; every other embedded entry 5."""
    from benchmark.studies import load_study, parts

    entries = load_entries()
    embedded = [e for e in entries.values() if e.name.startswith("fmnist_") and e.origin == "project"]
    assert all(e.seeds in (list(range(5)), list(range(10)), list(range(20))) for e in embedded)
    halves = {}
    for study in parts(load_study("fmnist")):
        if study.claims is not None and study.claims.confirmatory_seeds:
            halves[study.name] = (study.claims.seeds, study.claims.all_seeds)
    assert halves and all(all_ == 2 * first for first, all_ in halves.values())  # as many fresh seeds as seen ones
    quick = [e for e in entries.values() if "quick" in e.suites]
    assert quick and all(e.seeds in (list(range(5)), list(range(10)), list(range(20))) for e in quick)
    arms = [e for e in quick if e.task == "fmnist-tgt" and e.n in (None, 10, 100) and e.tuning and e.tuning.grid]
    budgets = {e.name: len(e.tuning.grid["lr"]) * len(next(v for k, v in e.tuning.grid.items() if k != "lr"))
               for e in arms}
    assert budgets and set(budgets.values()) == {4}  # the same budget for every arm of the grid
    fronts = [e for e in entries.values() if e.tuning and e.tuning.points]
    assert fronts and all(len(e.tuning.points) == 8 and e.tuning.seeds == 2 for e in fronts)


VALID = {"name": "x", "task": "fmnist-tgt", "architecture": "small_cnn", "threat_model": "Linf", "eps": 0.1,
         "protocol": "fmnist-linf", "strategy": "natural", "recipe": {"epochs": 1, "batch_size": 8, "lr": 0.1}}


@pytest.mark.parametrize("field,value,match", [
    ("task", "mnist", "field 'task'"), ("architecture", "vgg", "field 'architecture'"),
    ("strategy", "magic", "field 'strategy'"), ("eps", -1, "field 'eps'"), ("eps", "big", "field 'eps'"),
    ("n_per_class", 0, "field 'n_per_class'"), ("recipe", {"epochs": 0, "batch_size": 8, "lr": 0.1}, "field 'recipe.epochs'"),
    ("threat_model", "L1", "field 'threat_model'"), ("colour", "red", "unknown field 'colour'"),
    ("seeds", [0, 0], "field 'seeds'"), ("weights", [{"seed": 0, "file": "w.safetensors", "sha256": "abc"}],
                                         r"field 'weights\[0\].sha256'"),
    ("weights", [{"seed": 3, "file": "w.safetensors"}], r"field 'weights\[0\].seed'"),
    ("recipe", {"epochs": 1, "batch_size": 8, "learning_rate": 0.5}, r"unknown field 'recipe.learning_rate'"),
    ("recipe", {"epochs": 1, "batch_size": 8}, "missing field 'recipe.lr'"),
    ("recipe", {"epochs": 1, "batch_size": 8, "lr": 0.1, "lwf_lambda": 1.0}, "'recipe.lwf_lambda' does not apply"),
    ("tuning", {"grid": {"lr": []}}, "field 'tuning.grid.lr'"),
    ("tuning", {"grid": {"momentum": [2.0]}}, r"field 'tuning.grid.momentum': .*must lie in \[0, 1\]"),
])
def test_malformed_entry_names_the_field(field, value, match):
    with pytest.raises(BenchmarkError, match=match) as exc:
        parse_entry({**VALID, field: value}, "entry.yaml")
    assert str(exc.value).startswith("entry.yaml:") and "\n" not in str(exc.value)


def test_recipe_typos_are_named_with_a_suggestion():
    lwf = {**VALID, "strategy": "lwf", "source": "s", "recipe": {"epochs": 1, "batch_size": 8, "lr": 0.1,
                                                                 "lwf_lamda": 1.0}}
    with pytest.raises(BenchmarkError, match=r"unknown field 'recipe.lwf_lamda' \(did you mean 'recipe.lwf_lambda'\?\)"):
        parse_entry(lwf, "entry.yaml")
    with pytest.raises(BenchmarkError, match="'recipe.lwf_lambda' is required for strategy 'lwf'"):
        parse_entry({**lwf, "recipe": {"epochs": 1, "batch_size": 8, "lr": 0.1}}, "entry.yaml")
    with pytest.raises(BenchmarkError, match=r"field 'recipe.lwf_distance' must be one of 'l2sq', 'l1'"):
        parse_entry({**lwf, "recipe": {"epochs": 1, "batch_size": 8, "lr": 0.1, "lwf_lambda": 1,
                                       "lwf_distance": "cosine"}}, "entry.yaml")


def test_transfer_entry_needs_a_source():
    with pytest.raises(BenchmarkError, match="field 'source'"):
        parse_entry({**VALID, "strategy": "lwf", "recipe": {**VALID["recipe"], "lwf_lambda": 1.0}}, "entry.yaml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(VALID) + ["source", "n_per_class", "head", "seeds", "weights", "junk"]),
                       st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5),
                                 st.lists(st.integers(), max_size=2),
                                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
                       max_size=6))
def test_any_malformed_entry_gives_a_clear_error(overrides):
    data = {**VALID, **overrides}
    try:
        parse_entry(data, "entry.yaml")
    except BenchmarkError as exc:
        assert str(exc).startswith("entry.yaml:") and "field" in str(exc) and "\n" not in str(exc)


PROTO = yaml.safe_load(open(load_protocol("fmnist-linf-quick").source))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["name", "version", "threat_model", "eps", "n_examples", "seed", "attacks", "applies_to",
                        "cascade", "flip_tolerance"]),
       st.one_of(st.none(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=4),
                 st.lists(st.integers(), max_size=2)))
def test_any_malformed_protocol_gives_a_clear_error(field, value):
    try:
        parse_protocol({**PROTO, field: value}, "p.yaml")
    except BenchmarkError as exc:
        assert str(exc).startswith("p.yaml:") and "field" in str(exc) and "\n" not in str(exc)


def test_protocol_errors_name_the_field():
    with pytest.raises(BenchmarkError, match="field 'eps'"):
        parse_protocol({**PROTO, "eps": 2.0}, "p.yaml")
    with pytest.raises(BenchmarkError, match=r"attacks\[0\].type"):
        parse_protocol({**PROTO, "attacks": [{"type": "fgsm-magic"}]}, "p.yaml")
    with pytest.raises(BenchmarkError, match="missing field 'seed'"):
        parse_protocol({k: v for k, v in PROTO.items() if k != "seed"}, "p.yaml")
    with pytest.raises(BenchmarkError, match=r"p.yaml: field 'attacks\[0\].loss' must be one of 'ce', 'cw', got 'dlr'"):
        parse_protocol({**PROTO, "attacks": [{"type": "pgd", "loss": "dlr"}]}, "p.yaml")
    with pytest.raises(BenchmarkError, match=r"unknown field 'attacks\[1\].stepz' \(did you mean 'attacks\[1\].steps'"):
        parse_protocol({**PROTO, "attacks": [{"type": "pgd"}, {"type": "deepfool", "name": "d", "stepz": 3}]}, "p.yaml")
    with pytest.raises(BenchmarkError, match="unknown protocol"):
        load_protocol("no-such-protocol")


def test_a_key_given_twice_is_refused(tmp_path):
    # PyYAML keeps the last of two equal keys without a word; a data file with two `name:` lines (a comment
    # that lost its `#`) must fail loudly instead
    from benchmark.spec import read_yaml

    path = tmp_path / "twice.yaml"
    path.write_text("name: a protocol's description\nthreat_model: Linf\nname: fmnist-linf\n")
    with pytest.raises(BenchmarkError, match="'name' given twice"):
        read_yaml(path, "protocol")
