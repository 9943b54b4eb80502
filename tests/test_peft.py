"""Parameter-efficient arms (issue 44): LoRA layers against their reference, and `lora`, `lora_at`, `bitfit`,
`bitfit_at` train only what they declare and publish only that, over the source's weights."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.cli import main
from benchmark.errors import BenchmarkError
from benchmark.models.lora import LoRAConv2d, LoRALinear, add_lora, is_lora_key
from benchmark.training import TrainOptions, train_entry
from benchmark.zoo import load_entries, load_model
from benchmark.zoo.weights import read_safetensors
from tests.conftest import weights_file, write_entry

QUIET = TrainOptions(show_progress=False)


def _randomize_factors(module):
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, (LoRAConv2d, LoRALinear)):
            with torch.no_grad():
                m.lora_B.copy_(torch.randn(m.lora_B.shape, generator=g))


@pytest.mark.parametrize("stride,groups,bias", [(1, 1, True), (2, 1, False), (1, 2, True)])
def test_lora_convolution_is_the_low_rank_reference(stride, groups, bias):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 6, 3, stride=stride, padding=1, groups=groups, bias=bias))
    x = torch.rand(3, 4, 9, 9)
    before = net(x)
    assert add_lora(net, rank=2, alpha=3.0) == ["0"]
    conv = net[0]
    assert isinstance(conv, LoRAConv2d) and torch.equal(net(x), before)  # B = 0: the source exactly
    _randomize_factors(net)
    # the reference: a convolution with A's rows as kernels, then a 1x1 convolution with B, scaled by alpha/rank
    a = conv.lora_A.view(2, 4 // groups, 3, 3)
    if groups > 1:  # a grouped layer's update is a full kernel per output channel: apply it group by group
        outs = []
        per_out = 6 // groups
        for g in range(groups):
            xg = x[:, g * 2:(g + 1) * 2]
            low = F.conv2d(xg, a, stride=stride, padding=1)
            outs.append(F.conv2d(low, conv.lora_B[g * per_out:(g + 1) * per_out].view(per_out, 2, 1, 1)))
        update = torch.cat(outs, 1)
    else:
        update = F.conv2d(F.conv2d(x, a, stride=stride, padding=1), conv.lora_B.view(6, 2, 1, 1))
    base = F.conv2d(x, conv.weight, conv.bias, stride=stride, padding=1, groups=groups)
    torch.testing.assert_close(net(x), base + 1.5 * update, rtol=1e-5, atol=1e-5)
    # and merging B A into the weight gives a plain convolution with the same outputs
    merged = nn.Conv2d(4, 6, 3, stride=stride, padding=1, groups=groups, bias=bias)
    merged.load_state_dict({k: v for k, v in conv.state_dict().items() if not is_lora_key(k)})
    with torch.no_grad():
        merged.weight += 1.5 * (conv.lora_B @ conv.lora_A).view(merged.weight.shape)
    torch.testing.assert_close(net(x), merged(x), rtol=1e-5, atol=1e-5)


def test_lora_keeps_the_layers_names_and_wraps_only_its_targets():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    keys = set(net.state_dict())
    assert add_lora(net, 1, 1.0, "conv") == ["0"]
    assert keys <= set(net.state_dict()) and isinstance(net[2][1], nn.Linear)
    assert add_lora(net, 1, 1.0, "linear") == ["2.1"] and isinstance(net[2][1], LoRALinear)
    assert add_lora(net, 1, 1.0, "all") == []  # a wrapped layer is not wrapped twice
    x = torch.rand(2, 1, 3, 3)
    _randomize_factors(net)
    lin = net[2][1]
    ref = F.linear(torch.relu(net[0](x)).flatten(1), lin.weight + lin.lora_B @ lin.lora_A, lin.bias)
    torch.testing.assert_close(net(x), ref)


PEFT = {"lora": {"lora_rank": 2}, "lora_at": {"lora_rank": 2, "attack_steps": 2},
        "bitfit": {}, "bitfit_at": {"attack_steps": 2}}


@pytest.mark.parametrize("strategy", sorted(PEFT))
def test_peft_arms_train_and_publish_only_their_parameters(tiny_zoo, strategy):
    zoo, cache, results = tiny_zoo
    arch = "wrn_10_1" if strategy.startswith("bitfit") else "small_cnn"  # batch norm for BitFit's scales
    write_entry(zoo, "src", task="fmnist-src", architecture=arch, n_per_class=20)
    write_entry(zoo, "t", strategy=strategy, source="src", architecture=arch, n_per_class=10,
                recipe={"epochs": 1, "batch_size": 16, "lr": 0.05, **PEFT[strategy]})
    entries = load_entries()
    train_entry(entries["src"], 0, QUIET)
    assert main(["publish", "--model", "src", "--seed", "0"]) == 0
    entries = load_entries()
    rec = train_entry(entries["t"], 0, QUIET, entries=entries)
    src, tgt = read_safetensors(weights_file(cache, "src"))[0], read_safetensors(weights_file(cache, "t"))[0]
    model = load_model(entries["t"], 0, "trained", entries=entries)
    params = dict(model.named_parameters())
    changed = {k for k in tgt if k in params and not k.startswith("head.")
               and (k not in src or not torch.equal(src[k], tgt[k]))}
    if strategy.startswith("lora"):
        assert changed and all(is_lora_key(k) for k in changed)
        assert {k for k in tgt if is_lora_key(k)} == {k for k in params if is_lora_key(k)}
    else:
        norms = {k for k in changed if ".bn" in k}
        assert changed and all(k.endswith(".bias") or ".bn" in k for k in changed) and norms
    # the published file holds only what changed (and the head), and gives back the trained model exactly
    assert main(["publish", "--model", "t", "--seed", "0"]) == 0
    entries = load_entries()
    published = read_safetensors(zoo / entries["t"].weights[0].file)[0]
    assert set(published) - {k for k in published if k.startswith("head.")} <= changed | {
        k for k in tgt if k in src and not torch.equal(src[k], tgt[k])}  # batch-norm statistics
    assert sum(v.numel() for v in published.values()) < 0.5 * sum(v.numel() for v in tgt.values())
    again = load_model(entries["t"], 0, "published", entries=entries)
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(again(x), model(x)) and not again.training
    if strategy.endswith("_at"):
        assert rec["cost"]["fb_passes"] > 2 * rec["n_train"]  # the PGD steps are charged
    # and the arm's record evaluates like any other
    assert main(["evaluate", "--model", "t", "--seed", "0", "--n", "20", "--no-guards", "--quiet"]) == 0


def test_peft_recipes_refuse_fields_of_other_strategies(tiny_zoo):
    zoo, _, _ = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src")
    write_entry(zoo, "bad", strategy="bitfit", source="src", recipe={"epochs": 1, "batch_size": 8, "lr": 0.1,
                                                                     "lora_rank": 4})
    with pytest.raises(BenchmarkError, match="lora_rank.*does not apply to strategy 'bitfit'"):
        load_entries()["bad"].parsed_recipe()


@pytest.mark.slow
def test_a_study_runs_the_new_arms_and_the_corruption_protocol(tmp_path, monkeypatch, fmnist_available, capsys):
    """Item 6: the arms are a study's arms like any other, and a study evaluates them under corruptions."""
    import json

    import yaml

    from tests.test_studies import TINY_PROTOCOL

    monkeypatch.setenv("RTB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RTB_CACHE", str(tmp_path / "cache"))
    protocol = tmp_path / "tiny-linf.yaml"
    protocol.write_text(yaml.safe_dump(TINY_PROTOCOL))
    recipe = {"epochs": 1, "batch_size": 32, "lr": 0.05}
    study = {"name": "peft", "task": "fmnist-tgt", "architecture": "small_cnn", "eps": 0.1, "protocol": str(protocol),
             "names": "peft_{arm}", "seeds": 1, "low_data": {"steps": 6, "batch_size": 32, "tuned": []},
             "arms": {"lora": {"strategy": "lora", "source": "fmnist_cnn_src_robust",
                               "recipe": {**recipe, "lora_rank": 2}, "sizes": [10]},
                      "bitfit": {"strategy": "bitfit", "source": "fmnist_cnn_src_robust", "recipe": recipe,
                                 "sizes": [10]}}}
    path = tmp_path / "studies" / "peft.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    assert main(["study", "run", str(path), "--no-guards", "--no-measure", "--lanes", "1"]) == 0
    assert main(["study", "run", str(path), "--protocol", "fmnist-corruptions", "--n", "20", "--no-measure",
                 "--lanes", "1"]) == 0
    records = sorted((tmp_path / "home" / "results" / "corruptions" / "fmnist-corruptions").glob("*/seed0.json"))
    assert [r.parent.name for r in records] == ["peft_bitfit_n10", "peft_lora_n10"]
    assert all(json.loads(r.read_text())["n_examples"] == 20 for r in records)
    capsys.readouterr()
    assert main(["study", "plan", str(path), "--protocol", "fmnist-corruptions", "--n", "20", "--no-measure"]) == 0
    assert "0 jobs left" in capsys.readouterr().out
