"""One generic registry type; every component kind (datasets, paradigms, scenarios, models,
methods, metrics) has one instance of it, filled by the component modules themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from engine.errors import SpecError

T = TypeVar("T")
# the component kinds, one registry each (the CLI's ``list`` and the catalogue name them)
COMPONENT_KINDS = ("datasets", "paradigms", "scenarios", "models", "methods", "metrics")


class Registry(Generic[T]):
    """Maps fixed keys (CATALOGUE.md) to components of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, item: T) -> T:
        """Add ``item`` under its own ``.key`` (``METHODS.register(Method(key="x", ...))`` names the key once).

        A key may be registered once; an item without a non-empty ``str`` ``.key`` is refused.
        """
        key = getattr(item, "key", None)
        if not isinstance(key, str) or not key:
            raise TypeError(f"{self.kind}: register(item) needs an item with a non-empty str `.key` "
                            f"(got {type(item).__name__})")
        if key in self._items:
            raise KeyError(f"{self.kind} {key!r} is registered twice")
        self._items[key] = item
        return item

    def get(self, key: str, field: str | None = None) -> T:
        """Return the component or raise a :class:`SpecError` listing the valid keys."""
        try:
            return self._items[key]
        except KeyError:
            valid = ", ".join(sorted(self._items))
            raise SpecError(field or self.kind, f"unknown {self.kind} {key!r}; valid: {valid}") from None

    def reorder(self, first: list[str]) -> None:
        """Put the listed keys first, in that order (the rest keep their order): display order only."""
        head = {k: self._items[k] for k in first if k in self._items}
        self._items = {**head, **{k: v for k, v in self._items.items() if k not in head}}

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __len__(self) -> int:
        return len(self._items)
