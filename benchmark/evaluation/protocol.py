"""Versioned evaluation protocols: threat model, eps, the data they apply to, the fixed
evaluation subset, and the attacks with all their parameters."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from benchmark.attacks import Attack, build_attack
from benchmark.errors import BenchmarkError
from benchmark.spec import check_field, non_negative, parse_dataclass, positive, read_yaml

PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "protocols"


@dataclass(frozen=True)
class AppliesTo:
    """The data a protocol's eps is calibrated for; an unset field matches anything."""

    datasets: list[str] | None = None
    channels: int | None = None
    image_size: int | None = None

    def mismatch(self, task) -> str | None:
        if self.datasets and task.dataset not in self.datasets:
            return f"{'/'.join(self.datasets)} data"
        if self.channels and task.channels != self.channels:
            return f"{self.channels}-channel images"
        if self.image_size and task.image_size != self.image_size:
            return f"{self.image_size}x{self.image_size} images"
        return None

    def mismatch_shape(self, shape: tuple[int, ...]) -> str | None:
        """For tensors the user passes: (C, H, W) against the channels and image size."""
        if self.channels and shape[0] != self.channels:
            return f"{self.channels}-channel images"
        if self.image_size and tuple(shape[1:]) != (self.image_size, self.image_size):
            return f"{self.image_size}x{self.image_size} images"
        return None

    def describe(self) -> str:
        parts = []
        if self.datasets:
            parts.append("/".join(self.datasets))
        if self.image_size:
            parts.append(f"{self.image_size}x{self.image_size}")
        if self.channels:
            parts.append({1: "grey", 3: "RGB"}.get(self.channels, f"{self.channels}-channel"))
        return " ".join(parts) or "any data"


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    threat_model: Literal["Linf", "L2"]
    eps: float = field(metadata=check_field(positive))
    n_examples: int = field(metadata=check_field(positive))
    seed: int
    attacks: list[dict]
    applies_to: AppliesTo = field(default_factory=AppliesTo)
    cascade: bool = True
    # evaluation gate: examples per record whose outcome may differ on a machine of another kind
    flip_tolerance: int = field(default=0, metadata=check_field(non_negative))
    description: str = ""
    # the attacks' random seed where it differs from the subset's `seed` (the same examples, another draw)
    attack_seed: int | None = None
    # the gradient-masking guards' budgets (benchmark.evaluation.guards.GuardOptions), where not the defaults
    guards: dict | None = None
    # also the clean accuracy on the task's whole test split (a forward pass per example): the attacks run on
    # the fixed subset, a clean accuracy needs no subset
    clean_split: bool = False
    # the worst case is over every attack the protocol runs on an example, the guards' attacks inside the threat
    # model included (AutoAttack's and RobustBench's rule); the record keeps each one's outcome per example
    guards_count: bool = False
    source: str = field(default="", compare=False)

    def build_attacks(self, eps: float | None = None) -> list[Attack]:
        seed = self.seed if self.attack_seed is None else self.attack_seed
        return [build_attack(spec, self.threat_model, self.eps if eps is None else eps, seed, self.source,
                             f"attacks[{i}].") for i, spec in enumerate(self.attacks)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        for key in ("attack_seed", "guards", "clean_split", "guards_count"):  # unset: not written, so earlier records compare equal
            if d[key] is None or d[key] is False:
                d.pop(key)
        return d

    @property
    def min_classes(self) -> int:
        """The fewest classes its attacks serve: the reference AutoAttack's APGD-T uses the targeted DLR loss,
        undefined below 4 classes (our APGD falls back to the CW margin there, so it serves 2 and more)."""
        need = 2
        for spec in self.attacks:
            if spec.get("type") == "autoattack":
                runs = spec.get("attacks") if spec.get("version") == "custom" else ["apgd-t"]
                need = max(need, 4 if "apgd-t" in (runs or []) else 3 if "apgd-dlr" in (runs or []) else 2)
        return need

    def check_task(self, task, model_name: str = "") -> None:
        """A one-line error when this protocol's eps is not meant for the task's data, or its attacks cannot
        serve the task's number of classes."""
        who = f"{model_name}'s task {task.name}" if model_name else f"task {task.name}"
        if task.n_classes and task.n_classes < self.min_classes:
            fits = [p for p in available_protocols() if load_protocol(p).applies_to.mismatch(task) is None
                    and load_protocol(p).min_classes <= task.n_classes]
            raise BenchmarkError(
                f"protocol {self.name} runs the reference AutoAttack, whose APGD-T needs at least {self.min_classes} "
                f"classes, but {who} has {task.n_classes}: choose one of {', '.join(fits) or 'none (write one)'}")
        problem = self.applies_to.mismatch(task)
        if problem:
            fits = [p for p in available_protocols() if load_protocol(p).applies_to.mismatch(task) is None]
            raise BenchmarkError(
                f"protocol {self.name} is for {problem} ({self.applies_to.describe()}), but {who} is {task.dataset} "
                f"{task.image_size}x{task.image_size}x{task.channels}: choose one of {', '.join(fits) or 'none (write one)'}")

    def check_eps(self, eps: float, task=None) -> None:
        top = 1.0 if self.threat_model == "Linf" else (math.sqrt(math.prod(task.input_shape)) if task else math.inf)
        if not (0 < eps <= top):
            raise BenchmarkError(f"--eps must be in (0, {top:g}] for {self.threat_model}, got {eps}")


def parse_protocol(data, where: str) -> Protocol:
    """Validate a protocol mapping; every problem names the field."""
    protocol = parse_dataclass(Protocol, data, where)
    protocol = Protocol(**{**protocol.__dict__, "source": where})
    if protocol.threat_model == "Linf" and protocol.eps > 1:
        raise BenchmarkError(f"{where}: field 'eps' must be in (0, 1] for Linf, got {protocol.eps}")
    if not protocol.attacks:
        raise BenchmarkError(f"{where}: field 'attacks' must list at least one attack")
    names = set()
    for i, spec in enumerate(protocol.attacks):
        if not isinstance(spec, dict):
            raise BenchmarkError(f"{where}: field 'attacks[{i}]' must be a mapping with a 'type'")
        spec_name = spec.get("name", spec.get("type"))
        if spec_name in names:
            raise BenchmarkError(f"{where}: field 'attacks[{i}].name' repeats {spec_name!r}")
        names.add(spec_name)
    protocol.build_attacks()  # every attack's parameters are checked now, not mid-evaluation
    if protocol.guards is not None:
        from benchmark.evaluation.guards import guard_options

        guard_options(protocol, "cpu", where)  # its keys are checked now too
    return protocol


def available_protocols() -> list[str]:
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def load_protocol(name_or_path: str) -> Protocol:
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PROTOCOL_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise BenchmarkError(f"unknown protocol {name_or_path!r}: choose one of {', '.join(available_protocols())}")
    data = read_yaml(path, "protocol")
    return parse_protocol(data, str(path))
