import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.errors import BenchmarkError
from benchmark.protocol import available_protocols, load_protocol, parse_protocol
from benchmark.zoo import dependency_order, load_entries, parse_entry


def test_committed_zoo_and_protocols_are_valid():
    entries = load_entries()
    assert {"fmnist_src_robust", "fmnist_lwf", "lwf_cifar100", "cifar100_wrn_free_source", "imagenet_resnet50_free4"} <= set(entries)
    for name in entries:
        assert entries[name].protocol in available_protocols(), name
    order = dependency_order(["fmnist_lwf"], entries)
    assert order.index("fmnist_src_robust") < order.index("fmnist_lwf")
    for name in ("fmnist-linf", "fmnist-l2", "cifar-linf", "cifar-l2"):
        p = load_protocol(name)
        assert {a["type"] for a in p.attacks} >= {"pgd", "deepfool", "autoattack"}
    assert load_protocol("cifar-linf").eps == pytest.approx(8 / 255)


VALID = {"name": "x", "task": "fmnist-tgt", "architecture": "small_cnn", "threat_model": "Linf", "eps": 0.1,
         "protocol": "fmnist-linf", "strategy": "natural", "recipe": {"epochs": 1, "batch_size": 8}}


@pytest.mark.parametrize("field,value,match", [
    ("task", "mnist", "field 'task'"), ("architecture", "vgg", "field 'architecture'"),
    ("strategy", "magic", "field 'strategy'"), ("eps", -1, "field 'eps'"), ("eps", "big", "field 'eps'"),
    ("n_per_class", 0, "field 'n_per_class'"), ("recipe", {"epochs": 0, "batch_size": 8}, "field 'recipe.epochs'"),
    ("threat_model", "L1", "field 'threat_model'"), ("sha256", "abc", "field 'sha256'"), ("colour", "red", "unknown field 'colour'"),
])
def test_malformed_entry_names_the_field(field, value, match):
    with pytest.raises(BenchmarkError, match=match):
        parse_entry({**VALID, field: value}, "entry.yaml")


def test_transfer_entry_needs_a_source():
    with pytest.raises(BenchmarkError, match="field 'source'"):
        parse_entry({**VALID, "strategy": "lwf"}, "entry.yaml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(VALID) + ["source", "n_per_class", "head", "junk"]),
                       st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5),
                                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
                       max_size=6))
def test_any_malformed_entry_gives_a_clear_error(overrides):
    data = {**VALID, **overrides}
    try:
        parse_entry(data, "entry.yaml")
    except BenchmarkError as exc:
        assert str(exc).startswith("entry.yaml:") and "field" in str(exc)


PROTO = yaml.safe_load(open(load_protocol("fmnist-linf-quick").source))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["name", "version", "threat_model", "eps", "n_examples", "seed", "attacks"]),
       st.one_of(st.none(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=4), st.lists(st.integers(), max_size=2)))
def test_any_malformed_protocol_gives_a_clear_error(field, value):
    try:
        parse_protocol({**PROTO, field: value}, "p.yaml")
    except BenchmarkError as exc:
        assert str(exc).startswith("p.yaml:") and ("field" in str(exc) or "attack" in str(exc))


def test_protocol_errors_name_the_field():
    with pytest.raises(BenchmarkError, match="field 'eps'"):
        parse_protocol({**PROTO, "eps": 2.0}, "p.yaml")
    with pytest.raises(BenchmarkError, match=r"attacks\[0\].type"):
        parse_protocol({**PROTO, "attacks": [{"type": "fgsm-magic"}]}, "p.yaml")
    with pytest.raises(BenchmarkError, match="missing field 'seed'"):
        parse_protocol({k: v for k, v in PROTO.items() if k != "seed"}, "p.yaml")
    with pytest.raises(BenchmarkError, match="unknown protocol"):
        load_protocol("no-such-protocol")
