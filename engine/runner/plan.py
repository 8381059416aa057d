"""Expand a :class:`ComparisonSpec` into its job graph and its result rows (validating everything first)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.config import build_config, config_dict
from engine.data import load_dataset
from engine.errors import SpecError
from engine.methods import METHODS
from engine.metrics import METRICS, mia_shadow
from engine.models import build_model
from engine.problem import Setting, build_problem, resolve
from engine.runner.jobs import Job, make_job
from engine.runner.views import not_applicable_reason
from engine.spec import ComparisonSpec
from engine.training.recording import RECORDERS

REFERENCE = ("original", "retrain")
# Methods whose model before unlearning is their own (trained by their training-time state), not the engine's
# original: the plan adds a row evaluating it, keyed as below (not a registered method) -> its display title.
BEFORE_UNLEARNING = {"sisa": "sisa_original"}
BEFORE_TITLES = {"sisa_original": "Original (SISA ensemble)"}
# what a shadow job's result depends on besides the setting (part of its key: changing one retrains)
SHADOW_RECIPE = {"per_class": mia_shadow.PER_CLASS_CAP, "split": list(mia_shadow.SPLIT), "xgb": mia_shadow.XGB_PARAMS}


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


def _method_configs(spec: ComparisonSpec) -> dict[str, object]:
    out = {}
    for m in spec.methods:
        method = METHODS.get(m.name, "methods")
        out[m.name] = build_config(method.config, m.hparam_dict(), f"methods.{m.name}")
    return out


def make_plan(spec: ComparisonSpec, data_dir: Path) -> Plan:
    """Validate ``spec`` (raising :class:`SpecError` naming the field) and build its job graph."""
    if not spec.methods:
        raise SpecError("methods", "select at least one method")
    setting = resolve(spec)
    cfgs = _method_configs(spec)
    data = load_dataset(spec.dataset, data_dir, coarse=spec.coarse, device="cpu")
    # shadow_models only adds the shadow jobs: problem / original / retrain / unlearn stay shared with the
    # same comparison without them
    base_spec = replace(spec, methods=(), seeds=(0,), device="auto", shadow_models=0)
    spec_json = base_spec.to_json()
    train = config_dict(setting.train_cfg)
    metrics = METRICS.keys()
    jobs: list[Job] = []
    rows: list[Row] = []
    seen: set[str] = set()

    def add(job: Job) -> Job:
        if job.key not in seen:
            seen.add(job.key)
            jobs.append(job)
        return job

    # which training-time state the selected, applicable methods need: state id -> (recorder, options)
    states: dict[str, tuple[str, dict[str, Any]]] = {}
    method_states: dict[str, dict[str, str]] = {}  # method -> {recorder: state id}
    for name, cfg in cfgs.items():
        method = METHODS.get(name)
        if not_applicable_reason(method, setting.paradigm) is None:
            ids = {}
            for r in method.needs.train_time_state:
                opts = RECORDERS.get(r).options_of(cfg)
                ids[r] = r if not opts else f"{r}{json.dumps(opts, sort_keys=True)}"
                states.setdefault(ids[r], (r, opts))
            method_states[name] = ids
    # recorded on the side of the original's training (or after it); separate ones run in their own job
    side = [sid for sid, (r, _) in states.items() if not RECORDERS.get(r).separate]

    n_params = sum(p.numel() for p in build_model(spec.model, data.input_shape, data.num_classes, seed=0).parameters())
    steps = setting.train_cfg.epochs * -(-data.x_train.shape[0] // setting.train_cfg.batch_size)
    infeasible = {sid: RECORDERS.get(r).feasible(data.x_train.shape[0], n_params, steps, opts)
                  for sid, (r, opts) in states.items()}

    sizes: dict[int, dict[str, int]] = {}
    for seed in spec.seeds:
        sizes[seed] = build_problem(setting, seed, data_dir, data=data).sizes()  # validates the forget set
        base = {"spec": spec_json, "seed": seed}
        pj = add(make_job("problem", f"problem seed {seed}", setting.problem_payload(seed), base))
        orig_id = {"problem": pj.key, "model": spec.model, "train": train}
        okey = make_job("original", "", orig_id, {}).key
        state_jobs: dict[str, Job] = {}
        for sid, (r, opts) in states.items():
            info = RECORDERS.get(r)
            ident = {"original": okey, "recorder": r, **({"options": opts} if opts else {})}
            state_jobs[sid] = make_job("train_state", f"{info.title} seed {seed}", ident,
                                       {**base, "original": okey, "recorder": r, "options": opts},
                                       (pj.key,) if info.separate else (okey,))
        oj = add(make_job("original", f"original seed {seed}", orig_id, {
            **base, "record_during": [r for r in side if RECORDERS.get(r).during_training],
            "record_after": [r for r in side if not RECORDERS.get(r).during_training],
            "state_jobs": {r: state_jobs[r].key for r in side}}, (pj.key,)))
        for sid, j in state_jobs.items():
            if infeasible[sid] is None:
                add(j)
        rj = add(make_job("retrain", f"retrain seed {seed}", {"problem": pj.key, "model": spec.model, "train": train},
                          base, (pj.key,)))
        # PGU's shadow-model attack (mia_shadow_auc): opt-in, one job per seed; the evaluations depend on it
        shadow: dict[str, Any] = {}
        shadow_deps: tuple[str, ...] = ()
        if spec.shadow_models > 0:
            sj = add(make_job("shadow", f"{spec.shadow_models} shadow model pairs seed {seed}",
                              {"problem": pj.key, "model": spec.model, "train": train,
                               "shadow_models": spec.shadow_models, "recipe": SHADOW_RECIPE},
                              {**base, "shadow_models": spec.shadow_models}, (pj.key,)))
            shadow, shadow_deps = {"shadow": sj.key}, (sj.key,)
        rev = add(make_job("evaluate", f"evaluate retrain seed {seed}",
                           {"model_job": rj.key, "metrics": metrics, "ref": None, **shadow},
                           {**base, "model_job": rj.key, "retrain_job": rj.key, "retrain_eval": None,
                            "seconds_from": rj.key, "metrics": metrics, "shadow_job": shadow.get("shadow")},
                           (rj.key, pj.key, *shadow_deps)))

        def evaluate(name: str, model_job: str, deps: tuple[str, ...], seconds: dict[str, Any],
                     seed: int = seed, base: dict[str, Any] = base, rev: Job = rev, rj: Job = rj,
                     pj: Job = pj, shadow: dict[str, Any] = shadow, shadow_deps: tuple[str, ...] = shadow_deps) -> Job:
            return add(make_job("evaluate", f"evaluate {name} seed {seed}",
                                {"model_job": model_job, "metrics": metrics, "ref": rev.key, **shadow},
                                {**base, "model_job": model_job, "retrain_job": rj.key, "retrain_eval": rev.key,
                                 "metrics": metrics, "shadow_job": shadow.get("shadow"), **seconds},
                                (*deps, rev.key, pj.key, *shadow_deps)))

        for name, cfg in cfgs.items():
            method = METHODS.get(name)
            before = BEFORE_UNLEARNING.get(name)
            # retrain is the engine's own reference, trained with the training-time supervision
            reason = None if name == "retrain" else not_applicable_reason(method, setting.paradigm)
            if reason is None:
                bad = [infeasible[sid] for sid in method_states.get(name, {}).values() if infeasible[sid]]
                reason = bad[0] if bad else None
            if reason is not None:
                if before is not None:
                    rows.append(Row(before, seed, None, None, "not_applicable", reason))
                rows.append(Row(name, seed, None, None, "not_applicable", reason))
                continue
            if name == "retrain":
                rows.append(Row(name, seed, rev.key, rj.key, "pending"))
                continue
            if name == "original":
                ev = evaluate(name, oj.key, (oj.key,), {"seconds": None})
                rows.append(Row(name, seed, ev.key, oj.key, "pending"))
                continue
            sjobs = {r: state_jobs[sid].key for r, sid in method_states[name].items()}
            ident = {"original": oj.key, "method": name, "hparams": config_dict(cfg), "train_state": sjobs}
            deps = (oj.key, *sjobs.values())
            if before is not None:  # the method's own model before any request (e.g. the SISA ensemble)
                bj = add(make_job("unlearn", f"{name} before unlearning seed {seed}", {**ident, "requests": "none"},
                                  {**base, **ident, "requests": "none"}, deps))
                ev = evaluate(before, bj.key, (bj.key,), {"seconds": None})
                rows.append(Row(before, seed, ev.key, bj.key, "pending"))
            uj = add(make_job("unlearn", f"{name} seed {seed}", ident, {**base, **ident}, deps))
            ev = evaluate(name, uj.key, (uj.key,), {"seconds_from": uj.key})
            rows.append(Row(name, seed, ev.key, uj.key, "pending"))
    return Plan(spec, setting, tuple(jobs), tuple(rows), sizes)

