"""Frozen-dataclass configs with a schema (defaults, ranges, help) read from field metadata.

Method hyper-parameters and scenario parameters are dataclasses whose fields carry
``metadata={"help": ..., "range": (lo, hi), "choices": (...), "cost": ...}``. The dashboard builds its
forms from :func:`schema`; :func:`build_config` validates user values and names the field; the demo caps
(:mod:`engine.demo`) read each field's ``cost``: whether its value multiplies or divides the work.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any

from engine.errors import SpecError

# How a numeric field's value scales the work of a run (``param(cost=...)``, read by the demo caps):
COST_LINEAR = "linear"  # the work grows with the value: epochs, steps, iterations, samples, models, requests
COST_INVERSE = "inverse"  # the work grows as the value shrinks: batch and chunk sizes (per-step overhead)
COSTS = (COST_LINEAR, COST_INVERSE)


def param(default: Any, help: str, range: tuple[float, float] | None = None,
          choices: tuple[Any, ...] | None = None, log: bool = False, source: str = "",
          cost: str | None = None, search: bool | str = True) -> Any:
    """A config field with its help text, allowed range/choices and where the default comes from.

    ``cost`` says how the field's value scales the work of a run: :data:`COST_LINEAR` (about proportionally or
    faster: epochs, steps, samples), :data:`COST_INVERSE` (a batch or chunk size: smaller means more steps)
    or ``None`` (it does not). Every numeric field that changes the work must declare it: the demo caps are
    derived from it. On a nullable field ``None`` stands for the whole set (all samples, the full batch),
    i.e. the largest value. ``search=False``: the tuner keeps the field at its value (a knob that bounds memory
    and does not change the result, such as a chunk size; ``engine.tuning.space``); a string instead of ``False``
    keeps it too and says why (e.g. a field that chooses which method runs, not how).
    """
    if cost is not None and cost not in COSTS:
        raise ValueError(f"param(cost=...) must be one of {', '.join(COSTS)} or None, got {cost!r}")
    meta: dict[str, Any] = {"help": help, "log": log, "source": source}
    if range is not None:
        meta["range"] = range
    if choices is not None:
        meta["choices"] = choices
    if cost is not None:
        meta["cost"] = cost
    if search is not True:
        meta["search"] = False
        if isinstance(search, str):
            meta["search_reason"] = search
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamSchema:
    """One field of a config as the UI and the CLI see it."""

    name: str
    type: str  # "float" | "int" | "bool" | "str" | "choice" | "int_or_none" | "float_or_none"
    default: Any
    help: str
    range: tuple[float, float] | None
    choices: tuple[Any, ...] | None
    log: bool
    source: str
    cost: str | None = None  # COST_LINEAR | COST_INVERSE | None: how the value scales the work (demo caps)
    search: bool = True  # False: the tuner keeps it (memory-only knobs that do not change the result)
    search_reason: str = ""  # why the tuner keeps it, when the field says (default: a memory bound)


def _type_name(tp: Any) -> str:
    if isinstance(tp, str):
        tp = eval(tp, {"__builtins__": __builtins__}, {})  # annotations are strings under __future__
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_type_name(args[0])}_or_none"
    return {float: "float", int: "int", bool: "bool", str: "str"}.get(tp, "str")


def schema(cls: type) -> list[ParamSchema]:
    """The schema of a config dataclass, one entry per field, in declaration order."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        kind = "choice" if "choices" in meta else _type_name(f.type)
        default = f.default if f.default is not MISSING else None
        cost = meta.get("cost")
        if cost is not None and kind.removesuffix("_or_none") not in ("int", "float"):
            raise TypeError(f"{cls.__name__}.{f.name}: a cost annotation needs a numeric field, not {kind}")
        out.append(ParamSchema(
            name=f.name, type=kind, default=default, help=meta.get("help", ""), range=meta.get("range"),
            choices=meta.get("choices"), log=bool(meta.get("log", False)), source=meta.get("source", ""),
            cost=cost, search=bool(meta.get("search", True)), search_reason=meta.get("search_reason", ""),
        ))
    return out


def _coerce(value: Any, p: ParamSchema, where: str) -> Any:
    base = p.type.removesuffix("_or_none")
    nullable = p.type.endswith("_or_none")
    textual = p.type in ("str", "choice")  # "" and "none" are legitimate values of text fields
    if value is None or (not textual and isinstance(value, str) and value.strip().lower() in ("none", "")):
        if nullable:
            return None
        raise SpecError(where, "a value is required")
    if base in ("int", "float") and isinstance(value, str) and not value.isascii():
        # int("٣") is 3 in Python; a number written in other scripts would key the same run differently
        raise SpecError(where, f"expected {base} written in ASCII digits, got {value!r}")
    try:
        if p.type == "choice":
            value = type(p.choices[0])(value) if p.choices else value
        elif base == "bool":
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1", "yes")
            else:
                value = bool(value)
        elif base == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            value = int(value)
        elif base == "float":
            value = float(value)
        else:
            value = str(value)
    except (TypeError, ValueError):
        raise SpecError(where, f"expected {base}, got {value!r}") from None
    if base == "float" and not math.isfinite(value):
        raise SpecError(where, f"must be finite, got {value!r}")
    if p.choices is not None and value not in p.choices:
        raise SpecError(where, f"must be one of {list(p.choices)}, got {value!r}")
    if p.range is not None and base in ("int", "float"):
        lo, hi = p.range
        if not lo <= value <= hi:
            raise SpecError(where, f"must be in [{lo}, {hi}], got {value!r}")
    return value


def build_config(cls: type, values: Mapping[str, Any] | None, where: str) -> Any:
    """Instantiate config ``cls`` from user ``values``, validating each field (errors name ``where.field``)."""
    values = dict(values or {})
    known = {p.name: p for p in schema(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}", f"unknown parameter; valid: {', '.join(known) or '(none)'}")
    kwargs = {name: _coerce(v, known[name], f"{where}.{name}") for name, v in values.items()}
    cfg = cls(**kwargs)
    for name, p in known.items():  # defaults are validated too (catches bad tables of defaults)
        _coerce(getattr(cfg, name), p, f"{where}.{name}")
    return cfg


def config_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict form of a config (for cache keys and JSON)."""
    return dataclasses.asdict(cfg)
