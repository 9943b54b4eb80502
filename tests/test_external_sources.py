"""Published robust sources: downloaded by URL (file:// here), pinned by sha256, converted onto our
architectures by a generic key conversion, and usable by every transfer strategy."""

import hashlib
import re

import pytest
import torch
import yaml

from benchmark.cli import main
from benchmark.zoo import load_entries
from tests.test_transfer_and_api import write_png_folder

IMNET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def published_checkpoint(path):
    """A torchvision ResNet-18 saved as training scripts save theirs: the state dict under 'model', beside the
    epoch and the optimizer's state. (Checkpoints a provider loads, RobustBench's, timm's, the Madry lab's, are
    tested with their packages in tests/test_sources.py.)"""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    torch.save({"model": net.state_dict(), "epoch": 90, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}},
               path)
    return net, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def external(tiny_zoo, tmp_path):
    zoo, cache, results = tiny_zoo
    net, sha = published_checkpoint(tmp_path / "resnet18_linf_eps4.0.ckpt")
    (tmp_path / "tiny-imagenet.yaml").write_text(yaml.safe_dump({
        "name": "tiny-imagenet", "dataset": "imagefolder", "num_classes": 10, "image_size": 64, "channels": 3,
        "mean": IMNET["mean"], "std": IMNET["std"]}))
    entry = {"name": "ext", "task": str(tmp_path / "tiny-imagenet.yaml"), "architecture": "resnet18",
             "threat_model": "Linf", "eps": 4 / 255, "protocol": "imagenet-linf", "strategy": "external",
             "seeds": [0], "normalization": IMNET, "suites": ["external"],
             "weights": [{"seed": 0, "url": (tmp_path / "resnet18_linf_eps4.0.ckpt").as_uri(), "sha256": sha,
                          "format": "torch", "state_key": "model", "convert": "torchvision_resnet"}]}
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
