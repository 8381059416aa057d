"""One generic registry type; every component kind (datasets, paradigms, scenarios, models,
methods, metrics) has one instance of it, filled by the component modules themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from engine.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps fixed keys (CATALOGUE.md) to components of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    @overload
    def register(self, key: str, item: T) -> T: ...

    @overload
    def register(self, key: T) -> T: ...

    def register(self, key: str | T, item: T | None = None) -> T:
        """Add ``item`` under ``key``, or, called with the item alone, under the item's own ``.key``.

        ``METHODS.register(Method(key="x", ...))`` names the key once; ``register("x", item)`` stays for
        components without a ``key`` attribute. A key may be registered once.
        """
        if item is None:
            item = key  # type: ignore[assignment]
            key = getattr(item, "key", None)  # type: ignore[assignment]
            if not isinstance(key, str) or not key:
                raise TypeError(f"{self.kind}: register(item) needs an item with a non-empty str `.key` "
                                f"(got {type(item).__name__}); otherwise call register(key, item)")
        elif not isinstance(key, str):
            raise TypeError(f"{self.kind}: register(key, item) needs a str key, got {type(key).__name__}")
        if key in self._items:
            raise KeyError(f"{self.kind} {key!r} is registered twice")
        self._items[key] = item
        return item

    def add(self, key: str) -> Callable[[T], T]:
        """Decorator form of :meth:`register`."""

        def deco(item: T) -> T:
            return self.register(key, item)

        return deco

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
