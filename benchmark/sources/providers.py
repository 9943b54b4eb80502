"""The source providers: RobustBench, timm, the Hugging Face Hub, torchvision, a file on disk.

Each loads through the package's own code; what is specific to one package stays in its class. The
tasks they imply are the standard datasets' (CIFAR-10/100 at 32x32 with raw pixels for RobustBench's
CIFAR models, which normalize inside; ImageNet at 224x224 otherwise).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.sources import Provider, SourceInfo, import_optional, register_provider

RAW = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


OFFLINE_VARS = "RTB_OFFLINE=1 or HF_HUB_OFFLINE=1"


def offline() -> bool:
    """No network tries (RTB_OFFLINE=1, or the Hub's HF_HUB_OFFLINE=1): a provider loads what is on disk or says
    where to put it."""
    import os

    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("RTB_OFFLINE", "HF_HUB_OFFLINE"))


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def download_failed(ref: str, url: str, path, exc: BaseException) -> BenchmarkError:
    """A provider's failed download as one line: what failed, the URL, and where to put the file instead."""
    return BenchmarkError(f"{ref}: downloading {url} failed ({_reason(exc)}): download it yourself and put it at "
                          f"{path} (then it loads offline)")


def dataset_task(name: str) -> dict:
    """The task a provider's dataset implies, as its task file says it (benchmark/data/tasks/<name>.yaml): no
    dataset's classes, size or channels are written here."""
    import yaml

    from benchmark.data.tasks import get_task

    return dict(yaml.safe_load(open(get_task(name).source)))


RB_EPS = {("Linf", "cifar10"): 8 / 255, ("Linf", "cifar100"): 8 / 255, ("Linf", "imagenet"): 4 / 255,
          ("L2", "cifar10"): 0.5, ("L2", "imagenet"): 3.0}


def robustbench():
    """The robustbench package, importable in a current environment.

    As shipped (1.1.1) it imports `pkg_resources`, gone from setuptools 81 on, only for one
    `resource_filename` call, and `from autoattack import AutoAttack`, while the PyPI `pyautoattack` it
    depends on installs the module `pyautoattack`. Both are supplied here, before its import, and only when
    missing: a minimal `pkg_resources` with that one function, and `autoattack` as an alias of `pyautoattack`.
    """
    import importlib
    import sys
    import types

    from benchmark.compat import ensure_pkg_resources

    ensure_pkg_resources()
    if "autoattack" not in sys.modules:
        try:
            importlib.import_module("autoattack")
        except ImportError:
            aa = import_optional("pyautoattack", "pyautoattack")
            sys.modules["autoattack"] = aa
            for sub in ("state", "autopgd_base", "fab_pt", "square", "other_utils", "checks"):
                try:
                    sys.modules[f"autoattack.{sub}"] = importlib.import_module(f"pyautoattack.{sub}")
                except ImportError:
                    pass
    import_optional("robustbench", "robustbench")
    from robustbench.model_zoo import model_dicts

    return model_dicts


@register_provider
class RobustBench(Provider):
    """RobustBench's model zoo: `robustbench:<dataset>/<threat_model>/<name>`, e.g.
    `robustbench:cifar100/Linf/Cui2020Learnable_34_10_LBGAT6`. Its loader downloads (Google Drive) into
    `model_dir/<dataset>/<threat_model>/<name>.pt` and adapts the checkpoint to its architecture."""

    name = "robustbench"
    package = "robustbench"
    form = "robustbench:<dataset>/<threat_model>/<name>"

    def parse(self, spec: str) -> dict:
        parts = spec.split("/")
        if len(parts) != 3:
            raise BenchmarkError(f"robustbench:{spec}: use robustbench:<dataset>/<threat_model>/<name>, e.g. "
                                 "robustbench:cifar10/Linf/Standard")
        return {"dataset": parts[0], "threat_model": parts[1], "model": parts[2]}

    def _entry(self, spec: dict):
        zoo = robustbench()
        from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

        try:
            ds, tm = BenchmarkDataset(spec["dataset"]), ThreatModel(spec["threat_model"])
        except ValueError as exc:
            raise BenchmarkError(f"{spec['ref']}: {exc}; datasets: {', '.join(d.value for d in zoo)}") from None
        models = zoo.get(ds, {}).get(tm, {})
        if spec["model"] not in models:
            import difflib

            close = difflib.get_close_matches(spec["model"], list(models), n=3)
            raise BenchmarkError(f"{spec['ref']}: RobustBench has no {spec['model']!r} for {ds.value} {tm.value}"
                                 + (f" (did you mean {', '.join(close)}?)" if close else "")
                                 + ": `python -m benchmark zoo sources --provider robustbench` lists them")
        return models[spec["model"]]

    def list(self, **filters) -> list[str]:
        zoo = robustbench()
        return [f"robustbench:{ds.value}/{tm.value}/{name}" for ds, tms in zoo.items() for tm, models in tms.items()
                for name in models if tm.value in ("Linf", "L2")]

    def info(self, spec: dict) -> SourceInfo:
        ds = spec["dataset"]
        task = dataset_task(ds)
        task.update(RAW)  # RobustBench's models take pixels in [0, 1] and normalize inside
        return SourceInfo(task, task["num_classes"], spec["threat_model"], RB_EPS.get((spec["threat_model"], ds)),
                          description=f"RobustBench {ds} {spec['threat_model']} model {spec['model']}")

    def build(self, spec: dict) -> nn.Module:
        entry = self._entry(spec)
        return entry["model"]()

    def load(self, spec: dict, cache: Path) -> nn.Module:
        entry = self._entry(spec)  # also makes robustbench importable
        from robustbench.utils import load_model

        path = cache / "robustbench" / spec["dataset"] / spec["threat_model"] / f"{spec['model']}.pt"
        gid = entry.get("gdrive_id")
        url = (f"https://drive.google.com/uc?id={gid}" if isinstance(gid, str) else
               "its Google Drive files (" + ", ".join(gid) + ")" if gid else "timm's pretrained weights")
        fetch = not path.is_file() and isinstance(gid, str)
        if fetch and offline():
            raise BenchmarkError(f"{spec['ref']}: not on this machine, and offline ({OFFLINE_VARS}): download {url} "
                                 f"and put it at {path}")
        try:
            return load_model(spec["model"], model_dir=str(cache / "robustbench"), dataset=spec["dataset"],
                              threat_model=spec["threat_model"])
        except BenchmarkError:
            raise
        except Exception as exc:  # no network, a 404, a truncated or corrupt file: one line, nothing half-kept
            if fetch:
                path.unlink(missing_ok=True)
                raise download_failed(spec["ref"], url, path, exc) from None
            raise BenchmarkError(f"{spec['ref']}: {path} cannot be read ({_reason(exc)}): a truncated or corrupt "
                                 f"file; delete it to download it again from {url}, or put a good copy there") from None


@register_provider
class Timm(Provider):
    """timm's models with pretrained weights: `timm:<name>`, e.g. `timm:resnet50.a1_in1k`; `?file=PATH` loads a
    local checkpoint through timm's `pretrained_cfg_overlay` (no download)."""

    name = "timm"
    package = "timm"
    form = "timm:<name>[?file=PATH]"

    def parse(self, spec: str) -> dict:
        if not spec:
            raise BenchmarkError("timm: name a model, e.g. timm:resnet50.a1_in1k")
        return {"model": spec}

    def list(self, **filters) -> list[str]:
        timm = import_optional("timm", "timm")
        return [f"timm:{n}" for n in timm.list_pretrained(filters.get("pattern") or "*")]

    def _create(self, spec: dict, pretrained: bool):
        timm = import_optional("timm", "timm")
        overlay = {"file": spec["file"]} if spec.get("file") else None
        try:
            return timm.create_model(spec["model"], pretrained=pretrained, pretrained_cfg_overlay=overlay)
        except RuntimeError as exc:
            raise BenchmarkError(f"{spec['ref']}: timm cannot make it ({str(exc).splitlines()[0]})") from None

    def info(self, spec: dict) -> SourceInfo:
        cfg = self._create(spec, False).pretrained_cfg
        size = cfg.get("input_size", (3, 224, 224))
        imagenet = dataset_task("imagenet")  # timm's pretrained configs are ImageNet's unless they say otherwise
        task = {**imagenet, "num_classes": cfg.get("num_classes", imagenet["num_classes"]), "image_size": size[-1],
                "channels": size[0], "mean": list(cfg.get("mean", imagenet["mean"])),
                "std": list(cfg.get("std", imagenet["std"]))}
        return SourceInfo(task, task["num_classes"], mean=tuple(task["mean"]), std=tuple(task["std"]),
                          description=f"timm model {spec['model']}")

    def build(self, spec: dict) -> nn.Module:
        return self._create(spec, False)

    def load(self, spec: dict, cache: Path) -> nn.Module:
        if spec.get("file"):
            return self._create(spec, True)
        cfg = self._create(spec, False).pretrained_cfg
        url = (f"https://huggingface.co/{cfg['hf_hub_id']}" if cfg.get("hf_hub_id") else cfg.get("url")) or "timm's hub"
        if offline():
            raise BenchmarkError(f"{spec['ref']}: offline ({OFFLINE_VARS}), and timm would download its weights from "
                                 f"{url}: download them and name the file, timm:{spec['model']}?file=PATH")
        try:
            return self._create(spec, True)
        except BenchmarkError:
            raise
        except Exception as exc:  # no network, a 404, a truncated file
            raise BenchmarkError(f"{spec['ref']}: downloading its weights from {url} failed ({_reason(exc)}): "
                                 f"download them yourself and name the file, timm:{spec['model']}?file=PATH") from None


def _state_from_checkpoint(path: Path, fmt: str, trusted: bool) -> dict:
    """A checkpoint's state dict, in the formats of the robust models people publish: a plain state dict,
    one under `state_dict`/`model`, or a Madry-lab `robustness` checkpoint (the classifier under
    `module.model.`, beside the attacker's copy and the normalizer)."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as exc:
        if not trusted and "weights only" in str(exc).lower():
            raise BenchmarkError(f"checkpoint {path} cannot be loaded safely ({type(exc).__name__}); if you trust its "
                                 "source, add `trusted=1` to the source name") from None
        raise BenchmarkError(f"checkpoint {path} cannot be read ({_reason(exc)}): a truncated or corrupt file; put a "
                             "good copy there") from None
    state = obj
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if fmt == "madry":
        state = {k[len("module.model."):]: v for k, v in state.items() if k.startswith("module.model.")}
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _architecture(spec: dict) -> nn.Module:
    import torchvision

    arch = spec.get("arch")
    if not arch:
        raise BenchmarkError(f"{spec['ref']}: say which network the checkpoint is for: ?arch=resnet50 (torchvision) "
                             "or ?arch=timm/<name>")
    if arch.startswith("timm/"):
        return import_optional("timm", "timm").create_model(arch[len("timm/"):], pretrained=False,
                                                           num_classes=int(spec.get("classes", 1000)))
    try:
        return torchvision.models.get_model(arch, weights=None, num_classes=int(spec.get("classes", 1000)))
    except ValueError:
        raise BenchmarkError(f"{spec['ref']}: torchvision has no architecture {arch!r}") from None


def _imagenet_info(spec: dict, what: str) -> SourceInfo:
    task = {**dataset_task("imagenet"), "num_classes": int(spec.get("classes", 1000))}
    return SourceInfo(task, task["num_classes"], spec.get("threat", "Linf"),
                      float(spec["eps"]) if spec.get("eps") else None, tuple(task["mean"]), tuple(task["std"]), what)


def _load_into(spec: dict, path: Path) -> nn.Module:
    net = _architecture(spec)
    state = _state_from_checkpoint(path, spec.get("format", "state_dict"), spec.get("trusted") == "1")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = [line.strip() for line in str(exc).split("\n") if line.strip()][1:2] or [str(exc)[:200]]
        raise BenchmarkError(f"{spec['ref']}: the checkpoint does not fit {spec.get('arch')} ({first[0][:200]}): "
                             "check ?arch= and ?format= (madry for the Madry lab's robustness checkpoints)") from None
    return net


@register_provider
class HuggingFace(Provider):
    """A checkpoint in a Hugging Face Hub repository, fetched by `huggingface_hub` (its cache; offline with
    HF_HUB_OFFLINE=1): `hf:<owner>/<repo>/<file>?arch=resnet50&format=madry`, e.g. the Madry lab's robust
    ImageNet models, `hf:madrylab/robust-imagenet-models/resnet50_linf_eps4.0.ckpt?arch=resnet50&format=madry`."""

    name = "hf"
    package = "huggingface_hub"
    form = "hf:<owner>/<repo>/<file>?arch=<architecture>[&format=madry]"

    def parse(self, spec: str) -> dict:
        parts = spec.split("/", 2)
        if len(parts) != 3 or not all(parts):
            raise BenchmarkError(f"hf:{spec}: use hf:<owner>/<repo>/<file>?arch=<architecture>")
        return {"repo": f"{parts[0]}/{parts[1]}", "file": parts[2]}

    def info(self, spec: dict) -> SourceInfo:
        return _imagenet_info(spec, f"{spec['file']} from the Hugging Face Hub repository {spec['repo']}")

    def build(self, spec: dict) -> nn.Module:
        return _architecture(spec)

    def load(self, spec: dict, cache: Path) -> nn.Module:
        import os

        hub = import_optional("huggingface_hub", "huggingface_hub")
        offline_hub = offline()  # read now, not at import
        try:
            path = hub.hf_hub_download(spec["repo"], spec["file"], revision=spec.get("revision"),
                                       cache_dir=os.environ.get("HF_HUB_CACHE") or None, local_files_only=offline_hub)
        except Exception as exc:  # offline without it in the cache, a missing file, no network
            url = f"https://huggingface.co/{spec['repo']}/resolve/{spec.get('revision') or 'main'}/{spec['file']}"
            where = os.environ.get("HF_HUB_CACHE") or "the Hub's cache (HF_HUB_CACHE)"
            raise BenchmarkError(f"{spec['ref']}: the Hugging Face Hub cannot give {spec['file']} ({_reason(exc)}): "
                                 f"{'offline, ' if offline_hub else ''}fetch {url} into {where} "
                                 f"(`huggingface-cli download {spec['repo']} {spec['file']}`), or use "
                                 f"file:<path>?arch={spec.get('arch', '...')} on a copy of it") from None
        return _load_into(spec, Path(path))


@register_provider
class TorchVision(Provider):
    """torchvision's models with their published weights: `torchvision:<name>[?weights=<enum name>]`."""

    name = "torchvision"
    package = "torchvision"
    form = "torchvision:<name>[?weights=<weights>]"

    def parse(self, spec: str) -> dict:
        return {"model": spec, "arch": spec}

    def list(self, **filters) -> list[str]:
        import torchvision

        return [f"torchvision:{n}" for n in torchvision.models.list_models(module=torchvision.models)]

    def info(self, spec: dict) -> SourceInfo:
        return _imagenet_info(spec, f"torchvision {spec['model']}")

    def build(self, spec: dict) -> nn.Module:
        import torchvision

        return torchvision.models.get_model(spec["model"], weights=None)

    def load(self, spec: dict, cache: Path) -> nn.Module:
        import os

        import torch
        import torchvision

        try:
            weights = torchvision.models.get_model_weights(spec["model"])[spec.get("weights", "DEFAULT").split(".")[-1]]
        except (KeyError, ValueError) as exc:
            raise BenchmarkError(f"{spec['ref']}: torchvision has no such weights ({_reason(exc)})") from None
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
        if not path.is_file() and offline():
            raise BenchmarkError(f"{spec['ref']}: not on this machine, and offline ({OFFLINE_VARS}): download "
                                 f"{weights.url} and put it at {path}")
        had = path.is_file()
        try:
            return torchvision.models.get_model(spec["model"], weights=weights)
        except Exception as exc:  # no network, a 404, a truncated file (torchvision checks its hash)
            if not had:
                path.unlink(missing_ok=True)
                raise download_failed(spec["ref"], weights.url, path, exc) from None
            raise BenchmarkError(f"{spec['ref']}: {path} cannot be read ({_reason(exc)}): a truncated or corrupt "
                                 f"file; delete it to download it again from {weights.url}") from None


@register_provider
class File(Provider):
    """A checkpoint on disk: `file:<path>?arch=resnet50[&format=madry|state_dict][&classes=N][&eps=E]`."""

    name = "file"
    form = "file:<path>?arch=<architecture>[&format=madry|state_dict]"

    def parse(self, spec: str) -> dict:
        return {"path": spec}

    def info(self, spec: dict) -> SourceInfo:
        return _imagenet_info(spec, f"the checkpoint {spec['path']}")

    def build(self, spec: dict) -> nn.Module:
        return _architecture(spec)

    def load(self, spec: dict, cache: Path) -> nn.Module:
        path = Path(spec["path"]).expanduser()
        if not path.is_file():
            raise BenchmarkError(f"{spec['ref']}: no file {path}")
        return _load_into(spec, path)
