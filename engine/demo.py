"""Demo mode: caps for a hosted, CPU-only workbench (``UNLEARN_DEMO=1``), and a FIFO run queue.

A hosted demo (Hugging Face Spaces, Streamlit Community Cloud: 1-2 cores, no persistent disk) must stay
responsive for everyone, so in demo mode a comparison may only use

* the embedded ``digits`` dataset, or a torchvision dataset whose files are already on disk (no downloads);
* models not marked ``large`` (no ResNets on a shared CPU);
* at most :attr:`DemoLimits.max_seeds` seeds and :attr:`DemoLimits.max_methods` methods;
* no setting that multiplies the work beyond :attr:`DemoLimits.max_cost_factor` times its default's: every
  field whose schema declares a ``cost`` (:func:`engine.config.param`) -- method hyper-parameters, scenario and
  paradigm parameters, ``train`` overrides -- is capped by :func:`cost_bound`: a ``linear`` field (epochs,
  steps, iterations, samples, requests) at most ``default x factor``, an ``inverse`` one (batch and chunk
  sizes) at least ``default / factor``. The caps follow from the schema, never from field names, so a new
  field is capped as soon as it declares its cost (``tests/test_demo_costs.py`` fails on an int field that
  declares none and is not explained there);

and at most :attr:`DemoLimits.max_concurrent` comparisons run at once: :class:`RunQueue` admits them in
arrival order and tells each waiting one its position. :func:`check_spec` raises
:class:`~engine.errors.SpecError` naming the field that exceeds a cap; the CLI applies it when
:func:`demo_enabled`, and the dashboard should too (and share one :class:`RunQueue` per server).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import COST_INVERSE, COST_LINEAR, build_config, schema
from engine.errors import SpecError
from engine.spec import ComparisonSpec

DEMO_ENV = "UNLEARN_DEMO"
_TRUE = {"1", "true", "yes", "on"}


def demo_enabled() -> bool:
    """Whether ``$UNLEARN_DEMO`` turns demo mode on (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get(DEMO_ENV, "").strip().lower() in _TRUE


@dataclass(frozen=True)
class DemoLimits:
    """The caps of demo mode."""

    datasets: tuple[str, ...] = ("digits",)  # always allowed; other datasets only if already on disk
    max_seeds: int = 2
    max_methods: int = 6
    max_cost_factor: float = 1.0  # a cost-annotated field may make the work at most this times the default's
    large_models: bool = False
    max_concurrent: int = 1
    max_shadow_models: int = 0  # PGU's shadow attack trains 2N extra models: off in the demo
    max_ulira_shadows: int = 0  # U-LiRA / RMIA: 2K extra trainings per seed and K unlearning runs per method: off

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_cost_factor) and self.max_cost_factor >= 1.0):
            raise SpecError("max_cost_factor", f"must be a finite number >= 1 (1 = the defaults' work), "
                                               f"got {self.max_cost_factor!r}")


LIMITS = DemoLimits()


def cost_bound(cost: str, default: float | None, factor: float) -> float:
    """The demo's bound on a field with ``cost``: the most (``linear``) or the least (``inverse``) value allowed.

    ``linear``: ``default * factor``; ``inverse``: ``default / factor``. ``None`` stands for the whole set
    (the largest value, see :func:`engine.config.param`), so it is read as infinity: a linear field defaulting
    to ``None`` is not capped, an inverse one must stay ``None``.
    """
    base = math.inf if default is None else float(default)
    if cost == COST_LINEAR:
        return base * factor
    if cost == COST_INVERSE:
        return base / factor
    raise ValueError(f"unknown cost {cost!r}")


def check_costs(cls: type, given: dict[str, Any], defaults: dict[str, Any] | None, where: str,
                limits: DemoLimits = LIMITS) -> None:
    """Raise :class:`SpecError` naming ``where.field`` if a given value of config ``cls`` exceeds its cost cap.

    ``given`` are the user's values (validated here, so a bad one is named too); ``defaults`` the reference
    values the caps derive from (the schema's defaults when ``None``; e.g. the dataset x model
    :class:`~engine.training.config.TrainConfig` for ``train``).
    """
    fields = schema(cls)
    reference = {p.name: p.default for p in fields} | dict(defaults or {})
    cfg = build_config(cls, {**(defaults or {}), **given}, where)
    for p in fields:
        if p.cost is None or p.name not in given:
            continue
        value, default = getattr(cfg, p.name), reference[p.name]
        bound = cost_bound(p.cost, default, limits.max_cost_factor)
        v = math.inf if value is None else value
        f = limits.max_cost_factor
        if p.cost == COST_LINEAR and v > bound:
            ref = "the default" if f == 1.0 else f"{f:g} x the default {default}"
            raise SpecError(f"{where}.{p.name}", f"demo mode: at most {_show(bound, p.type)} ({ref}; a larger "
                                                 f"value multiplies the work), got {value}")
        if p.cost == COST_INVERSE and v < bound:
            if bound == math.inf:
                raise SpecError(f"{where}.{p.name}", f"demo mode: only the default, none (= the whole set; a "
                                                     f"smaller value means more steps), got {value}")
            ref = "the default" if f == 1.0 else f"the default {default} / {f:g}"
            raise SpecError(f"{where}.{p.name}", f"demo mode: at least {_show(bound, p.type, up=True)} ({ref}; a "
                                                 f"smaller value means more steps), got {value}")


def _show(bound: float, kind: str, up: bool = False) -> str:
    if kind.startswith("int"):
        return str(math.ceil(bound) if up else math.floor(bound))
    return f"{bound:g}"


def dataset_on_disk(key: str, data_dir: Path | str | None = None) -> bool:
    """Whether dataset ``key`` loads from ``data_dir`` without downloading (loads it once to be sure)."""
    from engine.data import DATASETS, DatasetUnavailable, default_data_dir, load_dataset

    if key not in DATASETS:
        return False
    if DATASETS.get(key).offline:
        return True
    try:
        load_dataset(key, Path(data_dir) if data_dir is not None else default_data_dir(), download=False)
    except DatasetUnavailable:
        return False
    return True


def allowed_datasets(data_dir: Path | str | None = None, limits: DemoLimits = LIMITS) -> list[str]:
    """The datasets a demo may offer: :attr:`DemoLimits.datasets` plus those already on disk.

    Checking a torchvision dataset loads it once (seconds for CIFAR): cache the answer per server.
    """
    from engine.data import DATASETS

    return [k for k in DATASETS.keys() if k in limits.datasets or dataset_on_disk(k, data_dir)]


def check_spec(spec: ComparisonSpec, data_dir: Path | str | None = None, limits: DemoLimits = LIMITS) -> None:
    """Raise :class:`SpecError` naming the field if ``spec`` exceeds a demo cap; return ``None`` otherwise.

    The one demo check: the CLI (``compare``) and the dashboard (``dashboard.data.check_demo``) both call it.
    Unknown names and invalid values are left to :func:`engine.runner.make_plan` (except where a cap
    needs the value, e.g. a method's epochs, whose validation error is then raised here).
    """
    from engine.data import DATASETS
    from engine.methods import METHODS
    from engine.models import MODELS
    from engine.paradigms import PARADIGMS
    from engine.scenarios import SCENARIOS
    from engine.training.config import TrainConfig, default_train_config

    if spec.dataset not in limits.datasets:
        if spec.dataset in DATASETS and not dataset_on_disk(spec.dataset, data_dir):
            raise SpecError("dataset", f"demo mode: {spec.dataset!r} is not on this server and downloads are off; "
                                       f"use {', '.join(limits.datasets)}")
    if not limits.large_models and spec.model in MODELS and MODELS.get(spec.model).large:
        small = [k for k, m in MODELS.items() if not m.large]
        raise SpecError("model", f"demo mode: {spec.model!r} is too large for this server; use {', '.join(small)}")
    if len(spec.seeds) > limits.max_seeds:
        raise SpecError("seeds", f"demo mode: at most {limits.max_seeds} seeds, got {len(spec.seeds)}")
    if len(spec.methods) > limits.max_methods:
        raise SpecError("methods", f"demo mode: at most {limits.max_methods} methods, got {len(spec.methods)}")
    if spec.shadow_models > limits.max_shadow_models:
        raise SpecError("shadow_models", f"demo mode: at most {limits.max_shadow_models} shadow-model pairs "
                                         f"(each pair trains two extra models), got {spec.shadow_models}")
    if spec.ulira_shadows > limits.max_ulira_shadows:
        raise SpecError("ulira_shadows", f"demo mode: at most {limits.max_ulira_shadows} U-LiRA shadow pairs (each "
                                         f"trains two extra models and unlearns once per method), got "
                                         f"{spec.ulira_shadows}")
    if spec.dataset in DATASETS and spec.model in MODELS:
        default = dataclasses.asdict(default_train_config(spec.dataset, spec.model))
        check_costs(TrainConfig, dict(spec.train), default, "train", limits)
    if spec.scenario in SCENARIOS:
        check_costs(SCENARIOS.get(spec.scenario).config, dict(spec.scenario_params), None, "scenario", limits)
    paradigm = PARADIGMS.get(spec.paradigm) if spec.paradigm in PARADIGMS else None
    if paradigm is not None and paradigm.config is not None:
        check_costs(paradigm.config, dict(spec.paradigm_params), None, "paradigm_params", limits)
    for m in spec.methods:
        if m.name in METHODS:
            check_costs(METHODS.get(m.name).config, m.hparam_dict(), None, f"methods.{m.name}", limits)


class RunQueue:
    """First-in, first-out admission of comparison runs: ``slots`` run at once, the others wait in order.

    Thread-safe; one instance per server process (e.g. from ``st.cache_resource``). A ticket's
    :meth:`position` is ``0`` while it may run (it holds a slot), ``k >= 1`` while ``k - 1`` tickets
    wait before it, and ``None`` once it has left.

    Typical use in a worker thread::

        ticket = queue.join()            # at once, so the page can show the position
        if queue.wait_turn(ticket, cancel):
            try:
                run_comparison(...)
            finally:
                queue.leave(ticket)
    """

    def __init__(self, slots: int = LIMITS.max_concurrent) -> None:
        if slots < 1:
            raise SpecError("max_concurrent", f"must be at least 1, got {slots}")
        self.slots = slots
        self._tickets: list[str] = []
        self._cond = threading.Condition()

    def join(self) -> str:
        """Enter the queue at its end; returns the ticket."""
        ticket = uuid.uuid4().hex
        with self._cond:
            self._tickets.append(ticket)
            self._cond.notify_all()
        return ticket

    def position(self, ticket: str) -> int | None:
        """``0`` = running (holds a slot), ``k`` = ``k``-th in the waiting line, ``None`` = not queued."""
        with self._cond:
            return self._position(ticket)

    def _position(self, ticket: str) -> int | None:
        if ticket not in self._tickets:
            return None
        i = self._tickets.index(ticket)
        return 0 if i < self.slots else i - self.slots + 1

    def wait_turn(self, ticket: str, cancel: threading.Event | None = None, timeout: float | None = None,
                  poll: float = 0.2) -> bool:
        """Block until ``ticket`` holds a slot (``True``); ``False`` if cancelled or timed out (it then leaves)."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                pos = self._position(ticket)
                if pos is None:
                    return False
                if pos == 0:
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if (cancel is not None and cancel.is_set()) or (left is not None and left <= 0):
                    self._tickets.remove(ticket)
                    self._cond.notify_all()
                    return False
                self._cond.wait(poll if left is None else min(poll, left))

    def leave(self, ticket: str) -> None:
        """Leave the queue (finished, failed or given up); the next waiting ticket is admitted."""
        with self._cond:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
                self._cond.notify_all()

    @contextmanager
    def turn(self, cancel: threading.Event | None = None) -> Iterator[bool]:
        """``with queue.turn(cancel) as admitted:`` join, wait for a slot, and always leave at the end."""
        ticket = self.join()
        try:
            yield self.wait_turn(ticket, cancel)
        finally:
            self.leave(ticket)

    def snapshot(self) -> tuple[int, int]:
        """``(running, waiting)`` counts."""
        with self._cond:
            running = min(len(self._tickets), self.slots)
            return running, len(self._tickets) - running
