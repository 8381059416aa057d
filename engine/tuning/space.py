"""Each method's search space for the tuner, read from its config schema (issue 15).

A schema field (:func:`engine.config.param`) becomes one dimension:

- ``float`` / ``int`` with a range: uniform on the range, or log-uniform where the field says ``log=True``;
- ``choice``: categorical over its choices; ``bool``: categorical over ``(False, True)``;
- a field whose value scales the work (``cost=``; epochs, steps, samples, batch sizes): only a window around its
  default (:data:`LINEAR_WINDOW`, :data:`INVERSE_WINDOW`) inside its range, so that a trial costs at most a few
  defaults' worth of work -- the declared range is what the engine *accepts* (epochs up to 1000), not a search range;
- with ``fixed_work`` (the defaults run, :mod:`engine.tuning.defaults`) a work-scaling field is not searched at all;
- not searched (kept at the default, with the reason in :attr:`SearchSpace.fixed`): text fields, nullable fields
  (``None`` means "all"), numeric fields without a range, and fields declared ``search=False`` (chunk sizes that
  bound memory and do not change the result).

The default configuration is always a point of the space (tested for every registered method), so a tuned row is
never worse on the tuning objective than the default merely because the default was out of reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.config import COST_INVERSE, COST_LINEAR, ParamSchema, schema
from engine.methods import METHODS

LINEAR_WINDOW = (0.25, 2.0)  # epochs, steps, samples: from a quarter of the default to twice it
INVERSE_WINDOW = (0.5, 4.0)  # batch and chunk sizes: from half the default to four times it


@dataclass(frozen=True)
class Dimension:
    """One searched field: ``kind`` ``float`` | ``int`` (``low``..``high``, ``log``) or ``categorical``
    (``choices``); ``default`` is the schema's."""

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a point of this dimension."""
        if self.kind == "categorical":
            return value in self.choices
        return self.low is not None and self.high is not None and self.low <= value <= self.high

    def distribution(self) -> Any:
        """The matching ``optuna.distributions`` object (optuna is imported here, not with the engine)."""
        from optuna import distributions as d

        if self.kind == "categorical":
            return d.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log)
        return d.FloatDistribution(float(self.low), float(self.high), log=self.log)


@dataclass(frozen=True)
class SearchSpace:
    """A method's searched dimensions and the fields kept at their default (``name -> reason``)."""

    method: str
    dimensions: tuple[Dimension, ...]
    fixed: dict[str, str] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        """The default configuration as a point of the space."""
        return {dim.name: dim.default for dim in self.dimensions}

    def distributions(self) -> dict[str, Any]:
        """``name -> optuna distribution`` (for ``Trial.suggest`` / ``Study.ask(fixed_distributions=...)``)."""
        return {dim.name: dim.distribution() for dim in self.dimensions}


def _window(p: ParamSchema) -> tuple[float, float]:
    """The searched interval of a numeric field: its range, narrowed around the default for a work-scaling field."""
    lo, hi = (float(p.range[0]), float(p.range[1]))
    if p.cost in (COST_LINEAR, COST_INVERSE) and p.default is not None:
        a, b = LINEAR_WINDOW if p.cost == COST_LINEAR else INVERSE_WINDOW
        lo, hi = max(lo, float(p.default) * a), min(hi, float(p.default) * b)
    if p.type == "int":
        lo, hi = math.ceil(lo), math.floor(hi)
    return lo, hi


FIXED_WORK = "scales the work: kept at its value (a default is not bought with compute)"


def dimension(p: ParamSchema, fixed_work: bool = False) -> Dimension | str:
    """The dimension of schema field ``p``, or the reason it is not searched (``fixed_work``: work-scaling fields
    are not)."""
    if not p.search:
        return p.search_reason or "does not change the result (a memory bound)"
    if fixed_work and p.cost in (COST_LINEAR, COST_INVERSE):
        return FIXED_WORK
    if p.type == "bool":
        return Dimension(p.name, "categorical", p.default, choices=(False, True))
    if p.type == "choice":
        return Dimension(p.name, "categorical", p.default, choices=tuple(p.choices or ()))
    if p.type.endswith("_or_none"):
        return "nullable: None stands for the whole set (all samples, the full batch)"
    if p.type not in ("int", "float"):
        return f"a {p.type} field"
    if p.range is None:
        return "no declared range"
    lo, hi = _window(p)
    if not lo < hi:
        return f"its window around the default is a single value ({lo:g})"
    log = bool(p.log) and lo > 0
    return Dimension(p.name, p.type, p.default, low=lo, high=hi, log=log)


def search_space(method: str, fixed_work: bool = False) -> SearchSpace:
    """The search space of registered method ``method`` (raises :class:`~engine.errors.SpecError` for an unknown
    one); ``fixed_work`` keeps the work-scaling fields out of it."""
    params = schema(METHODS.get(method, "methods").config)
    dims: list[Dimension] = []
    fixed: dict[str, str] = {}
    for p in params:
        out = dimension(p, fixed_work)
        if isinstance(out, Dimension):
            dims.append(out)
        else:
            fixed[p.name] = out
    return SearchSpace(method, tuple(dims), fixed)
