"""Source providers with their real packages, offline: the files are put where each package looks
(RobustBench's model_dir, timm's pretrained-config overlay, the Hugging Face Hub's cache with
HF_HUB_OFFLINE=1), and the package's own code loads them; every test skips, saying why, where the
package is not installed (`pip install ".[sources]"`)."""

import json

import pytest
import torch
import yaml
from PIL import Image

from benchmark.cli import main
from benchmark.errors import BenchmarkError


def tiny_protocol(folder, size: int):
    path = folder / f"tiny-{size}.yaml"
    path.write_text(yaml.safe_dump({"name": f"tiny-{size}", "version": 1, "threat_model": "Linf", "eps": 4 / 255,
                                    "n_examples": 6, "seed": 0, "applies_to": {"channels": 3, "image_size": size},
                                    "attacks": [{"name": "pgd", "type": "pgd", "steps": 2}]}))
    return path


def rgb_folder(root, size: int, train: int = 4, val: int = 3):
    for split, k in (("train", train), ("val", val)):
        for ci, c in enumerate(("cat", "dog")):
            (root / split / c).mkdir(parents=True)
            for i in range(k):
                Image.new("RGB", (size, size), color=(120 * ci + 9 * i, 60, 200 - 50 * ci)).save(
                    root / split / c / f"{i}.png")
    return root


@pytest.fixture
def home(tmp_path, monkeypatch, fmnist_available):
    monkeypatch.setenv("RTB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RTB_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _seeded(net):
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # statistics that matter
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)
    return net.eval()


def needs_robustbench():
    """robustbench, made importable as the provider does it (its pkg_resources and autoattack names), or a skip."""
    from benchmark.sources.providers import robustbench

    try:
        robustbench()
    except BenchmarkError as exc:
        pytest.skip(f"robustbench is not installed ({exc})")


def robustbench_checkpoint(home, dataset: str, threat: str, name: str):
    """A checkpoint where RobustBench's loader looks (model_dir/<dataset>/<threat>/<name>.pt), of its own network."""
    needs_robustbench()
    from benchmark.sources import split_ref

    provider, spec = split_ref(f"robustbench:{dataset}/{threat}/{name}")
    net = _seeded(provider.build(spec))
    state = net.state_dict()
    if dataset == "imagenet":  # its ImageNet models are Sequential(normalize, model): the checkpoint holds the model
        state = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    path = home / "cache" / "providers" / "downloads" / "robustbench" / dataset / threat / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state}, path)
    return net, path


def _transfer(ref, folder, protocol, strategy, capsys):
    code = main(["transfer", "--source", ref, "--data", str(folder), "--strategy", strategy, "--epochs", "1",
                 "--no-guards", "--protocol", str(protocol), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "worst case" in out
    return out


def test_a_robustbench_cifar_wideresnet_is_a_source_for_every_strategy(home, capsys):
    import benchmark as rtb

    ref = "robustbench:cifar10/Linf/Ding2020MMA"   # a WideResNet-28-4 of RobustBench's zoo (it standardizes each image)
    _, path = robustbench_checkpoint(home, "cifar10", "Linf", "Ding2020MMA")
    from robustbench.utils import load_model as rb_load_model

    model = rtb.load_model(ref)
    theirs = rb_load_model("Ding2020MMA", model_dir=str(path.parents[2]), dataset="cifar10", threat_model="Linf")
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), theirs(x), atol=1e-5)  # the same network (up to float rounding)
    assert model.num_blocks == 6                         # stem, 3 groups, BN+ReLU, pooling
    result = rtb.evaluate(model, str(tiny_protocol(home, 32)), x=torch.rand(6, 3, 32, 32),
                          y=torch.zeros(6, dtype=torch.long))
    assert 0 <= result.robust_accuracy <= result.clean_accuracy
    folder = rgb_folder(home / "pets", 32)
    # every way a strategy uses a source: its features under a head, its last blocks, its frozen copy (LwF), the
    # whole network trained (adversarial fine-tuning; natural fine-tuning is the same path without the attack and
    # the MLP head the linear one's, so neither would add a line of source code run)
    for strategy in ("linear", "retrain_last_k", "lwf", "pgd_at"):
        _transfer(ref, folder, tiny_protocol(home, 32), strategy, capsys)
    entry = yaml.safe_load((home / "home" / "entries" / "robustbench_cifar10_linf_ding2020mma_lwf_pets.yaml").read_text())
    assert entry["source"] == ref and len(entry["source_sha256"]) == 64   # pinned in the user's entry...
    rec = json.loads(next((home / "home" / "results" / "tiny-32").glob("*lwf*/seed0.json")).read_text())
    assert rec["entry"]["source_sha256"] == entry["source_sha256"]        # ... and in its records
    # weights that change upstream: the next load through the provider finds another sha256 and stops
    torch.save({"state_dict": {k: v + 1e-3 if v.is_floating_point() else v for k, v in
                               torch.load(path)["state_dict"].items()}}, path)
    for cached in (home / "cache" / "providers").glob("robustbench_cifar10*/seed0.*"):
        cached.unlink()
    capsys.readouterr()
    assert main(["evaluate", "--model", entry["name"], "--protocol", str(tiny_protocol(home, 32)), "--no-guards",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the weights its provider gives now have sha256" in err and err.count("\n") == 1


def test_a_robustbench_imagenet_model_loads_evaluates_and_transfers(home, capsys):
    import benchmark as rtb

    ref = "robustbench:imagenet/Linf/Salman2020Do_R18"
    net, _ = robustbench_checkpoint(home, "imagenet", "Linf", "Salman2020Do_R18")
    model = rtb.load_model(ref)
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x), atol=1e-5)
    rtb.evaluate(model, str(tiny_protocol(home, 224)), x=torch.rand(2, 3, 224, 224), y=torch.zeros(2, dtype=torch.long))
    folder = rgb_folder(home / "pets", 40, train=3, val=2)
    for strategy in ("linear", "finetune"):
        _transfer(ref, folder, tiny_protocol(home, 224), strategy, capsys)


def test_a_timm_model_with_its_weights_from_a_local_file(home, capsys):
    timm = pytest.importorskip("timm", reason="timm is not installed: pip install '.[sources]'")
    import benchmark as rtb

    net = _seeded(timm.create_model("resnet18", pretrained=False))
    path = home / "resnet18.pth"
    torch.save(net.state_dict(), path)
    ref = f"timm:resnet18?file={path}"                 # timm's pretrained_cfg_overlay reads it
    model = rtb.load_model(ref)
    x = torch.rand(2, 3, 224, 224)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), net((x - mean) / std), atol=1e-5)   # its normalization inside
    folder = rgb_folder(home / "pets", 40, train=3, val=2)
    for strategy in ("linear", "mlp"):
        _transfer(ref, folder, tiny_protocol(home, 224), strategy, capsys)


def test_a_madry_lab_checkpoint_from_the_hugging_face_hub_cache_offline(home, monkeypatch, capsys):
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed: pip install '.[sources]'")
    import torchvision

    import benchmark as rtb

    net = _seeded(torchvision.models.resnet18(weights=None))
    sd = net.state_dict()
    # the layout the `robustness` library saves: the classifier, the attacker's copy and the normalizer
    checkpoint = {"model": {**{f"module.model.{k}": v for k, v in sd.items()},
                            **{f"module.attacker.model.{k}": v for k, v in sd.items()},
                            "module.normalizer.new_mean": torch.zeros(3, 1, 1)}, "epoch": 90}
    hub = home / "hf" / "hub"
    repo = hub / "models--madrylab--robust-imagenet-models"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    torch.save(checkpoint, snapshot / "resnet18_linf_eps4.0.ckpt")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = "hf:madrylab/robust-imagenet-models/resnet18_linf_eps4.0.ckpt?arch=resnet18&format=madry&eps=0.0157"
    model = rtb.load_model(ref)
    x = torch.rand(2, 3, 224, 224)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), net((x - mean) / std), atol=1e-5)
    result = rtb.evaluate(model, str(tiny_protocol(home, 224)), x=torch.rand(2, 3, 224, 224),
                          y=torch.zeros(2, dtype=torch.long))
    assert 0 <= result.robust_accuracy <= result.clean_accuracy
    folder = rgb_folder(home / "pets", 40, train=3, val=2)
    for strategy in ("linear", "retrain_last_k"):
        _transfer(ref, folder, tiny_protocol(home, 224), strategy, capsys)
    capsys.readouterr()
    assert main(["evaluate", "--model", "hf:madrylab/robust-imagenet-models/missing.ckpt?arch=resnet18", "--protocol",
                 str(tiny_protocol(home, 224)), "--quiet"]) == 2
    assert "the Hugging Face Hub cannot give missing.ckpt" in capsys.readouterr().err


def test_zoo_sources_lists_robustbench_models(capsys):
    needs_robustbench()
    assert main(["zoo", "sources", "--provider", "robustbench"]) == 0
    out = capsys.readouterr().out
    assert "robustbench:cifar10/Linf/Standard" in out and "robustbench:imagenet/Linf/Salman2020Do_R18" in out
    assert int(out.split(":", 1)[1].split()[0]) > 100


def test_a_network_of_an_unknown_family_is_one_line_naming_what_to_register():
    from torch import nn

    from benchmark.sources.layouts import layout_of

    class Odd(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(BenchmarkError, match=r"a Odd has no layout .* register one with @register_layout\('Odd'\)"):
        layout_of(Odd())


def test_a_checkpoint_file_with_its_architecture_is_a_source(home, tmp_path):
    """`file:<path>?arch=...&format=madry`: the Madry lab's layout read from disk, loaded without unpickling."""
    import torchvision

    import benchmark as rtb

    net = _seeded(torchvision.models.resnet18(weights=None, num_classes=10))
    sd = net.state_dict()
    path = tmp_path / "robust.ckpt"
    torch.save({"model": {**{f"module.model.{k}": v for k, v in sd.items()},
                          **{f"module.attacker.model.{k}": v for k, v in sd.items()}}, "epoch": 3}, path)
    model = rtb.load_model(f"file:{path}?arch=resnet18&format=madry&classes=10")
    x = torch.rand(2, 3, 64, 64)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), net((x - mean) / std), atol=1e-5)
    with pytest.raises(BenchmarkError, match=r"does not fit resnet50"):
        rtb.load_model(f"file:{path}?arch=resnet50&format=madry&classes=10")


def test_the_project_s_outside_sources_are_provider_entries_without_converters():
    from benchmark.sources import split_ref
    from benchmark.zoo import load_entries
    from benchmark.zoo.converters import CONVERTERS

    external = [e for e in load_entries().values() if "external" in e.suites]
    assert len(external) == 5
    for entry in external:
        assert entry.provider and entry.weights[0].format == "provider", entry.name
        split_ref(entry.provider)
    assert sorted(CONVERTERS) == ["strip_module", "torchvision_resnet"]  # generic ones only


def _one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_a_robustbench_model_not_on_disk_is_one_line_naming_the_url_and_the_path(home, monkeypatch):
    """Offline: no network try at all; online and the download fails (no network, a 404): one line, the partial
    file removed; a truncated file on disk: one line naming it."""
    needs_robustbench()
    import robustbench.utils as rbu

    from benchmark.sources import PROVIDERS, split_ref

    provider, spec = split_ref("robustbench:cifar10/Linf/Wong2020Fast")
    cache = home / "dl"
    path = cache / "robustbench" / "cifar10" / "Linf" / "Wong2020Fast.pt"

    def no_network(*args, **kwargs):
        raise AssertionError("the network was tried while offline")

    monkeypatch.setattr(rbu, "download_gdrive_new", no_network)
    monkeypatch.setenv("RTB_OFFLINE", "1")
    with pytest.raises(BenchmarkError) as err:
        provider.load(spec, cache)
    text = _one_line(err)
    assert "offline" in text and "https://drive.google.com/uc?id=" in text and str(path) in text

    def broken(gdrive_id, path):  # what a dropped connection leaves: part of a file, then an error
        path.write_bytes(b"PK\x03\x04 half a checkpoint")
        import requests

        raise requests.exceptions.ConnectionError("Max retries exceeded with url: /uc?export=download (Failed to "
                                                  "establish a new connection)")

    monkeypatch.delenv("RTB_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(rbu, "download_gdrive_new", broken)
    with pytest.raises(BenchmarkError) as err:
        provider.load(spec, cache)
    text = _one_line(err)
    assert f"downloading https://drive.google.com/uc?id=" in text and "ConnectionError" in text
    assert f"put it at {path}" in text and not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"truncated")
    with pytest.raises(BenchmarkError) as err:
        provider.load(spec, cache)
    assert f"{path} cannot be read" in _one_line(err) and "truncated or corrupt" in str(err.value)
    assert PROVIDERS.get("robustbench") is provider


def test_torchvision_and_timm_downloads_that_fail_are_one_line(home, monkeypatch):
    import urllib.error

    import torch

    from benchmark.sources import split_ref

    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    provider, spec = split_ref("torchvision:resnet18")

    def no_route(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_route)
    with pytest.raises(BenchmarkError) as err:
        provider.load(spec, home)
    text = _one_line(err)
    assert "downloading https://download.pytorch.org/models/resnet18-f37072fd.pth failed" in text
    assert str(home / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in text
    monkeypatch.setenv("RTB_OFFLINE", "1")
    with pytest.raises(BenchmarkError) as err:
        provider.load(spec, home)
    assert "offline" in _one_line(err)
    try:
        import timm  # noqa: F401
    except ImportError:
        return
    provider, spec = split_ref("timm:resnet18.a1_in1k")
    with pytest.raises(BenchmarkError) as err:
        provider.load(spec, home)
    assert "timm:resnet18.a1_in1k?file=PATH" in _one_line(err)


def test_a_network_that_normalizes_inside_its_forward_pass_is_a_source_for_the_heads_and_lwf(home, capsys):
    """Wong2020Fast (a PreActResNet-18 that normalizes in its own forward pass) does more than its family's layout:
    its head and penultimate features are found from the network itself (its last linear layer), so the head and
    LwF strategies work; retraining the last blocks needs a layout registered for it, and says so in one line."""
    import benchmark as rtb

    ref = "robustbench:cifar10/Linf/Wong2020Fast"
    _, path = robustbench_checkpoint(home, "cifar10", "Linf", "Wong2020Fast")
    from robustbench.utils import load_model as rb_load_model

    model = rtb.load_model(ref)
    theirs = rb_load_model("Wong2020Fast", model_dir=str(path.parents[2]), dataset="cifar10", threat_model="Linf")
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), theirs(x), atol=1e-5)
        assert model.features(x).shape == (3, 512)                     # the input of its last linear layer
    folder = rgb_folder(home / "pets", 32)
    for strategy in ("linear", "lwf"):
        _transfer(ref, folder, tiny_protocol(home, 32), strategy, capsys)
    code = main(["transfer", "--source", ref, "--data", str(folder), "--strategy", "retrain_last_k", "--k", "2",
                 "--epochs", "1", "--no-guards", "--protocol", str(tiny_protocol(home, 32)), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "needs a layout registered for its family" in err
