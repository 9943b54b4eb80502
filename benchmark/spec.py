"""Parse plain mappings (YAML files) into typed dataclasses, with one-line errors naming the field.

Every data file of the benchmark (tasks, zoo entries and their recipes, protocols) goes
through `parse_dataclass`: unknown keys are refused with the closest known name, values
are checked against the field's type and its constraint, and missing required fields are
named. A dataclass field declares its constraint with `metadata={"check": fn}`, where fn
returns an error text or None.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
from typing import Any, Callable, Literal, Union, get_args, get_origin, get_type_hints

from benchmark.errors import BenchmarkError

Check = Callable[[Any], "str | None"]


def read_yaml(path, what: str):
    """A data file's contents, or a one-line error naming the file (`what`: "zoo entry", "task file", ...)."""
    from pathlib import Path

    import yaml

    try:
        return yaml.load(Path(path).read_text(), Loader=_unique_key_loader())
    except OSError as exc:
        raise BenchmarkError(f"{what} {path} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise BenchmarkError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None


@functools.cache
def _unique_key_loader():
    """A safe YAML loader (one class, made at the first read) that refuses a key given twice in one mapping (PyYAML keeps the last silently,
    so a stray `name:` in a comment's place would change a file without a word)."""
    import yaml

    # the C parser where PyYAML has it (a study's plan reads thousands of entry files)
    class UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} given twice (line {key_node.start_mark.line + 1})",
                        key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def positive(v) -> str | None:
    return None if v > 0 else "must be positive"


def non_negative(v) -> str | None:
    return None if v >= 0 else "must be zero or more"


def unit_interval(v) -> str | None:
    return None if 0 <= v <= 1 else "must lie in [0, 1]"


def check_field(metadata: Check) -> dict:
    return {"check": metadata}


def unknown_key(key: str, known, where: str, prefix: str = "") -> BenchmarkError:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
    return BenchmarkError(f"{where}: unknown field '{prefix}{key}'{hint}; known fields: {', '.join(sorted(known))}")


def _describe(tp) -> str:
    origin = get_origin(tp)
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        return "a list"
    if origin is dict or tp is dict:
        return "a mapping"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp) if a is not type(None)) + \
            (" or null" if type(None) in get_args(tp) else "")
    return getattr(tp, "__name__", str(tp))


class _Mismatch(Exception):
    pass


def convert(value, tp):
    """`value` as type `tp`, or raise _Mismatch. Ints are accepted where floats are expected."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return convert(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        args = get_args(tp)
        inner = args[0] if args else Any
        items = [convert(v, inner) for v in value]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        args = get_args(tp)
        if args:
            return {convert(k, args[0]): convert(v, args[1]) for k, v in value.items()}
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _Mismatch


def parse_dataclass(cls, data, where: str, prefix: str = "", extra_known: tuple[str, ...] = ()):
    """Build `cls` from the mapping `data`; every problem is a BenchmarkError naming `prefix + field`.

    Fields whose type is itself a dataclass are parsed recursively (as `prefix.field.`).
    """
    if not isinstance(data, dict):
        label = f"field '{prefix[:-1]}'" if prefix else "the file"
        raise BenchmarkError(f"{where}: {label} must be a mapping of fields, got {type(data).__name__}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields and key not in extra_known:
            raise unknown_key(key, fields, where, prefix)
    values = {}
    for name, f in fields.items():
        label = f"{prefix}{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise BenchmarkError(f"{where}: missing field '{label}'")
            continue
        tp = hints[name]
        raw = data[name]
        sub = _dataclass_in(tp)
        if sub is not None and isinstance(raw, dict):
            values[name] = parse_dataclass(sub, raw, where, f"{label}.")
            continue
        item = _dataclass_items(tp)
        if item is not None and isinstance(raw, list):
            values[name] = [parse_dataclass(item, v, where, f"{label}[{i}].") for i, v in enumerate(raw)]
            continue
        try:
            value = convert(raw, tp)
        except _Mismatch:
            raise BenchmarkError(f"{where}: field '{label}' must be {_describe(tp)}, got {raw!r}") from None
        check = f.metadata.get("check")
        if check is not None and value is not None:
            problem = check(value)
            if problem:
                raise BenchmarkError(f"{where}: field '{label}' {problem}, got {raw!r}")
        values[name] = value
    return cls(**values)


def _dataclass_in(tp):
    if dataclasses.is_dataclass(tp):
        return tp
    if get_origin(tp) in (Union, types.UnionType):
        for arg in get_args(tp):
            if dataclasses.is_dataclass(arg):
                return arg
    return None


def _dataclass_items(tp):
    """X for list[X] (or list[X] | None) where X is a dataclass."""
    candidates = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
    for cand in candidates:
        if get_origin(cand) is list and get_args(cand) and dataclasses.is_dataclass(get_args(cand)[0]):
            return get_args(cand)[0]
    return None


def non_default(obj) -> dict:
    """A dataclass's fields that differ from their defaults (required ones always), as plain data."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        if default is dataclasses.MISSING or value != default:
            out[f.name] = to_plain(value)
    return out


def to_plain(obj) -> Any:
    """A dataclass as plain data (tuples as lists), for records and YAML."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


__all__ = ["check_field", "convert", "non_default", "non_negative", "parse_dataclass", "positive", "to_plain",
           "unit_interval", "unknown_key"]
