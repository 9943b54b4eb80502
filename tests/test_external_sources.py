"""Published robust sources: downloaded by URL (file:// here), pinned by sha256, converted onto our
architectures, and usable by every transfer strategy."""

import hashlib
import re

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from benchmark.cli import main
from benchmark.zoo import load_entries
from benchmark.zoo.converters import CONVERTERS
from tests.test_transfer_and_api import write_png_folder

IMNET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def madry_checkpoint(path):
    """A torchvision ResNet-18 saved the way Madry lab's `robustness` library saves its models."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    sd = net.state_dict()
    model = {**{f"module.model.{k}": v for k, v in sd.items()}, **{f"module.attacker.model.{k}": v for k, v in sd.items()},
             "module.normalizer.new_mean": torch.tensor(IMNET["mean"]).view(3, 1, 1),
             "module.normalizer.new_std": torch.tensor(IMNET["std"]).view(3, 1, 1)}
    torch.save({"model": model, "epoch": 90, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}, path)
    return net, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def external(tiny_zoo, tmp_path):
    zoo, cache, results = tiny_zoo
    net, sha = madry_checkpoint(tmp_path / "resnet18_linf_eps4.0.ckpt")
    (tmp_path / "tiny-imagenet.yaml").write_text(yaml.safe_dump({
        "name": "tiny-imagenet", "dataset": "imagefolder", "num_classes": 10, "image_size": 64, "channels": 3,
        "mean": IMNET["mean"], "std": IMNET["std"]}))
    entry = {"name": "ext", "task": str(tmp_path / "tiny-imagenet.yaml"), "architecture": "resnet18",
             "threat_model": "Linf", "eps": 4 / 255, "protocol": "imagenet-linf", "strategy": "external",
             "seeds": [0], "normalization": IMNET, "suites": ["external"],
             "weights": [{"seed": 0, "url": (tmp_path / "resnet18_linf_eps4.0.ckpt").as_uri(), "sha256": sha,
                          "format": "torch", "state_key": "model", "convert": "madrylab_resnet"}]}
    (zoo / "ext.yaml").write_text(yaml.safe_dump(entry))
    return zoo, tmp_path, net, entry


def test_published_source_downloads_converts_and_matches_the_original(external):
    zoo, tmp_path, net, _ = external
    from benchmark.zoo.weights import load_model

    model = load_model(load_entries()["ext"])
    x = torch.rand(3, 3, 64, 64)
    mean, std = torch.tensor(IMNET["mean"]).view(1, 3, 1, 1), torch.tensor(IMNET["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), net((x - mean) / std), atol=1e-5)
    assert model.num_blocks == 6  # stem, layer1-4, pooling: "retrain the last k" works on it


@pytest.mark.parametrize("strategy", ["linear", "lwf", "retrain_last_k"])
def test_every_transfer_strategy_works_on_a_published_source(external, target_data, capsys, strategy):
    zoo, tmp_path, _, _ = external
    folder = write_png_folder(tmp_path / "shoes", target_data, per_class_train=6, per_class_val=4)
    code = main(["transfer", "--source", "ext", "--data", str(folder), "--strategy", strategy, "--epochs", "1",
                 "--no-guards", "--protocol", str(imagenet_like_protocol(tmp_path)), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "worst case" in out


def imagenet_like_protocol(tmp_path):
    path = tmp_path / "tiny-imagenet-linf.yaml"
    path.write_text(yaml.safe_dump({"name": "tiny-imagenet-linf", "version": 1, "threat_model": "Linf",
                                    "eps": 4 / 255, "n_examples": 20, "seed": 0,
                                    "applies_to": {"channels": 3, "image_size": 64},
                                    "attacks": [{"name": "pgd", "type": "pgd", "steps": 3}]}))
    return path


@pytest.mark.parametrize("change,match", [
    ({"sha256": "0" * 64}, r"the entry pins 000000000000\.\.\.: the file changed upstream"),
    ({"state_key": "state_dict"}, r"has no key 'state_dict' \(it has \['epoch', 'model', 'optimizer'\]\)"),
    ({"convert": "no_such"}, r"unknown weights conversion 'no_such'"),
    ("resnet50", r"do not fit the entry's architecture"),
    ("missing", r"cannot download file://.*: check the connection"),
])
def test_bad_published_sources_are_one_line_errors(external, capsys, change, match):
    zoo, tmp_path, _, entry = external
    if change == "resnet50":
        entry = {**entry, "architecture": "resnet50"}
    elif change == "missing":
        entry = {**entry, "weights": [{**entry["weights"][0], "url": (tmp_path / "gone.ckpt").as_uri()}]}
    else:
        entry = {**entry, "weights": [{**entry["weights"][0], **change}]}
    (zoo / "ext.yaml").write_text(yaml.safe_dump(entry))
    code = main(["evaluate", "--model", "ext", "--protocol", str(imagenet_like_protocol(tmp_path)), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(match, err), err


class _RBBlock(nn.Module):
    """RobustBench's WideResNet unit, as its model zoo defines it (TRADES layout)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.equal = cin == cout
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        if not self.equal:
            x = o
        out = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return out + (x if self.equal else self.convShortcut(x))


class _RBStage(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.layer = nn.Sequential(*[_RBBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class _RBWideResNet(nn.Module):
    def __init__(self, depth=10, widen=1, num_classes=10):
        super().__init__()
        n, w = (depth - 4) // 6, [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.block1, self.sub_block1 = _RBStage(n, 16, w[1], 1), _RBStage(n, 16, w[1], 1)
        self.block2, self.block3 = _RBStage(n, w[1], w[2], 2), _RBStage(n, w[2], w[3], 2)
        self.bn1, self.fc = nn.BatchNorm2d(w[3]), nn.Linear(w[3], num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.block3(self.block2(self.block1(self.conv1(x))))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def test_robustbench_wrn_checkpoints_convert_onto_our_wrn():
    torch.manual_seed(0)
    rb = _RBWideResNet(depth=16, widen=2).eval()
    for m in rb.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    checkpoint = {"state_dict": {f"module.{k}": v for k, v in rb.state_dict().items()}}
    from benchmark.models.wrn import wide_resnet

    ours = wide_resnet(16, 2)(10, 3, (0.0,) * 3, (1.0,) * 3).eval()
    state = CONVERTERS.get("robustbench_wrn")(checkpoint)
    ours.load_state_dict({**state, "mean": ours.mean, "std": ours.std}, strict=True)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), rb(x), atol=1e-5)
