"""A user's annotations of recorded comparisons (name, tags, note) and deleting a comparison from History.

Annotations live under their own store keys, ``annotation/<comparison key>`` (JSON ``{"name", "tags", "note",
"updated"}``), never inside the comparison record: a record, its saved answer and a results bundle keep their
content identity however the user labels them, and a bundle carries no annotation.

Deleting a comparison (:func:`delete_comparison`) removes its record (computed and imported), its saved answer
and its annotation; it never removes a job result, computed or imported: jobs are content-keyed and shared
between comparisons (the same original and retrain serve every method), so another comparison may need them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.errors import SpecError
from engine.store.store import Store

PREFIX = "annotation/"
MAX_NAME = 80
MAX_TAG = 24
MAX_TAGS = 10
MAX_NOTE = 2000


@dataclass(frozen=True)
class Annotation:
    """What a user wrote about one comparison: a name (``""``: none), tags and a note."""

    name: str = ""
    tags: tuple[str, ...] = ()
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "tags": list(self.tags), "note": self.note}

    @property
    def empty(self) -> bool:
        return not (self.name or self.tags or self.note)


def _control(text: str, allow_newlines: bool = False) -> str | None:
    """The first control / format character of ``text`` (newlines and tabs allowed where asked), or ``None``."""
    for c in text:
        if allow_newlines and c in "\n\t":
            continue
        if not c.isprintable():
            return c
    return None


def _checked_text(field: str, value: Any, limit: int, multiline: bool) -> str:
    """``value`` as valid text for ``field`` (one line, stripped; or ``multiline``, trailing white space stripped),
    or :class:`SpecError` naming ``field``."""
    if not isinstance(value, str):
        raise SpecError(field, f"must be text, got {type(value).__name__}")
    value = value.rstrip() if multiline else value.strip()
    if len(value) > limit:
        raise SpecError(field, f"at most {limit} characters, got {len(value)}")
    if (c := _control(value, allow_newlines=multiline)) is not None:
        rule = "printable text (new lines allowed)" if multiline else "one line of printable text"
        raise SpecError(field, f"{rule}; it holds {c!r}")
    return value


def check_name(name: Any) -> str:
    """A valid name (stripped; ``""`` clears it), or :class:`SpecError` naming ``name``."""
    return _checked_text("name", name, MAX_NAME, multiline=False)


def check_tags(tags: Any) -> tuple[str, ...]:
    """Valid tags (each stripped, empty ones dropped, repeats once, in order), or :class:`SpecError` naming
    ``tags``. A string is read as comma-separated tags."""
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, Iterable) or isinstance(tags, bytes | dict):
        raise SpecError("tags", f"must be a list of short texts, got {type(tags).__name__}")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise SpecError("tags", f"each tag must be text, got {type(tag).__name__}")
        tag = tag.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise SpecError("tags", f"each tag at most {MAX_TAG} characters; {tag[:MAX_TAG]!r}… has {len(tag)}")
        if "," in tag or (c := _control(tag)) is not None:
            raise SpecError("tags", f"a tag is printable text without commas; {tag!r} holds "
                                    f"{',' if ',' in tag else c!r}")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise SpecError("tags", f"at most {MAX_TAGS} tags, got {len(out)}")
    return tuple(out)


def check_note(note: Any) -> str:
    """A valid note (trailing white space stripped), or :class:`SpecError` naming ``note``."""
    return _checked_text("note", note, MAX_NOTE, multiline=True)


def _known(store: Store, key: str) -> bool:
    return store.comparison(key) is not None or store.imported_comparison(key) is not None


def annotation(store: Store, key: str) -> Annotation:
    """The annotation of comparison ``key`` (an empty one when it has none)."""
    raw = store.cache.get(f"{PREFIX}{key}")
    if raw is None:
        return Annotation()
    rec = json.loads(raw)
    return Annotation(str(rec.get("name", "")), tuple(rec.get("tags", ())), str(rec.get("note", "")))


def annotations(store: Store) -> dict[str, Annotation]:
    """Every stored annotation, ``comparison key -> Annotation``."""
    return {k.removeprefix(PREFIX): annotation(store, k.removeprefix(PREFIX)) for k in store.keys(PREFIX)}


def annotate(store: Store, key: str, *, name: Any = None, tags: Any = None, note: Any = None) -> Annotation:
    """Set the name, tags and / or note of recorded comparison ``key`` (``None``: keep the current one).

    Everything is validated before anything is written: bad input raises :class:`SpecError` naming the field
    (``name``, ``tags``, ``note``; ``comparison`` for an unknown key) and the store is unchanged.
    """
    if not _known(store, key):
        raise SpecError("comparison", f"no recorded comparison {key!r}")
    cur = annotation(store, key)
    new = Annotation(cur.name if name is None else check_name(name), cur.tags if tags is None else check_tags(tags),
                     cur.note if note is None else check_note(note))
    if new.empty:
        store.cache.delete(f"{PREFIX}{key}")
    else:
        store.cache.set(f"{PREFIX}{key}", json.dumps({**new.to_json(), "updated": time.time()}))
    return new


def delete_comparison(store: Store, key: str) -> list[str]:
    """Remove comparison ``key`` from History: its record (computed and imported), its saved answer and its
    annotation, in one transaction; returns what was removed (empty: no such comparison). Job results stay."""
    entries = {"record": f"comparison/{key}", "imported record": f"imported/comparison/{key}",
               "answer": f"answer/{key}", "annotation": f"{PREFIX}{key}"}
    removed = []
    with store.cache.transact():
        for what, entry in entries.items():
            if store.cache.delete(entry):
                removed.append(what)
    return removed
