"""Comparisons running in the background for the dashboard: one thread per comparison, progress, cancel.

Plain Python (no Streamlit calls: its worker threads have no session); a page keeps one instance per cache
directory with ``st.cache_resource``. It runs comparisons only through :mod:`engine.api`.

Per job it keeps the newest progress event, when the job started and ended, and the per-epoch points (``epoch``,
``loss``, ``acc``) its events carried (events relayed from worker processes are the newest one per look, so
points are placed by their epoch, not by arrival). When a run ends, every job that did not report how it ended
gets the executor's outcome (a failure, a skip because a dependency failed, a cancellation), so no job of an
ended run shows ``running`` or ``queued``. Expected seconds per job (:func:`engine.api.estimate_jobs`, from the
store's earlier jobs) give the overall fraction done and the ETA (:meth:`JobManager.overall`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard.results import Results, stored_results
from engine import api

# job states that ended ("not run": the run ended without needing or reaching it; "interrupted": the run stopped
# with an error while the job ran)
FINISHED = ("done", "cached", "failed", "cancelled", "not_applicable", "skipped", "not run", "interrupted")
ACTIVE = ("running", "waiting")  # job states of a job in progress
PROGRESS_COLUMNS = ["job", "kind", "state", "step", "progress", "message", "elapsed (s)"]
CURVE_COLUMNS = ["job", "kind", "epoch", "loss", "acc"]
NOT_NEEDED = "not needed: the results that use it are stored"


@dataclass(frozen=True)
class Overall:
    """A run at a glance: ``fraction`` of its expected work done (0..1), wall seconds ``elapsed`` since it started
    computing, ``eta`` seconds left (``None`` once it ended or before it is admitted), jobs per state
    (``counts``) and the number of jobs (``jobs``)."""

    state: str
    fraction: float
    elapsed: float
    eta: float | None
    counts: dict[str, int]
    jobs: int
    phase: str = ""  # a tuned run (issue 15): "comparison" | "tuning" | "tuned comparison"; "" otherwise
    trials: tuple[int, int] = (0, 0)  # a tuned run: trials ended, trials in all (every tuned method's budget)

    @property
    def finished(self) -> int:
        """Jobs that ended (any state of :data:`FINISHED`)."""
        return sum(n for s, n in self.counts.items() if s in FINISHED)


@dataclass(frozen=True)
class _TunerJob:
    """A tuner trial's job as the progress table shows it (planned by the tuner, not in the comparison's plan)."""

    key: str
    kind: str
    label: str
    deps: tuple[str, ...] = ()


@dataclass
class _Run:
    spec: api.ComparisonSpec
    plan: api.Plan | None
    cancel: threading.Event
    started: float
    executor: str = "local"
    workers: int | None = None  # local executor's worker processes (None: its default)
    state: str = "running"  # running | done | failed | cancelled
    ticket: str | None = None  # demo mode: place in the run queue
    error: str = ""
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # job -> newest event (+ "time" received)
    began: dict[str, float] = field(default_factory=dict)  # job -> when it started running (time.time())
    ended: dict[str, float] = field(default_factory=dict)  # job -> when its terminal event came
    points: dict[str, dict[int, tuple[float, float | None]]] = field(default_factory=dict)  # job -> epoch -> point
    estimates: dict[str, float] | None = None  # job -> expected seconds (0: answered from the cache / not needed)
    seconds: dict[str, float] = field(default_factory=dict)  # job -> recorded wall seconds of its stored result
    computing: float | None = None  # when api.run was called (after planning and the demo queue)
    finished: float | None = None
    thread: threading.Thread | None = None
    tune: Any = None  # api.TuneOptions: also tune every method (default and tuned rows), None: a plain run
    phase: str = ""  # a tuned run: comparison -> tuning -> tuned comparison
    trials_total: int = 0
    trials_done: int = 0
    tuning_started: float | None = None
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # tuner job -> (kind, label), not in the plan
    plan_keys: frozenset[str] = frozenset()  # a tuned run: the comparison's own jobs


class JobManager:
    """Runs comparisons in background threads and answers status, progress and result per comparison key.

    Thread-safe; worker threads only touch this object and the engine, never Streamlit.
    """

    def __init__(self, cache_dir: Path | str, data_dir: Path | str | None = None,
                 queue: api.RunQueue | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.data_dir = Path(data_dir) if data_dir is not None else api.default_data_dir()
        self.queue = queue  # demo mode: at most ``queue.slots`` comparisons run at once, the others wait in order
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._executors: dict[str, api.Executor] = {}

    def _executor(self, name: str, workers: int | None = None) -> api.Executor:
        """One executor per name (and local worker count) for this server (a Ray connection is made once)."""
        with self._lock:
            key = name if workers is None else f"{name}:{workers}"
            if key not in self._executors:
                self._executors[key] = (api.make_executor(name) if workers is None
                                        else api.make_executor(name, workers=workers))
            return self._executors[key]

    def start(self, spec: api.ComparisonSpec, p: api.Plan | None = None, executor: str = "local",
              workers: int | None = None, tune: Any = None) -> str:
        """Start ``spec`` unless it is already running; returns its comparison key (non-blocking). ``workers``: the
        local executor's worker processes (``None``: its default, one per core); ``tune``: an
        :class:`engine.api.TuneOptions` to also tune every method under the one protocol (issue 15) and run the
        tuned configurations (``None``: a plain run)."""
        if tune is not None:
            tune.check(spec.seeds)  # SpecError naming tune / tune_seeds before anything starts
        api.check_demo(spec, self.data_dir)  # the demo caps the page and the CLI apply (no-op outside demo mode)
        key = spec.comparison_key()
        with self._lock:
            cur = self._runs.get(key)
            if cur is not None and cur.state == "running":
                return key
            run = _Run(spec, p, threading.Event(), time.time(), executor, workers=workers, tune=tune)
            if self.queue is not None:
                run.ticket = self.queue.join()
            run.thread = threading.Thread(target=self._work, args=(key, run), daemon=True, name=f"compare-{key}")
            self._runs[key] = run
        run.thread.start()
        return key

    def _work(self, key: str, run: _Run) -> None:
        def on_event(job_key: str, event: dict[str, Any]) -> None:
            with self._lock:
                if run.tune is not None and run.plan is not None and job_key not in run.labels \
                        and job_key not in run.plan_keys:
                    # a tuned run's job outside the comparison's plan: a trial's, then the tuned comparison's
                    if run.phase == "comparison":
                        run.phase, run.tuning_started = "tuning", time.time()
                    label = str(event.get("label", job_key))
                    run.labels[job_key] = (str(event.get("kind", "")),
                                           f"tuned: {label}" if run.phase == "tuned comparison" else label)
                _record(run, job_key, event, time.time())

        def on_trial(method: str, trial: Any) -> None:
            with self._lock:
                run.trials_done += 1
                if run.trials_done >= run.trials_total:
                    run.phase = "tuned comparison"

        outcomes: dict[str, tuple[str, str]] = {}
        try:
            if run.plan is None:
                p = api.plan(run.spec, self.data_dir)
                with self._lock:
                    run.plan = p
            estimates = self._estimates(run)
            with self._lock:
                run.estimates, run.seconds = estimates
            admitted = True
            if self.queue is not None and run.ticket is not None:
                admitted = self.queue.wait_turn(run.ticket, run.cancel)
            if admitted:
                with self._lock:
                    run.computing = time.time()
                runner = self._executor(run.executor, run.workers)
                if run.tune is None:
                    result = api.run(run.spec, cache_dir=self.cache_dir, data_dir=self.data_dir, executor=runner,
                                     on_event=on_event, cancel=run.cancel, plan=run.plan)
                else:
                    result = self._tuned(run, runner, on_event, on_trial)
                outcomes = {k: (o.status, o.error) for k, o in result.outcomes.items()}
            state, error = ("cancelled" if run.cancel.is_set() else "done"), ""
        except api.SpecError as e:
            state, error = "failed", str(e)
        except Exception as e:  # shown on the page; the thread must not die silently
            state, error = "failed", f"{type(e).__name__}: {e}"
        finally:
            if self.queue is not None and run.ticket is not None:
                self.queue.leave(run.ticket)
        seconds = self._stored_seconds(run)
        with self._lock:
            run.seconds.update(seconds)
            _settle(run, outcomes, state, error, time.time())
            run.state, run.error, run.finished = state, error, time.time()

    def _tuned(self, run: _Run, runner: api.Executor, on_event: Any, on_trial: Any) -> api.ComparisonResult:
        """A tuned run: the comparison, then the studies (phase and trial count for the progress bar), then the
        tuned comparison; returns the default comparison's result (its outcomes settle the plan's jobs)."""
        tunable = [m for m, why in api.tunable(run.spec).items() if not why]
        with self._lock:
            run.phase, run.trials_total = "comparison", len(tunable) * run.tune.trials
            run.plan_keys = frozenset(j.key for j in run.plan.jobs) if run.plan is not None else frozenset()
        tuned = api.run_tuned(run.spec, run.tune, cache_dir=self.cache_dir, data_dir=self.data_dir, executor=runner,
                              on_event=on_event, cancel=run.cancel, on_trial=on_trial, plan=run.plan)
        return tuned.default

    def _estimates(self, run: _Run) -> tuple[dict[str, float] | None, dict[str, float]]:
        """Expected seconds per job of the run's plan and the recorded seconds of the stored ones (none when the
        store cannot be read: the bar then counts jobs)."""
        try:
            device = str(api.resolve_device(run.spec.device))
            est = api.estimate_jobs(run.plan, self.cache_dir, device)
        except Exception:  # noqa: BLE001 - an estimate is an extra; the run goes on without one
            return None, {}
        return est.seconds, dict(est.stored)

    def _stored_seconds(self, run: _Run) -> dict[str, float]:
        """Recorded wall seconds of the run's jobs that ended ``done`` or ``cached`` (their stored metas)."""
        with self._lock:
            keys = [k for k, e in run.events.items() if e.get("state") in ("done", "cached")]
        if not keys:
            return {}
        try:
            return api.stored_seconds(keys, self.cache_dir)
        except Exception:  # noqa: BLE001 - the events' own seconds stay
            return {}

    def status(self, key: str) -> str:
        """``idle`` (never started here), ``running``, ``done``, ``failed`` or ``cancelled``."""
        with self._lock:
            run = self._runs.get(key)
            return "idle" if run is None else run.state

    def queue_position(self, key: str) -> int | None:
        """Demo mode: ``0`` while the run holds a slot, ``k`` while ``k - 1`` runs wait before it; else ``None``."""
        with self._lock:
            run = self._runs.get(key)
        if run is None or run.ticket is None or self.queue is None or run.state != "running":
            return None
        return self.queue.position(run.ticket)

    def error(self, key: str) -> str:
        with self._lock:
            run = self._runs.get(key)
            return "" if run is None else run.error

    def cancel(self, key: str) -> None:
        with self._lock:
            run = self._runs.get(key)
        if run is not None:
            run.cancel.set()

    def wait(self, key: str, timeout: float | None = None) -> str:
        """Block until the run ends (for scripts and tests); returns its status."""
        with self._lock:
            run = self._runs.get(key)
        if run is not None and run.thread is not None:
            run.thread.join(timeout)
        return self.status(key)

    def _rows(self, key: str) -> tuple[_Run | None, list[dict[str, Any]]]:
        """The run and one row per job of its plan (:data:`PROGRESS_COLUMNS` plus the job's ``key``), read under
        the lock."""
        now = time.time()
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.plan is None:
                return run, []
            rows: list[dict[str, Any]] = []
            ended: dict[str, tuple[str, str]] = {}  # job -> (state, message) of those that ended
            for j in run.plan.jobs:  # dependency order: a job's dependencies come before it
                rows.append(_row(run, j, now, ended))
                if rows[-1]["state"] in FINISHED:
                    ended[j.key] = (rows[-1]["state"], rows[-1]["message"])
            for k, (kind, label) in run.labels.items():  # a tuned run's trial jobs, in the order they came
                rows.append(_row(run, _TunerJob(k, kind, label), now, ended))
            return run, rows

    def progress(self, key: str) -> pd.DataFrame:
        """One row per job of the run (plan order): job, kind, state, step (done/total), progress (0..1), message
        and elapsed seconds (running: so far; ended: what it took, for a cached job when it was computed)."""
        _, rows = self._rows(key)
        return pd.DataFrame([{c: r[c] for c in PROGRESS_COLUMNS} for r in rows], columns=PROGRESS_COLUMNS)

    def running_jobs(self, key: str) -> list[dict[str, Any]]:
        """The run's jobs in progress (``running`` or ``waiting``), as progress rows (job, kind, state, step,
        progress, message, elapsed (s))."""
        _, rows = self._rows(key)
        return [{c: r[c] for c in PROGRESS_COLUMNS} for r in rows if r["state"] in ACTIVE]

    def curves(self, key: str) -> pd.DataFrame:
        """The per-epoch points the run's jobs reported (job, kind, epoch, loss, acc; acc ``NaN`` where the loop
        reports none), in plan order then epoch."""
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.plan is None:
                return pd.DataFrame(columns=CURVE_COLUMNS)
            rows = [{"job": j.label, "kind": j.kind, "epoch": epoch, "loss": loss,
                     "acc": math.nan if acc is None else acc}
                    for j in run.plan.jobs for epoch, (loss, acc) in sorted(run.points.get(j.key, {}).items())]
        return pd.DataFrame(rows, columns=CURVE_COLUMNS)

    def overall(self, key: str) -> Overall:
        """The run at a glance (:class:`Overall`): expected work done, elapsed seconds, ETA, jobs per state.

        Work is counted in expected seconds (:func:`engine.api.estimate_jobs`; one per job when there are none):
        an ended job counts whole, a running one by its steps (or its seconds so far), at most 95 % of it; the ETA
        is the remaining work at the run's pace so far (:func:`engine.api.eta_seconds`), starting from one
        second per second per worker.
        """
        run, rows = self._rows(key)
        if run is None:
            return Overall("idle", 0.0, 0.0, None, {}, 0)
        with self._lock:
            state, computing, finished = run.state, run.computing, run.finished
            estimates = dict(run.estimates) if run.estimates is not None else None
        counts = dict(Counter(r["state"] for r in rows))
        total = done = 0.0
        for r in rows:
            est = (estimates.get(r["key"], 0.0) if estimates is not None
                   else (0.0 if r["state"] in ("cached", "not run") else 1.0))
            total += est
            done += est * _share(r, est)
        fraction = done / total if total > 0 else (1.0 if state != "running" else 0.0)
        if state == "done":
            fraction = 1.0
        end = finished if finished is not None else time.time()
        elapsed = max(0.0, end - computing) if computing is not None else 0.0
        eta = None
        if state == "running" and computing is not None:
            eta = api.eta_seconds(elapsed, done, max(0.0, total - done), 1.0 / self._parallel(run, rows))
        with self._lock:
            phase, done_trials, all_trials = run.phase, run.trials_done, run.trials_total
            tuning_started = run.tuning_started
        if phase in ("tuning", "tuned comparison") and all_trials:
            # the studies dominate a tuned run: the bar and the ETA follow the trials (their pace so far)
            part = done_trials / all_trials
            fraction = 0.05 + 0.9 * part if state == "running" else fraction
            if state == "running" and tuning_started is not None:
                spent = time.time() - tuning_started
                eta = spent / done_trials * (all_trials - done_trials) if done_trials else None
        return Overall(state, min(1.0, max(0.0, fraction)), elapsed, eta, counts, len(rows), phase,
                       (done_trials, all_trials))

    def _parallel(self, run: _Run, rows: list[dict[str, Any]]) -> int:
        """How many jobs the run's executor may run at once (the local executor's workers; else 1)."""
        if run.executor != "local":
            return 1
        try:
            workers = run.workers if run.workers is not None else api.default_workers()
        except api.SpecError:
            workers = 1
        return max(1, min(int(workers), len(rows) or 1))

    def result(self, key: str) -> Results | None:
        """The finished (or partly finished) run's results, read from the store."""
        with self._lock:
            run = self._runs.get(key)
        if run is None or run.plan is None:
            return None
        return stored_results(run.plan, self.cache_dir)


# -- bookkeeping of one run's events (called under the manager's lock) --------------------------------------------
def _record(run: _Run, job_key: str, event: dict[str, Any], now: float) -> None:
    """Keep ``event`` of job ``job_key``: its newest state (a job that ended keeps its terminal event: a late
    relayed ``running`` event is stale), when it started and ended, and its per-epoch point."""
    prev = run.events.get(job_key)
    state = str(event.get("state", ""))
    if prev is not None and prev.get("state") in FINISHED and state not in FINISHED:
        return
    run.events[job_key] = {**event, "time": now}
    if state in ACTIVE and job_key not in run.began:
        run.began[job_key] = now - max(0.0, _number(event.get("elapsed")) or 0.0)
    if state in FINISHED:
        run.ended.setdefault(job_key, now)
    epoch, loss = event.get("epoch"), _number(event.get("loss"))
    if epoch is not None and loss is not None:
        try:
            run.points.setdefault(job_key, {})[int(epoch)] = (loss, _number(event.get("acc")))
        except (TypeError, ValueError):
            pass


def _settle(run: _Run, outcomes: dict[str, tuple[str, str]], state: str, error: str, now: float) -> None:
    """The run ended (``state``): every job that did not report how it ended gets what happened to it: its
    executor outcome (failed, skipped, cancelled, ...); without one, ``interrupted`` if it was running when the
    run failed, ``cancelled`` when the run was cancelled, else ``not run`` (the run did not need it, or stopped
    before it)."""
    if run.plan is None:
        return
    for j in run.plan.jobs:
        prev = run.events.get(j.key)
        if prev is not None and prev.get("state") in FINISHED:
            continue
        status, message = outcomes.get(j.key, ("", ""))
        if not status:
            active = prev is not None and prev.get("state") in ACTIVE
            if state == "failed":
                status, message = ("interrupted" if active else "not run"), f"the run stopped: {error}"
            elif state == "cancelled" or run.cancel.is_set():
                status, message = "cancelled", ""
            else:
                status, message = "not run", NOT_NEEDED
        elapsed = now - run.began[j.key] if j.key in run.began else 0.0
        _record(run, j.key, {"job": j.key, "kind": j.kind, "label": j.label, "state": status, "done": 0,
                             "total": 0, "message": message, "elapsed": elapsed}, now)


def _number(value: Any) -> float | None:
    """``value`` as a finite float, else ``None``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _elapsed(run: _Run, key: str, event: dict[str, Any] | None, now: float) -> float:
    """Seconds job ``key`` ran: so far while it runs; once it ended its stored result's recorded seconds (a
    cached job's when it was computed), else its terminal event's, else from when it started to when it ended."""
    if event is None:
        return 0.0
    state = event.get("state")
    if state in ACTIVE:
        return (_number(event.get("elapsed")) or 0.0) + max(0.0, now - float(event["time"]))
    if key in run.seconds and state in ("done", "cached"):
        return run.seconds[key]
    seconds = _number(event.get("elapsed")) or 0.0
    if seconds <= 0 and key in run.began:
        seconds = max(0.0, run.ended.get(key, now) - run.began[key])
    return seconds


def _row(run: _Run, job: Any, now: float, ended: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Job ``job``'s progress row; a queued job with a dependency that ended without a result (``ended``: job ->
    (state, message)) shows ``skipped``, as the executor will skip it."""
    e = run.events.get(job.key)
    state = str(e["state"]) if e else ("queued" if run.state == "running" else "not run")
    done, total = (int(e.get("done") or 0), int(e.get("total") or 0)) if e else (0, 0)
    frac = 1.0 if state in ("done", "cached") else (min(1.0, done / total) if total else 0.0)
    message = str(e.get("message") or "") if e else ""
    if state == "queued":
        bad = [ended[d] for d in job.deps if d in ended and ended[d][0] not in ("done", "cached")]
        if bad:
            state, message = "skipped", f"depends on a job that did not finish: {bad[0][1] or bad[0][0]}"
    if state == "cached" and not message:
        message = "from the cache"
    return {"key": job.key, "job": job.label, "kind": job.kind, "state": state,
            "step": f"{done}/{total}" if total else "", "progress": frac, "message": message,
            "elapsed (s)": round(_elapsed(run, job.key, e, now), 1)}


def _share(row: dict[str, Any], estimate: float) -> float:
    """How much of a job's expected work is done: all once it ended, its steps (or seconds so far) while it
    runs (at most 95 %), nothing before."""
    if row["state"] in FINISHED:
        return 1.0
    if row["state"] not in ACTIVE:
        return 0.0
    by_steps = row["progress"]
    by_time = row["elapsed (s)"] / estimate if estimate > 0 else 0.0
    return min(0.95, by_steps if by_steps > 0 else by_time)
