"""Registries filled where things are defined (timm's `@register_model` is the model).

A registry maps a name to an object; `register` is used as a decorator next to the
definition, and the registry gives the "choose one of" lists of every error message.
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from benchmark.errors import BenchmarkError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str, where: str = "") -> T:
        if name not in self._items:
            raise BenchmarkError(f"{where}{self.unknown(name)}")
        return self._items[name]

    def unknown(self, name) -> str:
        close = difflib.get_close_matches(str(name), self._items, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}: choose one of {', '.join(self.names())}"

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self):
        return sorted(self._items.items())
