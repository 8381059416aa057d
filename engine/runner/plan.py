"""Expand a :class:`ComparisonSpec` into its job graph and its result rows (validating everything first)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from engine.config import build_config, config_dict
from engine.data import load_dataset
from engine.errors import SpecError
from engine.methods import METHODS
from engine.metrics import METRICS
from engine.models import build_model
from engine.problem import Setting, build_problem, resolve
from engine.runner.jobs import Job, make_job
from engine.runner.views import not_applicable_reason
from engine.spec import ComparisonSpec
from engine.training.recording import RECORDERS

REFERENCE = ("original", "retrain")


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

    @property
    def key(self) -> str:
        return self.spec.comparison_key()


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
    base_spec = replace(spec, methods=(), seeds=(0,), device="auto")
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

    # which training-time state the selected, applicable methods need
    recorders: list[str] = []
    for name in cfgs:
        method = METHODS.get(name)
        if not_applicable_reason(method, setting.paradigm) is None:
            recorders += [r for r in method.needs.train_time_state if r not in recorders]

    n_params = sum(p.numel() for p in build_model(spec.model, data.input_shape, data.num_classes).parameters())
    steps = setting.train_cfg.epochs * -(-data.x_train.shape[0] // setting.train_cfg.batch_size)
    infeasible = {r: RECORDERS.get(r).feasible(data.x_train.shape[0], n_params, steps) for r in recorders}

    for seed in spec.seeds:
        build_problem(setting, seed, data_dir, data=data)  # validates the forget set
        base = {"spec": spec_json, "seed": seed}
        pj = add(make_job("problem", f"problem seed {seed}", setting.problem_payload(seed), base))
        orig_id = {"problem": pj.key, "model": spec.model, "train": train}
        okey = make_job("original", "", orig_id, {}).key
        state_jobs = {r: make_job("train_state", f"{RECORDERS.get(r).title} seed {seed}",
                                  {"original": okey, "recorder": r},
                                  {**base, "original": okey, "recorder": r}, (okey,)) for r in recorders}
        oj = add(make_job("original", f"original seed {seed}", orig_id, {
            **base, "record_during": [r for r in recorders if RECORDERS.get(r).during_training],
            "record_after": [r for r in recorders if not RECORDERS.get(r).during_training],
            "state_jobs": {r: j.key for r, j in state_jobs.items()}}, (pj.key,)))
        for j in state_jobs.values():
            if infeasible[j.payload["recorder"]] is None:
                add(j)
        rj = add(make_job("retrain", f"retrain seed {seed}", {"problem": pj.key, "model": spec.model, "train": train},
                          base, (pj.key,)))
        rev = add(make_job("evaluate", f"evaluate retrain seed {seed}",
                           {"model_job": rj.key, "metrics": metrics, "ref": None},
                           {**base, "model_job": rj.key, "retrain_job": rj.key, "retrain_eval": None,
                            "seconds_from": rj.key, "metrics": metrics}, (rj.key, pj.key)))
        for name, cfg in cfgs.items():
            method = METHODS.get(name)
            # retrain is the engine's own reference, trained with the training-time supervision
            reason = None if name == "retrain" else not_applicable_reason(method, setting.paradigm)
            if reason is None:
                bad = [infeasible[r] for r in method.needs.train_time_state if infeasible.get(r)]
                reason = bad[0] if bad else None
            if reason is not None:
                rows.append(Row(name, seed, None, None, "not_applicable", reason))
                continue
            if name == "retrain":
                rows.append(Row(name, seed, rev.key, rj.key, "pending"))
                continue
            if name == "original":
                model_job, deps, seconds = oj.key, (oj.key,), {"seconds": None}
            else:
                uj = add(make_job("unlearn", f"{name} seed {seed}",
                                  {"original": oj.key, "method": name, "hparams": config_dict(cfg),
                                   "train_state": {r: state_jobs[r].key for r in method.needs.train_time_state}},
                                  {**base, "original": oj.key, "method": name, "hparams": config_dict(cfg),
                                   "train_state": {r: state_jobs[r].key for r in method.needs.train_time_state}},
                                  (oj.key, *[state_jobs[r].key for r in method.needs.train_time_state])))
                model_job, deps, seconds = uj.key, (uj.key,), {"seconds_from": uj.key}
            ev = add(make_job("evaluate", f"evaluate {name} seed {seed}",
                              {"model_job": model_job, "metrics": metrics, "ref": rev.key},
                              {**base, "model_job": model_job, "retrain_job": rj.key, "retrain_eval": rev.key,
                               "metrics": metrics, **seconds}, (*deps, rev.key, pj.key)))
            rows.append(Row(name, seed, ev.key, model_job, "pending"))
    return Plan(spec, setting, tuple(jobs), tuple(rows))

