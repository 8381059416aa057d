"""Expand a :class:`ComparisonSpec` into its job graph and its result rows (validating everything first).

Two steps: :func:`build_graph` is the graph itself, a function of the validated spec, its method configs, which
training-time states the data makes infeasible and the job identities (:mod:`engine.jobs.identity`: the models' keys
hold digests of the supervision they train on) -- it loads no data, so the results-bundle importer recomputes a
record's plan with it from the digests of the bundle's own ``problem.npz`` (``engine.bundle``); :func:`make_plan`
validates the spec against the data (the forget set of every seed, the states' feasibility, the split sizes),
computes each seed's digests from the problem it builds anyway, and calls it.

No method or metric is named here: the planner reads what components declare -- ``Method.reference`` (the
engine's own original / retrain models), ``Method.own_original`` (a method's own model before unlearning gets a
row), ``Needs.train_time_state`` (recorders) and ``MetricInfo.preparation`` (per-seed jobs a metric needs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.config import build_config, config_dict
from engine.data import load_dataset
from engine.errors import SpecError
from engine.jobs.identity import ContentIdentities, Identities
from engine.jobs.method_inputs import not_applicable_reason
from engine.jobs.model import (
    EVALUATE,
    METRIC_RECORD,
    ORIGINAL,
    PROBLEM,
    REQUESTS_NONE,
    RETRAIN,
    SPLIT_TEST,
    SPLITS,
    TRAIN_STATE,
    UNLEARN,
    EvaluatePayload,
    Job,
    PreparePayload,
    ProblemPayload,
    TrainPayload,
    TrainStatePayload,
    UnlearnPayload,
    job_key,
    make_job,
    model_resources,
)
from engine.methods import METHODS
from engine.methods.base import Method
from engine.metrics import METRICS, preparations
from engine.models import build_model
from engine.paradigms.base import Paradigm
from engine.problem import Setting, build_problem, resolve
from engine.spec import AUDIT_FIELDS, ComparisonSpec
from engine.training.recording import RECORDERS

# the Method.reference values: the engine's own models
REFERENCE_ORIGINAL = "original"  # the trained original, evaluated as is
REFERENCE_RETRAIN = "retrain"  # retrain from scratch: every forgetting metric is measured against it
REFERENCE_BEFORE = "before"  # a per-row preparation's row that is a method's own model before unlearning (SISA's)


@dataclass(frozen=True)
class Row:
    """One result row: a method x seed, its evaluation job (if it runs) or why it does not."""

    method: str
    seed: int
    eval_job: str | None
    model_job: str | None
    status: str  # "pending" | "not_applicable"
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """The validated setting, the jobs in dependency order and the rows they produce."""

    spec: ComparisonSpec
    setting: Setting
    jobs: tuple[Job, ...]
    rows: tuple[Row, ...]
    sizes: dict[int, dict[str, int]] = field(default_factory=dict)  # seed -> n_forget, n_retain, n_val, n_test

    @property
    def key(self) -> str:
        return self.spec.comparison_key()

    def ancestors(self, keys: Iterable[str | None]) -> set[str]:
        """The given jobs of this plan and every job they depend on, directly or not."""
        by_key = {j.key: j for j in self.jobs}
        seen: set[str] = set()
        todo = [k for k in keys if k is not None]
        while todo:
            k = todo.pop()
            if k in seen or k not in by_key:
                continue
            seen.add(k)
            todo.extend(by_key[k].deps)
        return seen


@dataclass(frozen=True)
class Graph:
    """What :func:`build_graph` builds: the jobs in dependency order, the rows, and for the bundle check every
    seed's key of every training-time state job (planned or not) and each job's seed's problem key."""

    jobs: tuple[Job, ...]
    rows: tuple[Row, ...]
    state_jobs: dict[str, dict[int, str]]  # training-time state id -> seed -> its job key
    problem_of: dict[str, str]  # job key -> the key of its seed's problem job


def applicability(method: Method, paradigm: Paradigm) -> str | None:
    """Why the plan gives ``method`` no result under ``paradigm`` (``None`` if it runs).

    A reference model (``Method.reference``) always runs: the engine trains it itself, with the training-time
    supervision; any other method is :func:`~engine.jobs.method_inputs.not_applicable_reason`'s call.
    """
    return None if method.reference is not None else not_applicable_reason(method, paradigm)


def method_configs(spec: ComparisonSpec) -> dict[str, object]:
    """Each selected method's validated config (``SpecError`` naming ``methods.<name>.<field>``)."""
    out = {}
    for m in spec.methods:
        method = METHODS.get(m.name, "methods")
        out[m.name] = build_config(method.config, m.hparam_dict(), f"methods.{m.name}")
    return out


def state_needs(cfgs: Mapping[str, object], paradigm: Paradigm
                ) -> tuple[dict[str, tuple[str, dict[str, Any]]], dict[str, dict[str, str]]]:
    """The training-time states the selected, applicable methods need: ``(state id -> (recorder, options),
    method -> {recorder: state id})``. A state id is the recorder key, plus its options as JSON when it has any."""
    states: dict[str, tuple[str, dict[str, Any]]] = {}
    method_states: dict[str, dict[str, str]] = {}
    for name, cfg in cfgs.items():
        method = METHODS.get(name)
        if applicability(method, paradigm) is None:
            ids = {}
            for r in method.needs.train_time_state:
                opts = RECORDERS.get(r).options_of(cfg)
                ids[r] = r if not opts else f"{r}{json.dumps(opts, sort_keys=True)}"
                states.setdefault(ids[r], (r, opts))
            method_states[name] = ids
    return states, method_states


def build_graph(spec: ComparisonSpec, setting: Setting, cfgs: Mapping[str, object],
                infeasible: Mapping[str, str], ids: Identities, split: str = SPLIT_TEST,
                metrics: tuple[str, ...] | None = None) -> Graph:
    """The comparison's jobs and rows, without the data (``ids`` writes the identities that hold its content:
    :class:`~engine.jobs.identity.ContentIdentities` from the seeds' problems).

    Per seed: ``problem`` -> ``original`` (+ ``train_state`` jobs) -> ``retrain`` (+ the enabled metric
    preparations) -> ``evaluate`` retrain -> per method ``unlearn`` -> ``evaluate`` (a reference method reuses the
    engine's model; a method with ``own_original`` also gets a row for its model before unlearning).
    ``infeasible``: state id -> why the data cannot afford it; its jobs are left out and the methods needing it are
    not applicable for that reason. Job keys: :mod:`engine.jobs.identity`.

    ``split`` / ``metrics``: what the evaluations compute -- every registered metric on the test split (the
    default), or for the tuner (:mod:`engine.tuning`) the given ``metrics`` on ``val`` alone, without metric
    preparations; a ``val`` evaluation's identity says so (``"split": "val"``), a test one's is unchanged.
    """
    # the setting's models are shared with every comparison of the same setting: the spec of the jobs leaves out
    # what only selects rows or adds jobs (methods, seeds, device, metric preparations such as shadow models)
    spec_json = replace(spec, methods=(), seeds=(0,), device="auto", **AUDIT_FIELDS).to_json()
    if split not in SPLITS:
        raise ValueError(f"unknown evaluation split {split!r}")
    metrics = tuple(METRICS.keys()) if metrics is None else tuple(metrics)
    enabled = [p for p in preparations(metrics) if p.enabled(spec)] if split == SPLIT_TEST else []
    preps = [p for p in enabled if not p.per_row]
    row_preps = [p for p in enabled if p.per_row]
    on = {} if split == SPLIT_TEST else {"split": split}  # part of a val evaluation's identity
    # a metric reads a preparation only through its own (MetricInfo.preparation): its record's identity holds that one
    own_prep = {m: (METRICS.get(m).preparation.kind if METRICS.get(m).preparation is not None else None)
                for m in metrics}

    def records(model_job: str, rj_key: str, reference: bool, pj_key: str,
                prepared: Mapping[str, str]) -> dict[str, str]:
        """metric -> its record's key for ``model_job``'s evaluation: what the evaluation's identity holds but the
        metric list (and the retrain reference by its model, not by its evaluation, whose key holds the list)."""
        return {m: job_key(METRIC_RECORD, ids.in_problem(
            {"model_job": model_job, "metric": m, "retrain": rj_key, "reference": reference,
             **({own_prep[m]: prepared[own_prep[m]]} if own_prep[m] in prepared else {}), **on}, pj_key))
            for m in metrics}

    tag = "" if split == SPLIT_TEST else f" on {split}"  # in its label
    res = model_resources(spec.model)
    states, method_states = state_needs(cfgs, setting.paradigm)
    # recorded on the side of the original's training (or after it); separate ones run in their own job
    side = [sid for sid, (r, _) in states.items() if not RECORDERS.get(r).separate]
    jobs: list[Job] = []
    rows: list[Row] = []
    seen: set[str] = set()
    all_states: dict[str, dict[int, str]] = {}
    problem_of: dict[str, str] = {}

    def add(job: Job, seed_problem: str | None = None) -> Job:
        """Plan ``job`` once (``seed_problem``: its seed's problem key; a problem job is its own)."""
        if job.key not in seen:
            seen.add(job.key)
            jobs.append(job)
        problem_of.setdefault(job.key, seed_problem or job.key)
        return job

    for seed in spec.seeds:
        pj = add(make_job(PROBLEM, f"problem seed {seed}", setting.problem_payload(seed),
                          ProblemPayload(spec_json, seed), resources=res))
        original_id = ids.original(seed, pj.key)
        okey = job_key(ORIGINAL, original_id)
        state_jobs: dict[str, Job] = {}
        for sid, (r, opts) in states.items():
            info = RECORDERS.get(r)
            ident = {"original": okey, "recorder": r, **({"options": opts} if opts else {})}
            state_jobs[sid] = make_job(TRAIN_STATE, f"{info.title} seed {seed}", ident,
                                       TrainStatePayload(spec_json, seed, original=okey, recorder=r, options=opts),
                                       (pj.key,) if info.separate else (okey,), res)
            all_states.setdefault(sid, {})[seed] = state_jobs[sid].key
        oj = add(make_job(ORIGINAL, f"original seed {seed}", original_id, TrainPayload(
            spec_json, seed, record_during=tuple(r for r in side if RECORDERS.get(r).during_training),
            record_after=tuple(r for r in side if not RECORDERS.get(r).during_training),
            state_jobs={r: state_jobs[r].key for r in side}), (pj.key,), res), pj.key)
        for sid, j in state_jobs.items():
            if sid not in infeasible:
                add(j, pj.key)
        rj = add(make_job(RETRAIN, f"retrain seed {seed}", ids.retrain(seed, pj.key), TrainPayload(spec_json, seed),
                          (pj.key,), res), pj.key)
        # the metrics' preparation jobs (e.g. mia_shadow_auc's shadow models): one per seed, every evaluation
        # depends on it; its key is part of their identities under its kind
        prepared = {p.kind: add(make_job(p.kind, p.label(spec, seed), ids.preparation(pj.key, p.identity(spec)),
                                         PreparePayload(spec_json, seed, options=p.options(spec)), (pj.key,), res),
                                pj.key).key
                    for p in preps}
        def for_row(row: str, model_job: str, method: str | None, hparams: dict[str, Any], reference: str | None,
                    seed: int = seed, pj: Job = pj, oj: Job = oj, rj: Job = rj,
                    prepared: dict[str, str] = prepared) -> dict[str, str]:
            """The seed's preparations and the row's own (per-row preparations: one job per row, kind -> key)."""
            out = dict(prepared)
            target = {"name": row, "model_job": model_job, "original_job": oj.key, "retrain_job": rj.key,
                      "method": method, "hparams": hparams, "reference": reference}
            for p in row_preps:
                if p.after is not None and p.after not in prepared:
                    raise ValueError(f"the per-row preparation {p.kind!r} builds on {p.after!r}, which no enabled "
                                     "metric of the comparison declares")
                after = {p.after: prepared[p.after]} if p.after is not None else {}
                own = {**p.identity(spec), "row": {k: v for k, v in target.items() if k != "name"}, "after": after}
                out[p.kind] = add(make_job(p.kind, f"{p.label(spec, seed)}: {row}", ids.preparation(pj.key, own),
                                           PreparePayload(spec_json, seed, options=p.options(spec), row=target,
                                                          after=after),
                                           (pj.key, model_job, oj.key, rj.key, *after.values()), res), pj.key).key
            return out

        rprep = for_row("retrain", rj.key, None, {}, REFERENCE_RETRAIN)
        rev = add(make_job(EVALUATE, f"evaluate retrain{tag} seed {seed}",
                           ids.in_problem({"model_job": rj.key, "metrics": metrics, "ref": None, **rprep, **on},
                                          pj.key),
                           EvaluatePayload(spec_json, seed, model_job=rj.key, retrain_job=rj.key, retrain_eval=None,
                                           metrics=tuple(metrics), seconds_from=rj.key, prepared=rprep,
                                           split=split, records=records(rj.key, rj.key, True, pj.key, rprep)),
                           (rj.key, pj.key, *rprep.values()), res), pj.key)

        def evaluate(row: str, model_job: str, seconds_from: str | None, method: str | None = None,
                     hparams: dict[str, Any] | None = None, reference: str | None = None, seed: int = seed,
                     pj: Job = pj, rj: Job = rj, rev: Job = rev) -> Job:
            rowp = for_row(row, model_job, method, hparams or {}, reference)
            return add(make_job(EVALUATE, f"evaluate {row}{tag} seed {seed}",
                                ids.in_problem({"model_job": model_job, "metrics": metrics, "ref": rev.key,
                                                **rowp, **on}, pj.key),
                                EvaluatePayload(spec_json, seed, model_job=model_job, retrain_job=rj.key,
                                                retrain_eval=rev.key, metrics=tuple(metrics),
                                                seconds_from=seconds_from, prepared=rowp, split=split,
                                                records=records(model_job, rj.key, False, pj.key, rowp)),
                                (model_job, rev.key, pj.key, *rowp.values()), res), pj.key)

        for name, cfg in cfgs.items():
            method = METHODS.get(name)
            own = method.own_original  # (row key, title) of the method's own model before unlearning
            reason = applicability(method, setting.paradigm)
            if reason is None:
                bad = [infeasible[sid] for sid in method_states.get(name, {}).values() if sid in infeasible]
                reason = bad[0] if bad else None
            if reason is not None:
                if own is not None:
                    rows.append(Row(own[0], seed, None, None, "not_applicable", reason))
                rows.append(Row(name, seed, None, None, "not_applicable", reason))
                continue
            if method.reference == REFERENCE_RETRAIN:
                rows.append(Row(name, seed, rev.key, rj.key, "pending"))
                continue
            if method.reference == REFERENCE_ORIGINAL:
                rows.append(Row(name, seed, evaluate(name, oj.key, None, reference=REFERENCE_ORIGINAL).key, oj.key,
                                "pending"))
                continue
            if method.reference is not None:
                raise ValueError(f"method {name}: reference must be {REFERENCE_ORIGINAL!r}, {REFERENCE_RETRAIN!r} "
                                 f"or None, not {method.reference!r}")
            sjobs = {r: state_jobs[sid].key for r, sid in method_states[name].items()}
            ident = ids.in_problem({"original": oj.key, "method": name, "hparams": config_dict(cfg),
                                    "train_state": sjobs}, pj.key)
            deps = (oj.key, *sjobs.values())
            if own is not None:  # the method's own model before any request (e.g. the SISA ensemble)
                before = UnlearnPayload(spec_json, seed, original=oj.key, method=name, hparams=ident["hparams"],
                                        train_state=sjobs, requests=REQUESTS_NONE)
                bj = add(make_job(UNLEARN, f"{name} before unlearning seed {seed}",
                                  {**ident, "requests": REQUESTS_NONE}, before, deps, res), pj.key)
                rows.append(Row(own[0], seed, evaluate(own[0], bj.key, None, name, ident["hparams"],
                                                       REFERENCE_BEFORE).key, bj.key, "pending"))
            uj = add(make_job(UNLEARN, f"{name} seed {seed}", ident,
                              UnlearnPayload(spec_json, seed, original=oj.key, method=name, hparams=ident["hparams"],
                                             train_state=sjobs), deps, res), pj.key)
            rows.append(Row(name, seed, evaluate(name, uj.key, uj.key, name, ident["hparams"]).key, uj.key,
                            "pending"))
    return Graph(tuple(jobs), tuple(rows), all_states, problem_of)


def infeasible_states(spec: ComparisonSpec, setting: Setting, cfgs: Mapping[str, object], n_train: int,
                      input_shape: tuple[int, int, int], num_classes: int) -> dict[str, str]:
    """State id -> why the training-time state cannot be afforded for this training set and model (its storage,
    e.g. per-step updates), for the states the selected methods need."""
    states, _ = state_needs(cfgs, setting.paradigm)
    if not states:
        return {}
    n_params = sum(p.numel() for p in build_model(spec.model, input_shape, num_classes, seed=0).parameters())
    steps = setting.train_cfg.epochs * -(-n_train // setting.train_cfg.batch_size)
    out = {}
    for sid, (r, opts) in states.items():
        reason = RECORDERS.get(r).feasible(n_train, n_params, steps, opts)
        if reason:
            out[sid] = reason
    return out


def check_spec(spec: ComparisonSpec) -> tuple[Setting, dict[str, object]]:
    """Every check of ``spec`` that needs no data (names, ranges of every setting and hyper-parameter; raises
    :class:`SpecError` naming the field): what :func:`make_plan` checks before it loads the dataset."""
    if not spec.methods:
        raise SpecError("methods", "select at least one method")
    return resolve(spec), method_configs(spec)


class Planner:
    """:func:`make_plan` for many specs of one setting (the tuner's trials): the dataset, each seed's problem
    (validating its forget set) and the split sizes are read once; :meth:`plan` validates a spec's methods and
    builds its graph. Every spec given must have ``setting``'s setting (``ComparisonSpec.setting_key``)."""

    def __init__(self, spec: ComparisonSpec, data_dir: Path, split: str = SPLIT_TEST,
                 metrics: tuple[str, ...] | None = None) -> None:
        self.setting = resolve(spec)
        self.split, self.metrics, self.data_dir = split, metrics, data_dir
        self.data = load_dataset(spec.dataset, data_dir, coarse=spec.coarse, device="cpu")
        self.sizes: dict[int, dict[str, int]] = {}
        self.contents: dict[int, Any] = {}
        self._key = spec.setting_key()

    def _seed(self, seed: int) -> None:
        if seed not in self.contents:  # one problem at a time (each holds its own val / test copies)
            problem = build_problem(self.setting, seed, self.data_dir, data=self.data)  # validates the forget set
            self.sizes[seed], self.contents[seed] = problem.sizes(), problem.content()

    def plan(self, spec: ComparisonSpec) -> Plan:
        """Validate ``spec``'s methods (``SpecError`` naming the field) and build its job graph."""
        if spec.setting_key() != self._key:
            raise ValueError("Planner.plan: the spec's setting differs from the planner's")
        _, cfgs = check_spec(spec)
        data = self.data
        infeasible = infeasible_states(spec, self.setting, cfgs, data.x_train.shape[0], data.input_shape,
                                       data.num_classes)
        for seed in spec.seeds:
            self._seed(seed)
        setting = replace(self.setting, spec=spec)
        graph = build_graph(spec, setting, cfgs, infeasible, ContentIdentities(setting, self.contents), self.split,
                            self.metrics)
        return Plan(spec, setting, graph.jobs, graph.rows, {s: self.sizes[s] for s in spec.seeds})


def make_plan(spec: ComparisonSpec, data_dir: Path, split: str = SPLIT_TEST,
              metrics: tuple[str, ...] | None = None) -> Plan:
    """Validate ``spec`` (raising :class:`SpecError` naming the field) and build its job graph (``split`` /
    ``metrics``: :func:`build_graph`'s, for the tuner)."""
    check_spec(spec)  # every data-free check before the dataset is loaded
    return Planner(spec, data_dir, split, metrics).plan(spec)
