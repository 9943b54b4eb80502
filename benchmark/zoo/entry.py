"""A zoo entry: one YAML file that says what a model is (task, architecture, threat model),
how it is made (strategy, source, data size, recipe, seeds, tuning budget) and where its
published weights are (per seed, pinned by sha256). Entries are data, never code."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from benchmark.errors import BenchmarkError
from benchmark.spec import (check_field, non_default, parse_dataclass, positive, read_yaml, to_plain,
                            unknown_key)


def _sha(v) -> str | None:
    ok = isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)
    return None if ok else "must be 64 lowercase hex digits or null"


@dataclass(frozen=True)
class WeightsRef:
    """Published weights for one seed: a file (relative to the entry's folder) or a URL."""

    seed: int = 0
    file: str | None = None
    url: str | None = None                      # https://..., http://... or file://...
    sha256: str | None = field(default=None, metadata=check_field(_sha))
    format: Literal["safetensors", "torch", "provider"] = "safetensors"  # provider: the entry's `provider` loads it
    state_key: str | None = None                # the state dict's key inside a torch checkpoint
    trusted: bool = False                       # allow a torch pickle that holds more than tensors
    convert: str | None = None                  # a registered key conversion (benchmark/zoo/converters.py)
    rename: list[list[str]] = field(default_factory=list)  # [regex, replacement] pairs, applied in order
    drop: str | None = None                     # regex of checkpoint keys to ignore

    def where(self) -> str:
        return self.file or self.url or ("the provider" if self.format == "provider" else "?")


@dataclass(frozen=True)
class Normalization:
    mean: list[float]
    std: list[float]


@dataclass(frozen=True)
class Tuning:
    """The hyperparameter budget every arm gets, selected on the task's validation split."""

    grid: dict[str, list] = field(default_factory=dict)
    criterion: Literal["robust", "clean"] = "robust"
    # the entry's first `seeds` seeds each train every configuration; their validation scores are averaged
    seeds: int = field(default=1, metadata=check_field(positive))
    # a floor on validation clean accuracy: this entry's (its tuning record's selection, same tuning seeds);
    # configurations below it are not eligible (the most accurate one is taken when none reaches it)
    clean_at_least: str | None = None
    selected: dict | None = None
    # instead of a grid: the settings themselves (a fractional design over several recipe fields)
    points: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class SizeOverride:
    """A smaller run of an entry that keeps its recipe's logic: a rehearsal of a long job.

    Applied with `--override KEY=VALUE` to `train` and `evaluate`; it makes a derived entry
    named `<entry>@<tag>` (its source derived the same way), recorded in every weights file
    and record it produces, and never mistaken for the entry itself: its weights and records
    go to the user's cache and results, under the derived name.
    """

    architecture: str | None = None
    n_per_class: int | None = field(default=None, metadata=check_field(positive))
    epochs: int | None = field(default=None, metadata=check_field(positive))
    batch_size: int | None = field(default=None, metadata=check_field(positive))

    @property
    def tag(self) -> str:
        parts = {"architecture": "", "n_per_class": "n", "epochs": "e", "batch_size": "b"}
        return "-".join(f"{p}{getattr(self, k)}" for k, p in parts.items() if getattr(self, k) is not None)


@dataclass(frozen=True)
class ZooEntry:
    name: str
    task: str
    architecture: str
    threat_model: Literal["Linf", "L2"]
    eps: float = field(metadata=check_field(positive))
    protocol: str
    strategy: str
    recipe: dict = field(default_factory=dict)
    source: str | None = None
    n_per_class: int | Literal["all"] | None = field(default="all", metadata=check_field(
        lambda v: None if v == "all" or v > 0 else "must be a positive integer or 'all'"))
    head: dict = field(default_factory=lambda: {"type": "linear"})
    seeds: list[int] = field(default_factory=lambda: [0], metadata=check_field(
        lambda v: None if v and len(set(v)) == len(v) else "must list distinct seeds"))
    weights: list[WeightsRef] = field(default_factory=list)
    normalization: Normalization | None = None   # the weights' own input statistics (external sources)
    tuning: Tuning | None = None
    reference: str = ""
    description: str = ""
    suites: list[str] = field(default_factory=list)
    override: SizeOverride | None = None          # a rehearsal's size override (see SizeOverride)
    provider: str | None = None                   # published elsewhere, loaded by a provider (benchmark.sources)
    source_sha256: str | None = field(default=None, metadata=check_field(_sha))  # pins a provider source's weights
    path: str = field(default="", compare=False)  # the file it came from
    origin: Literal["project", "user"] = field(default="project", compare=False)

    @property
    def n(self) -> int | None:
        """Examples per class, or None for all."""
        return None if self.n_per_class in ("all", None) else int(self.n_per_class)

    @property
    def folder(self) -> Path:
        return Path(self.path).parent if self.path else Path(".")

    def strategy_cls(self):
        from benchmark.strategies import STRATEGIES

        return STRATEGIES.get(self.strategy)

    def parsed_recipe(self):
        from benchmark.strategies import parse_recipe

        if self.strategy == "external":
            raise BenchmarkError(f"{self.name} is published by its authors; it has no recipe to train here: "
                                 "evaluate or transfer from its published weights")
        return parse_recipe(self.recipe, self.strategy_cls(), self.path or self.name)

    def make_strategy(self, recipe=None):
        return self.strategy_cls()(recipe or self.parsed_recipe(), self.eps, self.threat_model)

    @property
    def family(self) -> str:
        """A display label that tells transfer, fine-tuning and from-scratch baselines apart."""
        if self.strategy == "external":
            return "published elsewhere"
        return self.make_strategy().describe(self)

    def published(self, seed: int) -> WeightsRef | None:
        return next((w for w in self.weights if w.seed == seed), None)

    def with_recipe(self, recipe) -> "ZooEntry":
        return replace(self, recipe=recipe.to_dict() if hasattr(recipe, "to_dict") else dict(recipe))

    def to_dict(self) -> dict:
        d = to_plain(self)
        for key in ("path", "origin"):
            d.pop(key)
        return d

    def file_dict(self) -> dict:
        """What the entry's YAML file holds: every field, without optional ones left empty."""
        d = self.to_dict()
        for key in ("source", "normalization", "tuning", "override", "provider", "source_sha256"):
            if d.get(key) is None:
                d.pop(key)
        if self.weights:
            d["weights"] = [{"seed": w.seed, **non_default(w)} for w in self.weights]
        else:
            d.pop("weights")
        if self.tuning is not None:
            for key, default in (("selected", None), ("seeds", 1), ("clean_at_least", None), ("points", []),
                                 ("grid", {})):
                if d["tuning"][key] == default:  # written only where set: older files stay as they are
                    d["tuning"].pop(key)
            # the order a study's expansion writes: the settings tried, then how one is chosen, then the choice
            first = ("points", "grid", "criterion", "seeds", "clean_at_least", "selected")
            d["tuning"] = {k: d["tuning"][k] for k in first if k in d["tuning"]}
        order = ("name", "task", "architecture", "threat_model", "eps", "protocol", "strategy", "provider", "source",
                 "source_sha256", "n_per_class", "head", "seeds", "recipe", "tuning", "weights", "normalization",
                 "reference", "description", "suites", "override")
        return {k: d[k] for k in order if k in d}


ENTRY_KEYS = tuple(f for f in ZooEntry.__dataclass_fields__ if f not in ("path", "origin"))


def source_seed(source: ZooEntry, seed: int) -> int:
    """The seed of the source a transfer's seed `seed` starts from: the same seed, or the one model of a
    source that has a single seed (a checkpoint published elsewhere, or a source too costly to train twice),
    from which every seed of the transfer starts."""
    if seed in source.seeds:
        return seed
    if len(source.seeds) == 1:
        return source.seeds[0]
    raise BenchmarkError(f"seed {seed} would transfer from {source.name} seed {seed}, which that entry does not have "
                         f"(seeds {source.seeds}): use the source's seeds, or give it a single seed")


def parse_entry(data, where: str, origin: str = "project") -> ZooEntry:
    """Validate an entry mapping; every problem is one line naming the field."""
    from benchmark.data.tasks import get_task
    from benchmark.models import MODELS
    from benchmark.strategies import STRATEGIES, parse_recipe

    if not isinstance(data, dict):
        raise BenchmarkError(f"{where}: a zoo entry must be a mapping of fields, got {type(data).__name__}")
    for key in data:
        if key not in ENTRY_KEYS:
            raise unknown_key(key, ENTRY_KEYS, where)
    values = dict(data)
    if values.get("n_per_class") is None and "n_per_class" in values:
        values["n_per_class"] = "all"
    entry = parse_dataclass(ZooEntry, values, where, extra_known=())
    entry = replace(entry, path=where, origin=origin)
    from benchmark.sources import is_ref, split_ref

    if entry.architecture not in MODELS:
        if not is_ref(entry.architecture):
            raise BenchmarkError(f"{where}: field 'architecture': {MODELS.unknown(entry.architecture)} (or a source "
                                 "provider's network, e.g. robustbench:cifar10/Linf/Standard)")
        split_ref(entry.architecture)
    if entry.provider is not None:
        try:
            split_ref(entry.provider)
        except BenchmarkError as exc:
            raise BenchmarkError(f"{where}: field 'provider': {exc}") from None
        if entry.strategy != "external":
            raise BenchmarkError(f"{where}: field 'provider': an entry loaded by a provider has strategy 'external'")
    if entry.strategy not in STRATEGIES:
        raise BenchmarkError(f"{where}: field 'strategy': {STRATEGIES.unknown(entry.strategy)}")
    try:
        get_task(entry.task, relative_to=entry.folder)
    except BenchmarkError as exc:
        raise BenchmarkError(f"{where}: field 'task': {exc}") from None
    cls = STRATEGIES.get(entry.strategy)
    if cls.source == "required" and not entry.source:
        raise BenchmarkError(f"{where}: field 'source' is required for strategy {entry.strategy!r}")
    if cls.source == "none" and entry.source:
        raise BenchmarkError(f"{where}: field 'source' does not apply to strategy {entry.strategy!r}")
    if entry.strategy == "external":
        if entry.provider is not None and not entry.weights:
            entry = replace(entry, weights=[WeightsRef(seed=s, format="provider") for s in entry.seeds])
        if entry.recipe or not entry.weights or entry.tuning:
            raise BenchmarkError(f"{where}: an 'external' entry lists its published `weights` (or names its "
                                 "`provider`) and has no recipe")
        recipe = None
    else:
        recipe = parse_recipe(entry.recipe, cls, where)
    head = entry.head
    if not isinstance(head, dict) or head.get("type", "linear") not in ("linear", "mlp"):
        raise BenchmarkError(f"{where}: field 'head.type' must be 'linear' or 'mlp'")
    if entry.tuning is not None:
        _check_grid(entry.tuning, recipe, cls, where)
    seeds = {w.seed for w in entry.weights}
    if len(seeds) != len(entry.weights):
        raise BenchmarkError(f"{where}: field 'weights' lists a seed twice")
    for i, w in enumerate(entry.weights):
        if w.format == "provider":
            if entry.provider is None:
                raise BenchmarkError(f"{where}: field 'weights[{i}].format': 'provider' needs the entry's 'provider'")
        elif (w.file is None) == (w.url is None):
            raise BenchmarkError(f"{where}: field 'weights[{i}]' needs exactly one of 'file' or 'url'")
        if w.seed not in entry.seeds:
            raise BenchmarkError(f"{where}: field 'weights[{i}].seed' is {w.seed}, not one of seeds {entry.seeds}")
    if entry.normalization is not None:
        n = entry.normalization
        if len(n.mean) != len(n.std) or min(n.std) <= 0:
            raise BenchmarkError(f"{where}: field 'normalization' needs one mean and one positive std per channel")
    return entry


def _check_grid(tuning: Tuning, recipe, cls, where: str) -> None:
    from benchmark.strategies import parse_recipe

    if bool(tuning.grid) == bool(tuning.points):
        raise BenchmarkError(f"{where}: field 'tuning' needs exactly one of 'grid' (recipe field -> values) or "
                             "'points' (a list of settings)")
    for key, values in tuning.grid.items():
        if not isinstance(values, list) or not values:
            raise BenchmarkError(f"{where}: field 'tuning.grid.{key}' must be a non-empty list of values")
        for v in values:
            try:
                parse_recipe({**recipe.to_dict(), key: v}, cls, where)
            except BenchmarkError as exc:
                raise BenchmarkError(f"{where}: field 'tuning.grid.{key}': {str(exc).split(': ', 1)[1]}") from None
    for i, point in enumerate(tuning.points):
        if not isinstance(point, dict) or not point:
            raise BenchmarkError(f"{where}: field 'tuning.points[{i}]' must be a mapping of recipe field -> value")
        try:
            parse_recipe({**recipe.to_dict(), **point}, cls, where)
        except BenchmarkError as exc:
            raise BenchmarkError(f"{where}: field 'tuning.points[{i}]': {str(exc).split(': ', 1)[1]}") from None
    if tuning.points and tuning.points.count(tuning.points[0]) > 1 or \
            len({tuple(sorted(p.items())) for p in tuning.points}) != len(tuning.points):
        raise BenchmarkError(f"{where}: field 'tuning.points' lists a setting twice")


def load_entry_file(path: Path, origin: str = "project") -> ZooEntry:
    data = read_yaml(path, "zoo entry")
    entry = parse_entry(data, str(path), origin)
    if entry.name != Path(path).stem:
        raise BenchmarkError(f"{path}: field 'name' is {entry.name!r} but the file is named {Path(path).stem!r}")
    return entry


def write_entry_file(entry: ZooEntry, path: Path | None = None) -> Path:
    import yaml

    from benchmark.io import atomic_write_text

    path = Path(path or entry.path)
    return atomic_write_text(path, yaml.safe_dump(entry.file_dict(), sort_keys=False, width=110))


def entry_lock_file(path: Path | str) -> Path:
    """The lock every writer of the zoo folder's entry files takes (publish, tune, the zoo generator)."""
    return Path(path).parent / ".zoo.lock"


def update_entry_file(entry: ZooEntry, change) -> ZooEntry:
    """Apply `change` to the entry as its file holds it now, and write it back, under the zoo's lock.

    Processes that publish seeds of the same entry side by side each add their own pin
    instead of writing back the copy they read before the other one's.
    """
    from benchmark.io import file_lock

    path = Path(entry.path)
    with file_lock(entry_lock_file(path)):
        current = load_entry_file(path, entry.origin) if path.is_file() else entry
        updated = change(current)
        write_entry_file(updated, path)
    return updated


def parse_override(items: list[str] | None) -> SizeOverride | None:
    """`--override architecture=wrn_10_1 n_per_class=4 epochs=2` as a typed SizeOverride (None when empty)."""
    if not items:
        return None
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise BenchmarkError(f"--override expects KEY=VALUE, got {item!r} (keys: "
                                 f"{', '.join(SizeOverride.__dataclass_fields__)})")
        values[key] = value if key == "architecture" else _int(key, value)
    return parse_dataclass(SizeOverride, values, "--override", extra_known=())


def _int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BenchmarkError(f"--override {key}={value}: {key} must be an integer") from None


def derive(entry: ZooEntry, override: SizeOverride, entries: dict[str, ZooEntry]) -> ZooEntry:
    """The entry as its override makes it, with its source chain derived too (added to `entries`)."""
    name = f"{entry.name}@{override.tag}"
    if name in entries:
        return entries[name]
    source = derive(entries[entry.source], override, entries).name if entry.source else None
    recipe = dict(entry.recipe)
    old_epochs = recipe.get("epochs")
    if override.epochs is not None:
        recipe["epochs"] = override.epochs
        warm = recipe.get("warm_start_epochs")
        if warm and old_epochs:  # the head's warm start keeps its share of training, at least 1 epoch of each
            recipe["warm_start_epochs"] = min(max(1, round(warm * override.epochs / old_epochs)),
                                              max(1, override.epochs - 1))
    if override.batch_size is not None:
        recipe["batch_size"] = override.batch_size
    changed = ", ".join(f"{k} {getattr(override, k)}" for k in SizeOverride.__dataclass_fields__
                        if getattr(override, k) is not None)
    derived = replace(entry, name=name, source=source, architecture=override.architecture or entry.architecture,
                      n_per_class=override.n_per_class or entry.n_per_class, recipe=recipe, weights=[],
                      tuning=None, suites=["rehearsal"], override=override, origin="user", path="",
                      description=f"Rehearsal of {entry.name} at toy size ({changed}); otherwise its recipe. "
                                  + entry.description)
    parse_entry(derived.to_dict(), f"{entry.name} with --override")  # the override must still make a valid entry
    entries[name] = derived
    return derived
