"""Jobs: content-keyed units of work (problem -> original -> retrain -> unlearn -> evaluate), DESIGN.md data flow.

A :class:`Job` is plain data (JSON payload + dependency keys) so that any executor -- in-process or a Ray
worker -- can run it with :func:`execute`. Every job reads its inputs from the store and writes its
result there in one transaction at the very end; a cancelled or failed job writes nothing.
"""

from __future__ import annotations

import copy
import io
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.config import build_config
from engine.data import ImageData, load_dataset
from engine.errors import NotApplicable, RunFailed
from engine.methods import METHODS, UnlearnContext
from engine.metrics import EvalInputs, ShadowAttack, attach_model_features, evaluate_all, mia_shadow
from engine.models import build_model
from engine.problem import Problem, Setting, build_problem, resolve
from engine.rng import derive_seed, fix_threads, seed_dropout
from engine.runner.views import make_view
from engine.spec import ComparisonSpec, stable_hash
from engine.store import Store, arrays_from_bytes, arrays_to_bytes, state_from_bytes, state_to_bytes
from engine.training import fit, predict_logits
from engine.training.ensemble import EnsembleModel, build_ensemble
from engine.training.loop import TrainingContext
from engine.training.recording import RECORDERS
from engine.training.shadow import can_batch, shadow_seeds, train_shadow_models


class Cancelled(Exception):
    """The user cancelled the comparison; the running job stops and writes nothing."""


@dataclass(frozen=True)
class Job:
    """One unit of work. ``key`` = kind + hash of ``payload`` (which already names its dependencies' keys)."""

    key: str
    kind: str  # problem | original | train_state | retrain | shadow | unlearn | evaluate
    label: str
    payload: dict[str, Any]
    deps: tuple[str, ...] = ()


def make_job(kind: str, label: str, identity: dict[str, Any], payload: dict[str, Any],
             deps: tuple[str, ...] = ()) -> Job:
    """A job keyed by its kind and the canonical ``identity`` (what determines its result).

    ``payload`` carries what the job needs to run (the setting, the seed, dependency keys, what to
    record on the side); it must be a function of ``identity`` plus execution options.
    """
    return Job(f"{kind}-{stable_hash(identity)}", kind, label, payload, deps)


@dataclass
class JobEnv:
    """What an executor hands a job: store, data directory, device, cancellation and progress."""

    store: Store
    data_dir: Path
    device: torch.device
    cancel: threading.Event = field(default_factory=threading.Event)
    on_progress: Callable[[str, dict[str, Any]], None] | None = None
    _data: dict[tuple[str, bool], ImageData] = field(default_factory=dict)

    def dataset(self, name: str, coarse: bool) -> ImageData:
        """The dataset on the device, loaded once per environment."""
        if (name, coarse) not in self._data:
            self._data[(name, coarse)] = load_dataset(name, self.data_dir, coarse=coarse, device=self.device)
        return self._data[(name, coarse)]

    def progress(self, job: Job, state: str, done: int = 0, total: int = 0, message: str = "",
                 started: float | None = None) -> None:
        """Publish a progress event (store + callback); raises :class:`Cancelled` when cancelled."""
        event = {"job": job.key, "kind": job.kind, "label": job.label, "state": state, "done": done,
                 "total": total, "message": message,
                 "elapsed": 0.0 if started is None else time.perf_counter() - started}
        self.store.set_progress(job.key, event)
        if self.on_progress is not None:
            self.on_progress(job.key, event)
        if state == "running" and self.cancel.is_set():
            raise Cancelled(job.label)


# ----------------------------------------------------------------------------------------------------------------
def _setting(job: Job) -> Setting:
    return resolve(ComparisonSpec.from_json(job.payload["spec"]))


def _problem(job: Job, env: JobEnv, setting: Setting) -> Problem:
    """Rebuild the seed's problem and check it against the stored one (same forget set)."""
    seed = int(job.payload["seed"])
    data = env.dataset(setting.spec.dataset, setting.spec.coarse)
    problem = build_problem(setting, seed, env.data_dir, data=data)
    stored = arrays_from_bytes(env.store.blob(setting.problem_key(seed), "problem.npz"))
    if not np.array_equal(stored["forget_idx"], problem.forget_idx.cpu().numpy()):
        raise RunFailed("the stored forget set differs from the one rebuilt from the spec")
    if "test_idx" in stored and not np.array_equal(stored["test_idx"], problem.test_idx.cpu().numpy()):
        raise RunFailed("the stored test split differs from the one rebuilt from the spec")
    return problem


def _load_model(env: JobEnv, key: str, setting: Setting, problem: Problem) -> torch.nn.Module:
    """The model job ``key`` stored: one zoo model, or an ensemble of them when its meta describes one."""
    def make() -> torch.nn.Module:
        return build_model(setting.spec.model, problem.data.input_shape, problem.data.num_classes, seed=0)

    res = env.store.result(key)
    shape = None if res is None else res.meta.get("ensemble")
    model = (make() if shape is None else build_ensemble(shape, make)).to(env.device)
    model.load_state_dict(state_from_bytes(env.store.blob(key, "state.pt"), env.device))
    return model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_problem(job: Job, env: JobEnv) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Materialise the seed's supervision and forget set (stored for the dashboard and as a consistency check)."""
    setting = _setting(job)
    seed = int(job.payload["seed"])
    data = env.dataset(setting.spec.dataset, setting.spec.coarse)
    p = build_problem(setting, seed, env.data_dir, data=data)
    arrays = {
        "forget_idx": p.forget_idx.cpu().numpy(), "retain_idx": p.retain_idx.cpu().numpy(),
        "request_sizes": np.array([r.numel() for r in p.requests]),
        "requests": torch.cat(p.requests).cpu().numpy(),
        "observed_labels": p.supervision.labels.cpu().numpy(),
        "candidates": p.supervision.candidates.cpu().numpy(),
        "labelled": p.supervision.labelled.cpu().numpy(),
        "val_idx": p.val_idx.cpu().numpy(), "test_idx": p.test_idx.cpu().numpy(),
    }
    if p.test_forget_mask is not None:
        arrays["test_forget_mask"] = p.test_forget_mask.cpu().numpy()
    meta = {**p.sizes(), "forget_classes": list(p.forget_classes),
            "touched_classes": list(p.touched_classes), "n_requests": len(p.requests)}
    return meta, {"problem.npz": arrays_to_bytes(arrays)}


def _train(job: Job, env: JobEnv, retain_only: bool) -> tuple[dict[str, Any], dict[str, bytes], dict[str, Any]]:
    setting = _setting(job)
    problem = _problem(job, env, setting)
    seed = int(job.payload["seed"])
    idx = problem.retain_idx if retain_only else torch.arange(problem.data.x_train.shape[0], device=env.device)
    model = build_model(setting.spec.model, problem.data.input_shape, problem.data.num_classes,
                        seed=seed).to(env.device)
    recorders = {k: RECORDERS.get(k).make() for k in job.payload.get("record_during", [])}
    started = time.perf_counter()
    env.progress(job, "running", 0, setting.train_cfg.epochs, "training", started)
    result = fit(model, problem.data.x_train[idx], problem.supervision.take(idx), problem.loss,
                 setting.train_cfg, seed,
                 lambda d, t, m: env.progress(job, "running", d, t, m, started), hooks=list(recorders.values()))
    extra: dict[str, Any] = {}
    for k in job.payload.get("record_after", []):
        recorders[k] = RECORDERS.get(k).make()
    for k, rec in recorders.items():
        extra[k] = rec.finish(model, problem.data.x_train)
    meta = {"seconds": result.seconds, "steps": result.steps, "final_loss": result.final_loss,
            "n_train": int(idx.numel())}
    return meta, {"state.pt": state_to_bytes(model.state_dict())}, extra


def run_original(job: Job, env: JobEnv) -> tuple[dict[str, Any], dict[str, bytes], dict[str, Any]]:
    """Train the original model on the full training set (recording selected training-time state)."""
    return _train(job, env, retain_only=False)


def run_retrain(job: Job, env: JobEnv) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Train the gold reference from scratch on the retain set (same config and seed as the original)."""
    meta, blobs, _ = _train(job, env, retain_only=True)
    return meta, blobs


def run_train_state(job: Job, env: JobEnv) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Record one kind of training-time state for an existing original model.

    Post-hoc state is computed from the stored weights; state that needs the training loop re-runs the
    (deterministic) original training with the recorder attached and checks the weights came out equal.
    """
    setting = _setting(job)
    rec_key = job.payload["recorder"]
    info = RECORDERS.get(rec_key)
    problem = _problem(job, env, setting)
    started = time.perf_counter()
    env.progress(job, "running", 0, 1, f"recording {info.title}", started)
    if info.separate:  # its own training from the original's initial weights and the run's inputs
        seed = int(job.payload["seed"])
        init = build_model(setting.spec.model, problem.data.input_shape, problem.data.num_classes,
                           seed=seed).to(env.device)  # exactly as _train builds the original
        rec = info.make(**job.payload.get("options", {}))
        rec.begin(init, TrainingContext(problem.data.x_train, problem.supervision, problem.loss,
                                        setting.train_cfg, seed,
                                        lambda d, t, m: env.progress(job, "running", d, t, m, started)))
        state = rec.finish(init, problem.data.x_train)
    elif info.during_training:
        sub = Job(job.key, "original", job.label, {**job.payload, "record_during": [rec_key], "record_after": []})
        _, blobs, extra = _train(sub, env, retain_only=False)
        stored = state_from_bytes(env.store.blob(job.payload["original"], "state.pt"))
        fresh = state_from_bytes(blobs["state.pt"])
        if any(not torch.equal(stored[k], fresh[k]) for k in stored):
            raise RunFailed("re-running the original training to record its updates did not reproduce the "
                            "stored weights (non-deterministic device); clear the cache and run again")
        state = extra[rec_key]
    else:
        model = _load_model(env, job.payload["original"], setting, problem)
        state = info.make().finish(model, problem.data.x_train)
    buf = io.BytesIO()
    torch.save(state, buf)
    return {"recorder": rec_key, "seconds": time.perf_counter() - started}, {"state.pt": buf.getvalue()}


def run_unlearn(job: Job, env: JobEnv) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Apply one method to a copy of the original (once per forget request) and time it."""
    setting = _setting(job)
    problem = _problem(job, env, setting)
    method = METHODS.get(job.payload["method"], "methods")
    cfg = build_config(method.config, job.payload["hparams"], f"methods.{method.key}")
    original = _load_model(env, job.payload["original"], setting, problem)
    train_state: dict[str, Any] = {}
    for rec_key, state_job in job.payload.get("train_state", {}).items():
        train_state[rec_key] = state_from_bytes(env.store.blob(state_job, "state.pt"), env.device)
    model = copy.deepcopy(original)
    seed_dropout(model, derive_seed("unlearn", int(job.payload["seed"]), method.key))  # masks from this job alone
    started = time.perf_counter()
    ctx = UnlearnContext(seed=int(job.payload["seed"]), device=env.device, train_cfg=setting.train_cfg,
                         model_key=setting.spec.model, input_shape=problem.data.input_shape,
                         progress=lambda d, t, m: env.progress(job, "running", d, t, m, started))
    env.progress(job, "running", 0, 0, "starting", started)
    seconds = 0.0
    if job.payload.get("requests") == "none":  # the method's model before unlearning: asked to forget nothing
        n = problem.data.x_train.shape[0]
        steps = [(torch.zeros(0, dtype=torch.int64, device=env.device), torch.arange(n, device=env.device))]
    else:
        steps = [problem.step(i) for i in range(len(problem.requests))]
    for i, (forget_idx, retain_idx) in enumerate(steps):
        ctx.request = i
        data = make_view(method, problem, forget_idx, retain_idx, train_state, setting)
        _sync(env.device)
        t0 = time.perf_counter()
        model = method.unlearn(model, data, cfg, ctx)
        _sync(env.device)
        seconds += time.perf_counter() - t0
    for p in model.parameters():
        if not torch.isfinite(p).all():
            raise RunFailed(f"{method.key} produced non-finite weights")
    meta: dict[str, Any] = {"seconds": seconds}
    if isinstance(model, EnsembleModel):  # rebuilt from this by _load_model
        meta["ensemble"] = model.describe()
    return meta, {"state.pt": state_to_bytes(model.state_dict())}


def run_shadow(job: Job, env: JobEnv) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Train the seed's shadow originals and retrains and fit PGU's XGBoost attacker (``mia_shadow_auc``).

    See :mod:`engine.metrics.mia_shadow`. Stores ``attacker.json`` (XGBoost JSON) and ``shadow.npz`` (the
    forget subset and the held-out ROC). A shadow training that diverges is recorded as the metric's
    not-applicable reason instead of failing every evaluation of the comparison.
    """
    setting = _setting(job)
    problem = _problem(job, env, setting)
    seed = int(job.payload["seed"])
    n_pairs = int(job.payload["shadow_models"])
    data = problem.data
    seeds = shadow_seeds(seed, n_pairs)
    started = time.perf_counter()
    total = 2 * n_pairs * setting.train_cfg.epochs  # model-epochs
    env.progress(job, "running", 0, total, "training shadow models", started)
    y_train = data.y_train.cpu().numpy()
    subset = mia_shadow.forget_subset(problem.forget_idx.cpu().numpy(), y_train, seed)
    sub_t = torch.as_tensor(subset, device=env.device)
    retain = problem.retain_idx
    outputs: dict[str, list[np.ndarray]] = {}
    accs: dict[str, float] = {}
    batched = False
    try:
        for i, (name, x, sup) in enumerate((("original", data.x_train, problem.supervision),
                                            ("retrain", data.x_train[retain], problem.supervision.take(retain)))):
            models = train_shadow_models(
                setting.spec.model, data.input_shape, data.num_classes, x, sup, problem.loss,
                setting.train_cfg, seeds,
                lambda d, t, m, i=i, name=name: env.progress(job, "running", i * t + d, total,
                                                             f"shadow {name}s, {m}", started))
            batched = can_batch(models[0])
            outputs[name] = [predict_logits(m, data.x_train[sub_t]).cpu().numpy() for m in models]
            accs[name] = float(np.mean([(predict_logits(m, data.x_test).argmax(1) == data.y_test).float().mean().item()
                                        for m in models]))
    except RunFailed as e:
        return ({"seconds": time.perf_counter() - started, "n_pairs": n_pairs, "reason": str(e)},
                {"shadow.npz": arrays_to_bytes({"forget_subset": subset})})
    env.progress(job, "running", total, total, "fitting the attacker", started)
    fitted = mia_shadow.fit_shadow_attack(outputs["original"], outputs["retrain"], y_train[subset], seed)
    n_tr, n_val, n_te = mia_shadow.split_pairs(n_pairs)
    meta = {"seconds": time.perf_counter() - started, "n_pairs": n_pairs, "split": [n_tr, n_val, n_te],
            "batched": batched, "seeds": seeds, "n_forget_subset": int(len(subset)),
            "train_auc": fitted.train_auc, "val_auc": fitted.val_auc, "test_auc": fitted.test_auc,
            "test_pr_auc": fitted.test_pr_auc, "shadow_original_test_acc": accs["original"],
            "shadow_retrain_test_acc": accs["retrain"]}
    arrays = {"forget_subset": subset, "test_fpr": fitted.test_fpr, "test_tpr": fitted.test_tpr}
    return meta, {"attacker.json": fitted.attacker_json, "shadow.npz": arrays_to_bytes(arrays)}


def _shadow_attack(env: JobEnv, key: str | None) -> ShadowAttack | None:
    """The shadow job's attacker for the evaluate job (``None`` when the comparison has no shadow models)."""
    if not key:
        return None
    res = env.store.result(key)
    arrays = arrays_from_bytes(env.store.blob(key, "shadow.npz"))
    empty = np.zeros(0)
    if res is not None and res.meta.get("reason"):
        return ShadowAttack(b"", arrays["forget_subset"], empty, empty, float("nan"),
                            reason=f"the shadow models could not be trained: {res.meta['reason']}")
    return ShadowAttack(env.store.blob(key, "attacker.json"), arrays["forget_subset"], arrays["test_fpr"],
                        arrays["test_tpr"], float("nan") if res is None else float(res.meta["test_auc"]))


def run_evaluate(job: Job, env: JobEnv) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Evaluate one model (original, retrain or a method's output) with every metric, against retrain."""
    setting = _setting(job)
    problem = _problem(job, env, setting)
    started = time.perf_counter()
    env.progress(job, "running", 0, 1, "evaluating", started)
    model = _load_model(env, job.payload["model_job"], setting, problem)
    logits_train = predict_logits(model, problem.data.x_train).cpu().numpy()
    logits_test = predict_logits(model, problem.data.x_test).cpu().numpy()
    if not (np.isfinite(logits_train).all() and np.isfinite(logits_test).all()):
        raise RunFailed("the model's outputs are not finite (the method diverged)")
    retrain_values = None
    if job.payload.get("retrain_eval"):
        ref = arrays_from_bytes(env.store.blob(job.payload["retrain_eval"], "outputs.npz"))
        r_train, r_test = ref["logits_train"], ref["logits_test"]
        ref_meta = env.store.result(job.payload["retrain_eval"])
        retrain_values = None if ref_meta is None else ref_meta.meta["metrics"]
    else:  # this *is* the retrain reference
        r_train, r_test = logits_train, logits_test
    retrain_meta = env.store.result(job.payload["retrain_job"])
    seconds = job.payload.get("seconds")
    if job.payload.get("seconds_from"):
        res = env.store.result(job.payload["seconds_from"])
        seconds = None if res is None else res.meta["seconds"]
    inp = EvalInputs(
        logits_train=logits_train, logits_test=logits_test,
        y_train=problem.data.y_train.cpu().numpy(), y_test=problem.data.y_test.cpu().numpy(),
        forget_idx=problem.forget_idx.cpu().numpy(), retain_idx=problem.retain_idx.cpu().numpy(),
        test_forget_mask=None if problem.test_forget_mask is None else problem.test_forget_mask.cpu().numpy(),
        forget_classes=problem.forget_classes, touched_classes=problem.touched_classes, seed=problem.seed,
        unlearn_seconds=seconds, retrain_seconds=None if retrain_meta is None else retrain_meta.meta["seconds"],
        retrain_logits_train=r_train, retrain_logits_test=r_test, retrain_values=retrain_values,
        shadow=_shadow_attack(env, job.payload.get("shadow_job")),
        y_train_observed=(problem.supervision.labels.cpu().numpy() if setting.spec.paradigm == "noisy_label"
                          else None),
    )
    # white-box metrics (mia_whitebox): features from the model itself, for the samples they select
    inp = attach_model_features(inp, model, problem.data.x_train, problem.data.x_test, job.payload.get("metrics"))
    values = evaluate_all(inp, job.payload.get("metrics"))
    metrics = {k: v.value for k, v in values.items()}
    reasons = {k: v.reason for k, v in values.items() if v.value is None}
    per_sample = {k: v.per_sample for k, v in values.items() if v.per_sample is not None}
    for k, v in values.items():  # charts' further arrays (ROC curves, ...), as "<metric>.<name>"
        per_sample.update({f"{k}.{name}": np.asarray(a) for name, a in v.arrays.items()})
    outputs = {"logits_train": logits_train.astype(np.float32), "logits_test": logits_test.astype(np.float32)}
    for k, v in metrics.items():
        if v is not None and not np.isfinite(v):
            raise RunFailed(f"metric {k} is {v}")
    return ({"metrics": metrics, "reasons": reasons},
            {"outputs.npz": arrays_to_bytes(outputs), "per_sample.npz": arrays_to_bytes(per_sample)})


RUNNERS: dict[str, Callable[[Job, JobEnv], Any]] = {
    "problem": run_problem, "original": run_original, "retrain": run_retrain, "train_state": run_train_state,
    "shadow": run_shadow, "unlearn": run_unlearn, "evaluate": run_evaluate,
}


WAIT_ENV = "UNLEARN_WAIT_TIMEOUT"
DEFAULT_WAIT = 6 * 3600.0  # seconds a job waits for another live process computing the same key
WAIT_NOTE_EVERY = 30.0  # seconds between "waiting for ..." progress events


def wait_limit() -> float:
    """Seconds to wait for another process's claim: ``$UNLEARN_WAIT_TIMEOUT`` (default 6 h)."""
    raw = os.environ.get(WAIT_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_WAIT
    except ValueError:
        return DEFAULT_WAIT
    return value if value >= 0 and value == value else DEFAULT_WAIT


def execute(job: Job, env: JobEnv, poll: float = 0.2) -> str:
    """Run ``job`` unless its result exists; returns ``"cached"``, ``"done"``; raises on failure.

    CPU jobs run with the fixed intra-op thread count (:func:`engine.rng.fix_threads`); the stored meta's ``run``
    records device, threads, torch version, wall seconds, process CPU seconds and this thread's CPU seconds.

    Only one process computes a key at a time: others wait for its result (or take over a dead
    process's claim). Results are written in one transaction at the end, so an interruption at any
    point leaves no partial result.
    """
    store = env.store
    waited_since: float | None = None
    last_note = 0.0
    limit = wait_limit()
    while True:
        if store.has(job.key):
            env.progress(job, "cached")
            return "cached"
        if store.claim(job.key):
            break
        if env.cancel.is_set():
            raise Cancelled(job.label)
        now = time.time()
        waited_since = now if waited_since is None else waited_since
        owner = store.claim_info(job.key) or {}
        who = (f"process {owner.get('pid', '?')} on {owner.get('host', '?')} (claimed "
               f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(owner.get('since', now))))})")
        if now - waited_since > limit:
            raise RunFailed(f"gave up after {limit:g} s waiting for {who} to finish {job.label}; if that process is "
                            f"gone, run again (a dead process's claim on this host is broken automatically) or raise "
                            f"${WAIT_ENV}")
        if now - last_note >= WAIT_NOTE_EVERY:  # say what we wait for, not on every poll
            env.progress(job, "waiting", message=f"waiting for {who} to finish it "
                                                  f"(gives up after {limit:g} s; ${WAIT_ENV})")
            last_note = now
        time.sleep(poll)
    try:
        if store.has(job.key):  # finished between our check and our claim
            env.progress(job, "cached")
            return "cached"
        threads = fix_threads(env.device)
        wall0, cpu0, tcpu0 = time.perf_counter(), time.process_time(), time.thread_time()
        out = RUNNERS[job.kind](job, env)
        run_info = {"device": str(env.device), "threads": threads, "torch": torch.__version__,
                    "wall_seconds": time.perf_counter() - wall0, "cpu_seconds": time.process_time() - cpu0,
                    "thread_cpu_seconds": time.thread_time() - tcpu0}
        if job.kind == "original":
            meta, blobs, extra = out
            for rec_key, state in extra.items():
                buf = io.BytesIO()
                torch.save(state, buf)
                sk = job.payload["state_jobs"][rec_key]
                store.put(sk, {"recorder": rec_key, "seconds": 0.0, "run": run_info}, {"state.pt": buf.getvalue()})
        else:
            meta, blobs = out
        store.put(job.key, {**meta, "kind": job.kind, "label": job.label, "run": run_info}, blobs)
        env.progress(job, "done", message=f"{meta.get('seconds', 0.0):.2f}s" if "seconds" in meta else "")
        return "done"
    except Cancelled:
        env.progress(job, "cancelled")
        raise
    except NotApplicable as e:
        env.progress(job, "not_applicable", message=e.reason)
        raise
    except Exception as e:
        env.store.set_progress(job.key, {"job": job.key, "kind": job.kind, "label": job.label, "state": "failed",
                                         "message": f"{type(e).__name__}: {e}"})
        raise
    finally:
        store.release(job.key)
