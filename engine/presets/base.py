"""Preset contract: a seed paper's setting as a ready-made comparison, and where the paper reports its numbers.

A :class:`Preset` names a dataset, paradigm (+ rate and options), scenario (+ parameters), model, methods (+ any
hyper-parameters that differ from the defaults) and seeds. CPU presets shrink the paper's setting to
the embedded ``digits`` dataset (same scenario, paradigm and methods) and run the methods' digits defaults
(:data:`DIGITS_DEFAULTS` says so in their text), plus the paper's values where a task fixes them (LAF's
tau, PGU's de-poisoning mode, PPU's privacy mode). Full-size presets keep the paper's dataset and model, are
marked ``gpu_recommended`` and run every method's official values, ``PAPER_DEFAULTS`` of its module for the
preset's dataset and scenario / paradigm / task (:func:`paper_hparams`; DESIGN.md "presets name what they
run"); the few deviations are written next to the preset and in its ``differences``. :class:`PaperRef`
points at the rows of the paper's results table (``engine/presets/paper_tables/<paper>.csv``) that the
preset reproduces.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import SpecError
from engine.registry import Registry
from engine.spec import ComparisonSpec, MethodSpec


@dataclass(frozen=True)
class Paper:
    """A seed paper: short name (as the UI says it), full title and the seed file it was read from."""

    key: str
    short: str
    title: str
    seed_file: str


PAPERS: dict[str, Paper] = {p.key: p for p in (
    Paper("udru", "UDRU", "Unlearning From Weakly Supervised Learning (Tang et al.)", "000_a22b0c5fb63abd40.txt"),
    Paper("laf", "LAF", "Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep Models",
          "001_bf36aa975c125bd9.txt"),
    Paper("ugradsl", "UGradSL", "UGradSL: Machine Unlearning Using Gradient-Based Smoothed Label",
          "002_50380bec47acd116.txt"),
    Paper("pgu", "PGU", "Learn to Unlearn for Deep Neural Networks: Minimizing Unlearning Interference with "
                        "Gradient Projection", "003_8ea96f725320f741.txt"),
    Paper("ppu", "PPU", "Pseudo-Probability Unlearning: Towards Efficient and Privacy-Preserving Machine Unlearning",
          "004_f08a4494c98580ae.txt"),
)}


@dataclass(frozen=True)
class PaperRef:
    """Rows of one paper table: ``table`` for ``dataset`` x ``model`` (the CSV's names).

    ``paradigm`` ``None`` keeps every paradigm of the table (LAF prints supervised baselines and
    label-free LAF rows side by side); ``scenario_params`` keeps rows with those ``scenario_param``
    values plus rows that have none (empty = all rows); ``note_prefix`` keeps rows whose note starts with
    it (UDRU's Table 5 prints one MIA value per forgotten label: ``"label 0;"``); ``scenario`` keeps rows of
    that scenario (``None`` = all).
    """

    table: str
    dataset: str
    model: str
    paradigm: str | None = None
    scenario_params: tuple[str, ...] = ()
    note_prefix: str = ""
    scenario: str | None = None  # keep only rows of this scenario (PPU's Table 4 prints class and selective)


@dataclass(frozen=True)
class Preset:
    """A paper's setting as a comparison the workbench can run (registered in :data:`PRESETS`)."""

    key: str
    paper: str  # key of PAPERS and of paper_tables/<paper>.csv
    title: str
    dataset: str
    model: str
    scenario: str
    methods: tuple[str, ...]
    paradigm: str = "supervised"
    rate: float | None = None
    paradigm_params: tuple[tuple[str, Any], ...] = ()  # the paradigm's options (noise type, train loss, ...)
    scenario_params: tuple[tuple[str, Any], ...] = ()
    hparams: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()  # method -> ((name, value), ...)
    seeds: int = 1
    epochs: int | None = None  # None = the dataset x model default
    gpu_recommended: bool = False
    tables: tuple[PaperRef, ...] = ()
    differences: str = ""  # how this setting differs from the paper's (dataset, model, seeds, ...)

    def __post_init__(self) -> None:
        if self.paper not in PAPERS:
            raise SpecError("paper", f"unknown paper {self.paper!r}; valid: {', '.join(PAPERS)}")
        if not self.methods:
            raise SpecError("methods", f"preset {self.key!r} lists no methods")
        if self.seeds < 1:
            raise SpecError("seeds", f"preset {self.key!r}: seeds must be >= 1, got {self.seeds}")

    @property
    def paper_short(self) -> str:
        return PAPERS[self.paper].short

    def hparam_dict(self) -> dict[str, dict[str, Any]]:
        return {m: dict(h) for m, h in self.hparams}

    def available_methods(self, registered: set[str] | list[str]) -> tuple[list[str], list[str]]:
        """``(runnable, missing)``: the preset's methods that are registered here, and those that are not."""
        reg = set(registered)
        return [m for m in self.methods if m in reg], [m for m in self.methods if m not in reg]

    def spec(self, registered: set[str] | list[str] | None = None, device: str = "auto") -> ComparisonSpec:
        """The comparison (methods not registered here are left out; see :meth:`available_methods`)."""
        names = list(self.methods) if registered is None else self.available_methods(registered)[0]
        hp = self.hparam_dict()
        train = (("epochs", int(self.epochs)),) if self.epochs is not None else ()
        return ComparisonSpec(dataset=self.dataset, coarse=self.scenario == "subclass", paradigm=self.paradigm,
                              rate=self.rate, paradigm_params=self.paradigm_params, scenario=self.scenario,
                              scenario_params=self.scenario_params,
                              model=self.model, train=train,
                              methods=tuple(MethodSpec(m, tuple(hp.get(m, {}).items())) for m in names),
                              seeds=tuple(range(self.seeds)), device=device)


PRESETS: Registry[Preset] = Registry("preset")

DIGITS_DEFAULTS = ("hyper-parameters: the methods' digits defaults, not the paper's values (except where named "
                   "here): the tuner's values on val where its defaults run adopted them (issue 15), else the "
                   "earlier hand-chosen ones (judged on test split accuracies of digits / cnn, class 3 forgotten) "
                   "or the official values kept where those worked on digits (each method's doc says which)")
"""What every digits preset says about its hyper-parameters (the methods' docs give the values and reasons)."""


def paper_defaults(method: str, dataset: str, scenario: str, paradigm: str, key: str | None = None) -> dict[str, Any]:
    """The official values of ``method`` for a setting: its module's ``PAPER_DEFAULTS`` (``{}`` where none).

    The tables are keyed by dataset, then, where the official code sets values per experiment, by what it
    distinguishes: the scenario (LAF, LAF+R, PGU), the paradigm (UDRU) or the task (PPU's ``mode``, given as
    ``key``). ``key`` is tried first, then ``scenario``, then ``paradigm``.
    """
    from engine.methods import METHODS  # the method registry (heavy import) only when a preset asks

    if method not in METHODS:
        return {}
    module = importlib.import_module(METHODS.get(method).unlearn.__module__)
    entry = getattr(module, "PAPER_DEFAULTS", {}).get(dataset)
    if not entry:
        return {}
    if all(isinstance(v, Mapping) for v in entry.values()):
        for k in (key, scenario, paradigm):
            if k is not None and k in entry:
                return dict(entry[k])
        return {}
    return dict(entry)


def paper_hparams(methods: Iterable[str], dataset: str, scenario: str, paradigm: str = "supervised", *,
                  keys: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[tuple[str, tuple], ...]:
    """A full-size preset's ``hparams``: :func:`paper_defaults` of every method (``keys``: its task key), then
    ``overrides`` on top (the preset's documented deviations from the official values); a field the digits tuner
    changed (``tuned_defaults.json``) and the paper does not give keeps the module's pre-tuning value."""
    from engine.methods.shared.tuned_defaults import entry

    keys, overrides = keys or {}, overrides or {}
    out = []
    for m in methods:
        tuned = (entry(m) or {}).get("values", {})  # the digits tuner's values never reach a full-size preset
        before = {k: v for k, v in (entry(m) or {}).get("pretuned", {}).items() if k in tuned}
        values = {**before, **paper_defaults(m, dataset, scenario, paradigm, keys.get(m)), **overrides.get(m, {})}
        if values:
            out.append((m, tuple(values.items())))
    return tuple(out)


def register(preset: Preset) -> Preset:
    """Register ``preset`` under its key."""
    return PRESETS.register(preset)
