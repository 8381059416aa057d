"""The tuner: one search protocol for every method, on ``val`` only, with tuning seeds never reported (issue 15;
DESIGN.md "Evaluation protocol": one tuning protocol).

**Protocol.** For each selected method (reference models and methods that cannot run in the setting excepted) an
Optuna study (seeded TPE sampler, :data:`N_STARTUP_TRIALS` random trials first) searches the method's schema space
(:func:`engine.tuning.space.search_space`). Trial 0 is the default configuration, so a tuned configuration is never
worse on the objective than the default. A trial applies the method with the trial's hyper-parameters to the
original model of every **tuning seed** (:data:`DEFAULT_TUNING_SEEDS`, disjoint from the reported seeds) and
evaluates the result on the **validation** split alone (``EvaluatePayload.split = "val"``:
``Problem.validation_view`` puts ``val`` in the place of ``test``, and the test split is never read).

**Objective** (:data:`OBJECTIVE`, minimised): SalUn's average gap to retrain (``gap_to_retrain``; Fan et al. 2024)
measured on ``val``: the mean absolute difference between the method's model and the retrained model of the same
seed over forget accuracy, retain accuracy, validation accuracy and MIA efficacy (with ``val`` as the attack's
non-members), averaged over the tuning seeds.

**Jobs.** Every trial is content-keyed jobs like any other (``unlearn`` with the trial's hyper-parameters, then the
``val`` evaluations): cached, shared, run by the executors (all methods' trial ``k`` in one batch, so they run in
parallel), cancellable and shown in the progress table. A study's trials are also recorded in the store
(``tuning/<study key>``) as each one ends; a study asked again replays the recorded trials into a fresh seeded
sampler (which then proposes exactly what it proposed before) and runs only the trials that are missing, so an
interrupted study resumes at the trial it stopped at, and a larger budget extends a smaller one. A trial whose run
fails is a failed trial (``TrialState.FAIL``), not a crash (asked again, it runs again: its finished jobs are cached,
and a failure of the machine -- a worker killed -- is not taken for the configuration's); with ``prune`` a trial
reports its mean over the seeds done so far after each tuning seed and the median pruner may stop it
(``TrialState.PRUNED``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.config import build_config, config_dict
from engine.errors import SpecError
from engine.executors.base import EventFn, ExecSettings, Executor
from engine.jobs.model import SPLIT_VAL, Job, JobOutcome
from engine.methods import METHODS
from engine.metrics.retrain_distance import GAP_COMPONENTS
from engine.problem import resolve
from engine.rng import derive_seed
from engine.runner.comparison import needed_jobs
from engine.runner.plan import Plan, Planner, applicability
from engine.spec import AUDIT_FIELDS, ComparisonSpec, MethodSpec, stable_hash
from engine.store import Store
from engine.tuning.protocol import OBJECTIVE, TuneOptions
from engine.tuning.space import SearchSpace, search_space

OBJECTIVE_METRIC = "gap_to_retrain"
OBJECTIVE_METRICS = (*GAP_COMPONENTS, OBJECTIVE_METRIC)  # what a val evaluation computes: the objective and its parts
N_STARTUP_TRIALS = 10  # TPE's random start (Optuna's default): fixed, so that a larger budget extends a smaller one
PROTOCOL_VERSION = 1  # part of every study key: a change of the protocol starts new studies
COMPLETE, FAILED, PRUNED = "complete", "failed", "pruned"


@dataclass(frozen=True)
class Trial:
    """One trial: its searched ``params``, how it ended, the objective (``None`` unless complete) and its value per
    tuning seed; ``error`` says why a failed trial failed; ``seconds``: its wall time when it ran (0 replayed)."""

    number: int
    params: dict[str, Any]
    state: str
    value: float | None
    seed_values: dict[int, float] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "params": self.params, "state": self.state, "value": self.value,
                "seed_values": {str(k): v for k, v in self.seed_values.items()}, "error": self.error,
                "seconds": self.seconds}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Trial:
        return cls(int(d["number"]), dict(d["params"]), d["state"], d.get("value"),
                   {int(k): float(v) for k, v in d.get("seed_values", {}).items()}, d.get("error", ""),
                   float(d.get("seconds", 0.0)))


@dataclass(frozen=True)
class MethodStudy:
    """A method's study: its search space, the hyper-parameters every trial starts from (``base``: the comparison's
    values for the method, which fixed fields keep) and its trials in order."""

    method: str
    key: str
    space: SearchSpace
    base: dict[str, Any]
    trials: tuple[Trial, ...]
    seeds: tuple[int, ...]

    @property
    def best(self) -> Trial | None:
        """The complete trial with the lowest objective (the earliest of equals), ``None`` if none completed."""
        done = [t for t in self.trials if t.state == COMPLETE and t.value is not None]
        return min(done, key=lambda t: (t.value, t.number)) if done else None

    def best_hparams(self) -> dict[str, Any]:
        """The full configuration of the best trial (every field of the method's config), or of the default
        configuration when no trial completed."""
        best = self.best
        chosen = {**self.base, **(best.params if best is not None else {})}
        return config_dict(build_config(METHODS.get(self.method).config, chosen, f"methods.{self.method}"))

    def seconds(self) -> float:
        return sum(t.seconds for t in self.trials)

    def top(self, k: int) -> list[Trial]:
        """The ``k`` complete trials with the lowest objective (robustness: does the method win only at one
        setting?)."""
        done = sorted((t for t in self.trials if t.state == COMPLETE and t.value is not None),
                      key=lambda t: (t.value, t.number))
        return done[:k]

    def optuna_study(self) -> Any:
        """The study as an ``optuna.Study`` (in memory), for Optuna's plotly visualisations."""
        import optuna
        from optuna.trial import TrialState

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="minimize", study_name=f"{self.method}")
        dists = self.space.distributions()
        states = {COMPLETE: TrialState.COMPLETE, FAILED: TrialState.FAIL, PRUNED: TrialState.PRUNED}
        for t in self.trials:
            study.add_trial(optuna.trial.create_trial(
                state=states[t.state], value=t.value if t.state == COMPLETE else None, params=t.params,
                distributions={k: dists[k] for k in t.params},
                intermediate_values={i: v for i, v in enumerate(_running_means(t, self.seeds))}))
        return study


def _running_means(t: Trial, seeds: tuple[int, ...]) -> list[float]:
    vals = [t.seed_values[s] for s in seeds if s in t.seed_values]
    return [sum(vals[: i + 1]) / (i + 1) for i in range(len(vals))]


def tunable(spec: ComparisonSpec, fixed_work: bool = False) -> dict[str, str]:
    """The spec's methods the tuner searches, and for every other one why not (method -> reason; "" = tuned);
    ``fixed_work`` as :class:`TuneOptions`."""
    paradigm = resolve(spec).paradigm
    out = {}
    for m in spec.methods:
        method = METHODS.get(m.name, "methods")
        if method.reference is not None:
            out[m.name] = "a reference model (nothing to tune)"
            continue
        reason = applicability(method, paradigm)
        if reason is not None:
            out[m.name] = reason
            continue
        out[m.name] = "" if search_space(m.name, fixed_work).dimensions else "no searchable hyper-parameter"
    return out


def study_key(spec: ComparisonSpec, method: MethodSpec, space: SearchSpace, options: TuneOptions) -> str:
    """A study's identity: the setting, the method with the full configuration its trials start from (the given
    values over the defaults: the same study whether a default is given explicitly or not), the space, the tuning
    seeds, the sampler seed and pruning, the objective and the protocol version -- not the budget (a larger one
    extends it)."""
    setting = replace(spec, methods=(), seeds=(0,), device="auto", **AUDIT_FIELDS).to_json()
    dims = [{"name": d.name, "kind": d.kind, "low": d.low, "high": d.high, "log": d.log, "choices": list(d.choices)}
            for d in space.dimensions]
    base = config_dict(build_config(METHODS.get(method.name).config, method.hparam_dict(), f"methods.{method.name}"))
    return "study-" + stable_hash({"setting": setting, "method": method.name, "base": base,
                                   "space": dims, "seeds": list(options.seeds), "sampler_seed": options.sampler_seed,
                                   "prune": options.prune, "objective": list(OBJECTIVE_METRICS),
                                   "protocol": PROTOCOL_VERSION})


@dataclass
class _Live:
    """A study being run: Optuna's study, its recorded trials and the store record."""

    spec: MethodSpec
    space: SearchSpace
    key: str
    study: Any
    recorded: list[Trial]
    trials: list[Trial] = field(default_factory=list)


def _new_study(key: str, options: TuneOptions) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=derive_seed("tune", options.sampler_seed, key) % 2**32,
                                         n_startup_trials=N_STARTUP_TRIALS)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0) if options.prune else None
    return optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner, study_name=key)


def _tell(study: Any, trial: Any, t: Trial, report: bool) -> None:
    """Tell ``study`` how ``trial`` ended (``report``: first its running means per tuning seed, as a pruned study's
    trials reported them)."""
    from optuna.trial import TrialState

    for i, v in enumerate(_running_means(t, tuple(t.seed_values)) if report else ()):
        trial.report(v, i)
    if t.state == COMPLETE:
        study.tell(trial, t.value)
    else:
        study.tell(trial, state=TrialState.FAIL if t.state == FAILED else TrialState.PRUNED)


def _merged(plans: Sequence[Plan], store: Store, labels: Sequence[str]) -> list[Job]:
    """The jobs the plans still need, once each, in an order that keeps every plan's dependencies first; each job's
    label says which trial asked for it first."""
    out: dict[str, Job] = {}
    for plan, label in zip(plans, labels, strict=True):
        for j in needed_jobs(plan, store):
            if j.key not in out:
                out[j.key] = replace(j, label=f"{label}: {j.label}")
    return list(out.values())


def _row_value(plan: Plan, store: Store, outcomes: dict[str, JobOutcome],
               metric: str = "gap_to_retrain") -> tuple[dict[int, float], str]:
    """The objective (or another ``metric`` of the val evaluations) per tuning seed of a trial's plan (its method
    rows' val evaluations), or why it has none."""
    values: dict[int, float] = {}
    for row in plan.rows:
        if row.status != "pending" or row.eval_job is None:
            return {}, row.reason or "the method cannot run here"
        res = store.result(row.eval_job)
        if res is None:
            failed = [f"{k.split('-')[0]}: {o.error}" for k, o in outcomes.items()
                      if o.status == "failed" and k in plan.ancestors([row.eval_job])]
            return {}, failed[0] if failed else "its jobs did not finish"
        v = res.meta["metrics"].get(metric)
        if v is None or not math.isfinite(v):
            return {}, res.meta.get("reasons", {}).get(metric, f"{metric} is not defined")
        values[row.seed] = float(v)
    return values, ""


OnTrial = Callable[[str, Trial], None]


def tune(spec: ComparisonSpec, options: TuneOptions, cache_dir: Path, data_dir: Path, executor: Executor,
         on_event: EventFn | None = None, cancel: threading.Event | None = None,
         on_trial: OnTrial | None = None) -> dict[str, MethodStudy]:
    """Run (or resume, or extend) the study of every tunable method of ``spec`` to ``options.trials`` trials.

    Returns method -> :class:`MethodStudy` (only tuned methods; :func:`tunable` says why the others are not).
    ``on_trial(method, trial)`` is called as each trial ends (replayed ones included). A cancelled run returns the
    trials that ended; asking again resumes.
    """
    options.check(spec.seeds)
    cancel = cancel or threading.Event()
    tuning_spec = replace(spec, seeds=tuple(options.seeds), **AUDIT_FIELDS)
    planner = Planner(tuning_spec, data_dir, SPLIT_VAL, OBJECTIVE_METRICS)
    reasons = tunable(spec, options.fixed_work)
    store = Store(cache_dir)
    try:
        live: dict[str, _Live] = {}
        for m in spec.methods:
            if reasons[m.name]:
                continue
            space = search_space(m.name, options.fixed_work)
            key = study_key(spec, m, space, options)
            rec = store.study(key)
            recorded = [Trial.from_json(t) for t in (rec or {}).get("trials", [])]
            study = _new_study(key, options)
            base = m.hparam_dict()
            start = {d.name: base.get(d.name, d.default) for d in space.dimensions}
            if all(d.contains(start[d.name]) for d in space.dimensions):
                study.enqueue_trial(start)  # trial 0: the comparison's own (default) configuration
            live[m.name] = _Live(m, space, key, study, recorded)
        for k in range(options.trials):
            if cancel.is_set():
                break
            asked: dict[str, Any] = {}
            for name, lv in live.items():
                trial = lv.study.ask(lv.space.distributions())
                params = dict(trial.params)
                if k < len(lv.recorded) and lv.recorded[k].params == params and lv.recorded[k].state != FAILED:
                    # replay: nothing is run again (a failed trial is: its cause may have been the machine)
                    t = lv.recorded[k]
                    _tell(lv.study, trial, t, options.prune)
                    lv.trials.append(t)
                    if on_trial:
                        on_trial(name, t)
                else:
                    del lv.recorded[k:]  # a record that no longer matches the sampler is dropped from here on
                    asked[name] = trial
            if asked:
                _run_trials(k, asked, live, planner, tuning_spec, options, store, executor, cache_dir, data_dir,
                            on_event, cancel, on_trial)
        return {name: MethodStudy(name, lv.key, lv.space, lv.spec.hparam_dict(), tuple(lv.trials), options.seeds)
                for name, lv in live.items()}
    finally:
        store.close()


def recorded_studies(spec: ComparisonSpec, options: TuneOptions, cache_dir: Path) -> dict[str, MethodStudy]:
    """The studies of ``spec``'s tunable methods as the store records them (nothing is run; methods without a
    recorded trial are left out)."""
    store = Store(cache_dir)
    try:
        out = {}
        reasons = tunable(spec, options.fixed_work)
        for m in spec.methods:
            if not reasons[m.name]:
                space = search_space(m.name, options.fixed_work)
                key = study_key(spec, m, space, options)
                rec = store.study(key)
                if rec and rec.get("trials"):
                    trials = tuple(Trial.from_json(t) for t in rec["trials"])
                    out[m.name] = MethodStudy(m.name, key, space, m.hparam_dict(), trials, tuple(options.seeds))
        return out
    finally:
        store.close()


def _evaluate(specs: dict[str, ComparisonSpec], planner: Planner, store: Store, executor: Executor,
              settings: ExecSettings, on_event: EventFn | None, cancel: threading.Event,
              labels: dict[str, str], metric: str = "gap_to_retrain"
              ) -> tuple[dict[str, dict[int, float]], dict[str, str]]:
    """Run the val evaluations of one-method ``specs`` (name -> spec) as one batch of jobs: each name's objective per
    seed, and for each name that has none why not. Returns empty results when cancelled."""
    values: dict[str, dict[int, float]] = {}
    errors: dict[str, str] = {}
    plans = {}
    for name, spec in specs.items():
        try:
            plans[name] = planner.plan(spec)
        except SpecError as e:  # a configuration the method refuses (e.g. a constraint between fields)
            errors[name] = f"{e.field}: {e.message}"
    if not plans:
        return values, errors
    jobs = _merged(list(plans.values()), store, [labels[n] for n in plans])
    outcomes = executor.run(jobs, settings, on_event=on_event, cancel=cancel)
    if cancel.is_set():
        return {}, {}
    for name, plan in plans.items():
        got, why = _row_value(plan, store, outcomes, metric)
        if why:
            errors[name] = why
        else:
            values[name] = got
    return values, errors


def evaluate_configs(spec: ComparisonSpec, configs: dict[str, MethodSpec], seeds: Sequence[int], cache_dir: Path,
                     data_dir: Path, executor: Executor, on_event: EventFn | None = None,
                     cancel: threading.Event | None = None,
                     metric: str = OBJECTIVE_METRIC) -> dict[str, tuple[dict[int, float], str]]:
    """The tuner's objective (or another of :data:`OBJECTIVE_METRICS`, ``metric``) for each of ``configs`` (label ->
    method with its hyper-parameters) on ``seeds``, on the validation split of ``spec``'s setting, as jobs like any
    other (cached): label -> (value per seed, why none).

    Used to confirm a study's best configuration on seeds it was not chosen on (the defaults run's stability rule,
    :mod:`engine.tuning.defaults`). A cancelled run returns ``{}``."""
    cancel = cancel or threading.Event()
    eval_spec = replace(spec, seeds=tuple(seeds), shadow_models=0)
    planner = Planner(eval_spec, data_dir, SPLIT_VAL, OBJECTIVE_METRICS)
    store = Store(cache_dir)
    try:
        specs = {label: replace(eval_spec, methods=(m,)) for label, m in configs.items()}
        values, errors = _evaluate(specs, planner, store, executor, ExecSettings(cache_dir, data_dir, spec.device),
                                   on_event, cancel, {label: f"confirm {label}" for label in configs}, metric)
        if cancel.is_set():
            return {}
        return {label: (values.get(label, {}), errors.get(label, "")) for label in configs}
    finally:
        store.close()


def _run_trials(k: int, asked: dict[str, Any], live: dict[str, _Live], planner: Planner, tuning_spec: ComparisonSpec,
                options: TuneOptions, store: Store, executor: Executor, cache_dir: Path, data_dir: Path,
                on_event: EventFn | None, cancel: threading.Event, on_trial: OnTrial | None) -> None:
    """Run trial ``k`` of every study in ``asked`` (method -> optuna trial) as one batch of jobs per tuning seed
    (all seeds at once unless pruning), then tell each study and record the trial."""
    started = time.perf_counter()
    specs = {name: replace(tuning_spec, methods=(MethodSpec(name, tuple(sorted(
        {**live[name].spec.hparam_dict(), **trial.params}.items()))),)) for name, trial in asked.items()}
    seed_groups = [(s,) for s in options.seeds] if options.prune else [tuple(options.seeds)]
    values: dict[str, dict[int, float]] = {name: {} for name in asked}
    errors: dict[str, str] = {}
    pruned: set[str] = set()
    settings = ExecSettings(cache_dir, data_dir, tuning_spec.device)
    for step, seeds in enumerate(seed_groups):
        active = [n for n in asked if n not in errors and n not in pruned]
        if not active:
            break
        got, why = _evaluate({n: replace(specs[n], seeds=seeds) for n in active}, planner, store, executor, settings,
                             on_event, cancel, {n: f"tune {n} trial {k}" for n in active})
        if cancel.is_set():
            return  # nothing told, nothing recorded: the trial runs again on resume (its finished jobs are cached)
        errors.update(why)
        for name, vals in got.items():
            values[name].update(vals)
            if options.prune:
                trial = asked[name]
                done = [values[name][s] for s in options.seeds if s in values[name]]
                trial.report(sum(done) / len(done), step)
                if step + 1 < len(seed_groups) and trial.should_prune():
                    pruned.add(name)
    seconds = time.perf_counter() - started
    for name, trial in asked.items():
        lv = live[name]
        vals = values[name]
        if name in errors:
            t = Trial(k, dict(trial.params), FAILED, None, vals, errors[name], seconds)
        elif name in pruned:
            t = Trial(k, dict(trial.params), PRUNED, None, vals, "", seconds)
        else:
            t = Trial(k, dict(trial.params), COMPLETE, sum(vals.values()) / len(vals), vals, "", seconds)
        _tell(lv.study, trial, t, report=False)  # a pruned study's trial reported as it ran
        lv.trials.append(t)
        store.put_study(lv.key, {"method": name, "setting": tuning_spec.setting_key(), "seeds": list(options.seeds),
                                 "objective": OBJECTIVE, "trials": [x.to_json() for x in lv.trials]})
        if on_trial:
            on_trial(name, t)
