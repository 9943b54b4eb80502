"""The model zoo: one YAML file per entry in model_zoo/, weights in a cache directory.

An entry is data (task, architecture, threat model, source, strategy, recipe, weights,
reference), never code; adding a model means adding one file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from benchmark.errors import BenchmarkError
from benchmark.io import repo_root, sha256_file

SOURCE_STRATEGIES = ("natural", "pgd_at", "free_at", "fast_at", "trades")
TRANSFER_STRATEGIES = ("linear", "mlp", "retrain_last_k", "finetune", "lwf")
STRATEGIES = SOURCE_STRATEGIES + TRANSFER_STRATEGIES


def zoo_dir() -> Path:
    return Path(os.environ.get("RTB_ZOO_DIR", repo_root() / "model_zoo"))


def cache_dir(override: str | Path | None = None) -> Path:
    if override:
        return Path(override)
    if os.environ.get("RTB_CACHE"):
        return Path(os.environ["RTB_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "robust-transfer-bench" / "zoo"


@dataclass(frozen=True)
class ZooEntry:
    name: str
    task: str
    architecture: str
    threat_model: str
    eps: float
    protocol: str
    strategy: str
    recipe: dict
    source: str | None = None
    n_per_class: int | None = None  # None: all training examples
    head: dict = field(default_factory=lambda: {"type": "linear"})
    weights: str = ""
    sha256: str | None = None
    url: str | None = None
    reference: str = ""
    description: str = ""
    suites: tuple[str, ...] = ()

    @property
    def weights_file(self) -> str:
        return self.weights or f"{self.name}.safetensors"

    @property
    def family(self) -> str:
        """A display label that tells transfer, fine-tuning and from-scratch baselines apart."""
        if self.strategy in SOURCE_STRATEGIES:
            kind = "adv. fine-tune" if self.source else ("source" if self.task.endswith("-src") else "from scratch")
            return f"{self.strategy} ({kind})"
        if self.strategy == "retrain_last_k":
            return f"retrain last {self.recipe.get('k')}"
        if self.strategy == "lwf":
            return f"lwf (lambda={self.recipe.get('lwf_lambda')})"
        return self.strategy

    def to_dict(self) -> dict:
        d = asdict(self)
        d["suites"] = list(self.suites)
        d["n_per_class"] = "all" if self.n_per_class is None else self.n_per_class
        return d


def parse_entry(data, where: str) -> ZooEntry:
    from benchmark.data.tasks import TASKS
    from benchmark.models import ARCHITECTURES

    if not isinstance(data, dict):
        raise BenchmarkError(f"{where}: a zoo entry must be a mapping of fields, got {type(data).__name__}")
    known = set(ZooEntry.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise BenchmarkError(f"{where}: unknown field '{unknown[0]}' (fields: {', '.join(sorted(known))})")
    for key, kind in (("name", str), ("task", str), ("architecture", str), ("threat_model", str),
                      ("protocol", str), ("strategy", str), ("recipe", dict)):
        if key not in data:
            raise BenchmarkError(f"{where}: missing field '{key}'")
        if not isinstance(data[key], kind):
            raise BenchmarkError(f"{where}: field '{key}' must be a {kind.__name__}, got {data[key]!r}")
    if data["task"] not in TASKS:
        raise BenchmarkError(f"{where}: field 'task' must be one of {', '.join(TASKS)}, got {data['task']!r}")
    if data["architecture"] not in ARCHITECTURES:
        raise BenchmarkError(f"{where}: field 'architecture' must be one of {', '.join(ARCHITECTURES)}")
    if data["strategy"] not in STRATEGIES:
        raise BenchmarkError(f"{where}: field 'strategy' must be one of {', '.join(STRATEGIES)}, got {data['strategy']!r}")
    if data["threat_model"] not in ("Linf", "L2"):
        raise BenchmarkError(f"{where}: field 'threat_model' must be Linf or L2, got {data['threat_model']!r}")
    eps = data.get("eps")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise BenchmarkError(f"{where}: field 'eps' must be a positive number, got {eps!r}")
    npc = data.get("n_per_class", "all")
    if npc == "all" or npc is None:
        npc = None
    elif isinstance(npc, bool) or not isinstance(npc, int) or npc <= 0:
        raise BenchmarkError(f"{where}: field 'n_per_class' must be a positive integer or 'all', got {npc!r}")
    if data["strategy"] in TRANSFER_STRATEGIES and not data.get("source"):
        raise BenchmarkError(f"{where}: field 'source' is required for strategy {data['strategy']!r}")
    if data.get("source") is not None and not isinstance(data["source"], str):
        raise BenchmarkError(f"{where}: field 'source' must be an entry name, got {data['source']!r}")
    if data["strategy"] == "retrain_last_k" and not isinstance(data["recipe"].get("k"), int):
        raise BenchmarkError(f"{where}: field 'recipe.k' (blocks to retrain) is required for retrain_last_k")
    for key in ("epochs", "batch_size"):
        value = data["recipe"].get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise BenchmarkError(f"{where}: field 'recipe.{key}' must be a positive integer, got {value!r}")
    head = data.get("head", {"type": "linear"})
    if not isinstance(head, dict) or head.get("type", "linear") not in ("linear", "mlp"):
        raise BenchmarkError(f"{where}: field 'head.type' must be 'linear' or 'mlp'")
    sha = data.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise BenchmarkError(f"{where}: field 'sha256' must be 64 hex digits or null")
    suites = data.get("suites", [])
    if not isinstance(suites, list):
        raise BenchmarkError(f"{where}: field 'suites' must be a list")
    values = {**data, "eps": float(eps), "n_per_class": npc, "head": head, "suites": tuple(suites)}
    return ZooEntry(**values)


def load_entries(directory: Path | None = None) -> dict[str, ZooEntry]:
    directory = directory or zoo_dir()
    entries: dict[str, ZooEntry] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise BenchmarkError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        entry = parse_entry(data, str(path))
        if entry.name != path.stem:
            raise BenchmarkError(f"{path}: field 'name' is {entry.name!r} but the file is named {path.stem!r}")
        entries[entry.name] = entry
    for entry in entries.values():
        if entry.source and entry.source not in entries:
            raise BenchmarkError(f"{zoo_dir() / (entry.name + '.yaml')}: field 'source' names unknown entry {entry.source!r}")
    return entries


def get_entry(name: str, entries: dict[str, ZooEntry] | None = None) -> ZooEntry:
    entries = entries if entries is not None else load_entries()
    if name not in entries:
        import difflib

        close = difflib.get_close_matches(name, entries, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BenchmarkError(f"unknown model {name!r}{hint}: run `python -m benchmark zoo list` for the {len(entries)} entries")
    return entries[name]


def dependency_order(names: list[str], entries: dict[str, ZooEntry]) -> list[str]:
    """The entries and their sources, sources first."""
    order: list[str] = []

    def visit(n: str, stack: tuple[str, ...] = ()):
        if n in order:
            return
        if n in stack:
            raise BenchmarkError(f"zoo entry {n!r}: its sources form a cycle {' -> '.join(stack + (n,))}")
        src = get_entry(n, entries).source
        if src:
            visit(src, stack + (n,))
        order.append(n)

    for n in names:
        visit(n)
    return order


def build_entry_model(entry: ZooEntry):
    from benchmark.data.tasks import get_task
    from benchmark.models import build_model

    task = get_task(entry.task)
    return build_model(entry.architecture, task.num_classes, task.dataset, head=entry.head)


def weights_path(entry: ZooEntry, cache: str | Path | None = None) -> Path:
    return cache_dir(cache) / entry.weights_file


def training_record_path(entry: ZooEntry, cache: str | Path | None = None) -> Path:
    return cache_dir(cache) / f"{entry.name}.train.json"


def train_command(entry: ZooEntry) -> str:
    return f"python -m benchmark train --model {entry.name}"


def verify_weights(entry: ZooEntry, cache: str | Path | None = None) -> Path:
    """The weights path, after checking it exists and matches its sha256."""
    path = weights_path(entry, cache)
    if not path.is_file():
        raise BenchmarkError(f"no weights for {entry.name} at {path}: run `{train_command(entry)}`")
    expected = entry.sha256
    if expected is None:
        rec = training_record_path(entry, cache)
        if rec.is_file():
            try:
                expected = json.loads(rec.read_text()).get("sha256")
            except (json.JSONDecodeError, OSError):
                expected = None
    actual = sha256_file(path)
    if expected and actual != expected:
        raise BenchmarkError(
            f"weights {path} are corrupt or not this entry's (sha256 {actual[:12]}... != {expected[:12]}...): "
            f"delete the file and rerun `{train_command(entry)}`"
        )
    return path


def load_state(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BenchmarkError(f"weights {path} cannot be read ({exc}): delete the file and retrain it") from None


def load_weights_into(model, state: dict, what: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)
        raise BenchmarkError(f"weights {what} do not fit the entry's architecture ({first}): retrain the entry") from None


def load_model(name: str, device: str = "cpu", cache: str | Path | None = None, entries=None):
    """The entry's model in eval mode, with weights verified against their sha256."""
    entry = get_entry(name, entries)
    path = verify_weights(entry, cache)
    model = build_entry_model(entry)
    load_weights_into(model, load_state(path), str(path))
    return model.to(device).eval()
