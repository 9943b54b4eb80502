"""Versioned evaluation protocols: threat model, eps, the fixed evaluation subset, and the attacks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from benchmark.attacks import ATTACK_TYPES, Attack, build_attack
from benchmark.errors import BenchmarkError

PROTOCOL_DIR = Path(__file__).resolve().parent / "protocols"
MAX_EPS = {"Linf": 1.0, "L2": 28.0 * 28.0}


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    threat_model: str
    eps: float
    n_examples: int
    seed: int
    attacks: tuple[dict, ...]
    cascade: bool = True
    tolerance_examples: int = 10
    source: str = field(default="", compare=False)

    def build_attacks(self, eps: float | None = None) -> list[Attack]:
        return [build_attack(spec, self.threat_model, self.eps if eps is None else eps, self.seed)
                for spec in self.attacks]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["attacks"] = [dict(a) for a in self.attacks]
        d.pop("source")
        return d


def _require(data: dict, key: str, kind, where: str):
    if key not in data:
        raise BenchmarkError(f"{where}: missing field '{key}'")
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BenchmarkError(f"{where}: field '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def parse_protocol(data, where: str) -> Protocol:
    """Validate a protocol mapping; every problem names the field."""
    if not isinstance(data, dict):
        raise BenchmarkError(f"{where}: a protocol must be a mapping of fields, got {type(data).__name__}")
    name = _require(data, "name", str, where)
    version = _require(data, "version", int, where)
    norm = _require(data, "threat_model", str, where)
    if norm not in MAX_EPS:
        raise BenchmarkError(f"{where}: field 'threat_model' must be Linf or L2, got {norm!r}")
    eps = _require(data, "eps", float, where)
    if not (0 < eps <= MAX_EPS[norm]):
        raise BenchmarkError(f"{where}: field 'eps' must be in (0, {MAX_EPS[norm]}] for {norm}, got {eps}")
    n = _require(data, "n_examples", int, where)
    if n <= 0:
        raise BenchmarkError(f"{where}: field 'n_examples' must be positive, got {n}")
    seed = _require(data, "seed", int, where)
    attacks = _require(data, "attacks", list, where)
    if not attacks:
        raise BenchmarkError(f"{where}: field 'attacks' must list at least one attack")
    names = set()
    for i, spec in enumerate(attacks):
        if not isinstance(spec, dict) or spec.get("type") not in ATTACK_TYPES:
            raise BenchmarkError(f"{where}: field 'attacks[{i}].type' must be one of {', '.join(ATTACK_TYPES)}")
        spec_name = spec.get("name", spec["type"])
        if spec_name in names:
            raise BenchmarkError(f"{where}: field 'attacks[{i}].name' repeats {spec_name!r}")
        names.add(spec_name)
    protocol = Protocol(name, version, norm, eps, n, seed, tuple(dict(a) for a in attacks),
                        bool(data.get("cascade", True)), int(data.get("tolerance_examples", 10)), where)
    protocol.build_attacks()  # every attack's parameters are checked now, not mid-evaluation
    return protocol


def available_protocols() -> list[str]:
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def load_protocol(name_or_path: str) -> Protocol:
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PROTOCOL_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise BenchmarkError(f"unknown protocol {name_or_path!r}: choose one of {', '.join(available_protocols())}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BenchmarkError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_protocol(data, str(path))
