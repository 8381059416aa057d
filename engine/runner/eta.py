"""How long a comparison's jobs will take: estimates from the store's earlier jobs, and the run's ETA.

Every finished job's meta records its wall seconds (``run.wall_seconds``, :func:`engine.jobs.execution.execute`),
its kind and label; the saved comparisons (``comparison/<key>``) say which dataset and model each job ran on. A
pending job is estimated by the median seconds of the stored jobs most like it (:data:`LEVELS`: same kind and
method name on the same dataset, model, device and training config first, then looser matches), else by
:data:`DEFAULT_SECONDS` of its kind. :func:`eta_seconds` turns the estimates into the time left, scaled by the
run's pace so far.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.jobs.model import Job
from engine.runner.comparison import needed_jobs
from engine.runner.plan import Plan
from engine.store import Store

# seconds a job of a kind takes on the default digits setting on one CPU core, when the store knows no such job
DEFAULT_SECONDS: dict[str, float] = {"problem": 0.1, "original": 3.0, "retrain": 3.0, "train_state": 3.0,
                                     "unlearn": 1.0, "evaluate": 0.5}
OTHER_SECONDS = 5.0  # a kind not in DEFAULT_SECONDS (a metric's preparation job, e.g. shadow models)
# the fields two jobs must share for one's seconds to estimate the other's, most specific first
LEVELS: tuple[tuple[str, ...], ...] = (
    ("kind", "name", "dataset", "model", "device", "train"),
    ("kind", "name", "dataset", "model", "device"),
    ("kind", "name", "dataset", "model"),
    ("kind", "dataset", "model", "device"),
    ("kind", "name"),
)
_SEED = re.compile(r"\s+seed\s+\d+$")


@dataclass(frozen=True)
class Timing:
    """One stored job's recorded wall seconds and what it was: kind, name (its label without the seed), dataset,
    model, device type (``cpu``, ``cuda``) and training config (JSON text); ``None`` where unknown."""

    kind: str
    name: str
    seconds: float
    dataset: str | None = None
    model: str | None = None
    device: str | None = None
    train: str | None = None


@dataclass(frozen=True)
class Estimates:
    """A plan's expected seconds per job (``0`` for the jobs the store holds or the run does not need),
    how each was made (``level`` index into :data:`LEVELS` as ``"history:<i>"``, ``"default"``, ``"stored"``,
    ``"not needed"``), and the recorded seconds of the jobs the store already holds."""

    seconds: dict[str, float]
    how: dict[str, str]
    stored: dict[str, float] = field(default_factory=dict)

    def total(self) -> float:
        """The plan's expected seconds of work in all."""
        return float(sum(self.seconds.values()))


def job_name(label: str) -> str:
    """A job's label without its seed (``"evaluate finetune seed 0"`` -> ``"evaluate finetune"``)."""
    return _SEED.sub("", label)


def device_type(device: str | None) -> str | None:
    """``"cuda:0"`` -> ``"cuda"``; ``None`` stays ``None``."""
    return None if not device else str(device).split(":")[0]


def _train_text(train: Any) -> str:
    return json.dumps(train, sort_keys=True, default=str)


def recorded_seconds(meta: Mapping[str, Any]) -> float | None:
    """A stored job meta's wall seconds (``run.wall_seconds``; else its own ``seconds``), ``None`` if absent."""
    run = meta.get("run")
    value = run.get("wall_seconds") if isinstance(run, Mapping) else None
    if value is None:
        value = meta.get("seconds")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 and value == value else None


def stored_timings(store: Store) -> list[Timing]:
    """Every stored job with recorded seconds (side results without a kind of their own are left out), with the
    dataset, model and training config of the saved comparison that planned it, where one did."""
    setting: dict[str, tuple[str | None, str | None, str]] = {}
    for _, record in store.comparisons():
        spec = record.get("spec") or {}
        for j in record.get("jobs", []):
            setting.setdefault(j.get("key", ""), (spec.get("dataset"), spec.get("model"),
                                                  _train_text(spec.get("train", []))))
    out: list[Timing] = []
    for k in store.keys("result/"):
        key = k.removeprefix("result/")
        res = store.result(key)
        if res is None or not res.meta.get("kind") or not res.meta.get("label"):
            continue
        seconds = recorded_seconds(res.meta)
        if seconds is None:
            continue
        dataset, model, train = setting.get(key, (None, None, None))
        run = res.meta.get("run")
        out.append(Timing(str(res.meta["kind"]), job_name(str(res.meta["label"])), seconds, dataset, model,
                          device_type(run.get("device")) if isinstance(run, Mapping) else None, train))
    return out


def _describe(job: Job, device: str | None) -> dict[str, Any]:
    spec = getattr(job.payload, "spec", None) or {}
    return {"kind": job.kind, "name": job_name(job.label), "dataset": spec.get("dataset"),
            "model": spec.get("model"), "device": device_type(device), "train": _train_text(spec.get("train", []))}


def estimate(jobs: Iterable[Job], history: Iterable[Timing], device: str | None = None) -> Estimates:
    """Each job's expected seconds: the median of the ``history`` timings that share the fields of the first
    :data:`LEVELS` entry any of them matches (a field the job does not know never matches), else its kind's
    :data:`DEFAULT_SECONDS`. ``device``: the device the run will use (``"cpu"``, ``"cuda:0"``; ``None``: unknown)."""
    groups: list[dict[tuple, list[float]]] = [{} for _ in LEVELS]
    for t in history:
        d = t.__dict__
        for i, fields in enumerate(LEVELS):
            groups[i].setdefault(tuple(d[f] for f in fields), []).append(t.seconds)
    seconds: dict[str, float] = {}
    how: dict[str, str] = {}
    for job in jobs:
        d = _describe(job, device)
        for i, fields in enumerate(LEVELS):
            key = tuple(d[f] for f in fields)
            if None in key or key not in groups[i]:
                continue
            seconds[job.key], how[job.key] = float(statistics.median(groups[i][key])), f"history:{i}"
            break
        else:
            seconds[job.key], how[job.key] = DEFAULT_SECONDS.get(job.kind, OTHER_SECONDS), "default"
    return Estimates(seconds, how)


def estimate_plan(plan: Plan, cache_dir: Path | str, device: str | None = None) -> Estimates:
    """:func:`estimate` of the jobs of ``plan`` that a run would compute, from the store at ``cache_dir``; the
    jobs it holds (answered from the cache) and those no missing result needs expect ``0`` seconds, and the held
    ones' recorded seconds are in ``stored``."""
    store = Store(Path(cache_dir))
    try:
        needed = {j.key for j in needed_jobs(plan, store)}
        held = {j.key for j in plan.jobs if store.has(j.key)}
        todo = [j for j in plan.jobs if j.key in needed and j.key not in held]
        est = estimate(todo, stored_timings(store) if todo else (), device)
        stored = stored_seconds(store, held)
    finally:
        store.close()
    seconds = {j.key: est.seconds.get(j.key, 0.0) for j in plan.jobs}
    how = {j.key: est.how.get(j.key, "stored" if j.key in held else "not needed") for j in plan.jobs}
    return Estimates(seconds, how, stored)


def stored_seconds(store: Store, keys: Iterable[str]) -> dict[str, float]:
    """The recorded wall seconds of those ``keys`` the store holds (:func:`recorded_seconds`)."""
    out: dict[str, float] = {}
    for key in keys:
        res = store.result(key)
        seconds = recorded_seconds(res.meta) if res is not None else None
        if seconds is not None:
            out[key] = seconds
    return out


def eta_seconds(elapsed: float, done: float, remaining: float, prior_pace: float = 1.0,
                prior_weight: float | None = None) -> float:
    """Seconds until the run ends: the ``remaining`` estimated seconds of work times the run's pace.

    The pace (wall seconds per estimated second of work) is what the run shows so far, ``elapsed`` wall seconds
    for ``done`` estimated seconds of work, pulled towards ``prior_pace`` (e.g. ``1 / workers``) by
    ``prior_weight`` estimated seconds (default: a tenth of the run's work, at least one second), so the first
    seconds of a run do not swing it. Pure; never negative.
    """
    elapsed, done, remaining = max(0.0, elapsed), max(0.0, done), max(0.0, remaining)
    weight = max(1.0, 0.1 * (done + remaining)) if prior_weight is None else max(0.0, prior_weight)
    if done + weight <= 0:
        return remaining * prior_pace
    pace = (elapsed + weight * prior_pace) / (done + weight)
    return remaining * pace
