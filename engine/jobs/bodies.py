"""Job bodies: what each kind of job computes, from its payload and the store, as a :class:`JobResult`.

problem -> original (+ training-time state on the side) / train_state -> retrain -> unlearn -> evaluate, plus the
metrics' preparation jobs (:class:`engine.metrics.base.Preparation`), run by :func:`run_preparation`. A body reads
its inputs from the store and returns its result; :func:`engine.jobs.execution.execute` writes it (one transaction
per job at the very end: a cancelled or failed body writes nothing). No body knows a method's or a metric's name.
"""

from __future__ import annotations

import copy
import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.config import build_config
from engine.errors import RunFailed
from engine.jobs.method_inputs import make_view
from engine.jobs.model import (
    CORE_KINDS,
    EVALUATE,
    METRIC_BLOB,
    ORIGINAL,
    OUTPUTS_BLOB,
    PER_SAMPLE_BLOB,
    PROBLEM,
    PROBLEM_BLOB,
    REQUESTS_NONE,
    RETRAIN,
    SPLIT_VAL,
    SPLITS,
    STATE_BLOB,
    TRAIN_STATE,
    UNLEARN,
    EvaluateMeta,
    EvaluatePayload,
    Job,
    JobResult,
    MetricRecordMeta,
    Payload,
    PreparePayload,
    ProblemMeta,
    TrainMeta,
    TrainPayload,
    TrainStateMeta,
    TrainStatePayload,
    UnlearnMeta,
    UnlearnPayload,
)
from engine.methods import METHODS, UnlearnContext
from engine.metrics import (
    EvalInputs,
    MetricValue,
    PrepareContext,
    RowTarget,
    StoredPreparation,
    attach_model_features,
    evaluate_all,
)
from engine.metrics import preparation as metric_preparation
from engine.metrics.timing import timed_seconds
from engine.models import build_model
from engine.problem import Problem, Setting, build_problem, resolve
from engine.rng import derive_seed, seed_dropout
from engine.spec import ComparisonSpec
from engine.store import arrays_from_bytes, arrays_to_bytes, state_from_bytes, state_to_bytes
from engine.training import fit, predict_logits
from engine.training.ensemble import EnsembleModel, build_ensemble
from engine.training.loop import TrainingContext
from engine.training.recording import RECORDERS

if TYPE_CHECKING:  # execution imports this module
    from engine.jobs.execution import JobEnv

Body = Callable[[Job, "JobEnv"], JobResult]


# -- inputs every body shares ------------------------------------------------------------------------------------
def setting_of(payload: Payload) -> Setting:
    """The validated setting of a job's spec."""
    return resolve(ComparisonSpec.from_json(payload.spec))


def rebuild_problem(payload: Payload, env: JobEnv, setting: Setting) -> Problem:
    """Rebuild the seed's problem and check it against the stored one (same forget set, same test split)."""
    data = env.dataset(setting.spec.dataset, setting.spec.coarse)
    problem = build_problem(setting, int(payload.seed), env.data_dir, data=data)
    stored = arrays_from_bytes(env.store.blob(setting.problem_key(int(payload.seed)), PROBLEM_BLOB))
    if not np.array_equal(stored["forget_idx"], problem.forget_idx.cpu().numpy()):
        raise RunFailed("the stored forget set differs from the one rebuilt from the spec")
    if "test_idx" in stored and not np.array_equal(stored["test_idx"], problem.test_idx.cpu().numpy()):
        raise RunFailed("the stored test split differs from the one rebuilt from the spec")
    return problem


def load_model(env: JobEnv, key: str, setting: Setting, problem: Problem) -> torch.nn.Module:
    """The model job ``key`` stored: one zoo model, or an ensemble of them when its meta describes one."""
    def make() -> torch.nn.Module:
        return build_model(setting.spec.model, problem.data.input_shape, problem.data.num_classes, seed=0)

    res = env.store.result(key)
    shape = None if res is None else res.meta.get("ensemble")
    model = (make() if shape is None else build_ensemble(shape, make)).to(env.device)
    model.load_state_dict(state_from_bytes(env.store.blob(key, STATE_BLOB), env.device))
    return model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_clock() -> float:
    """CPU seconds so far of this job's computation: this thread's when torch runs one intra-op thread (other threads
    of the process, e.g. another comparison's, are not counted), else the whole process's (its intra-op threads)."""
    return time.thread_time() if torch.get_num_threads() == 1 else time.process_time()


def _saved(state: Any) -> bytes:
    """A training-time state as ``torch.save`` bytes (as recorded: devices kept)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _payload(job: Job, kind: type) -> Any:
    if not isinstance(job.payload, kind):
        raise TypeError(f"job {job.key} ({job.kind}) has a {type(job.payload).__name__} payload, not {kind.__name__}")
    return job.payload


# -- bodies ----------------------------------------------------------------------------------------------------------
def materialise_problem(job: Job, env: JobEnv) -> JobResult:
    """Materialise the seed's supervision and forget set (stored for the dashboard and as a consistency check)."""
    payload = _payload(job, Payload)
    setting = setting_of(payload)
    seed = int(payload.seed)
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
    meta = ProblemMeta(**p.sizes(), forget_classes=list(p.forget_classes), touched_classes=list(p.touched_classes),
                       n_requests=len(p.requests))
    return JobResult(meta, {PROBLEM_BLOB: arrays_to_bytes(arrays)})


def _train(job: Job, env: JobEnv, setting: Setting, problem: Problem, retain_only: bool,
           record_during: tuple[str, ...] = (), record_after: tuple[str, ...] = ()
           ) -> tuple[TrainMeta, dict[str, bytes], dict[str, Any]]:
    """Train the seed's model on the whole training set (or the retain set), recording the given states."""
    seed = int(job.payload.seed)
    idx = problem.retain_idx if retain_only else torch.arange(problem.data.x_train.shape[0], device=env.device)
    model = build_model(setting.spec.model, problem.data.input_shape, problem.data.num_classes,
                        seed=seed).to(env.device)
    recorders = {k: RECORDERS.get(k).make() for k in record_during}
    started = time.perf_counter()
    env.progress(job, "running", 0, setting.train_cfg.epochs, "training", started)
    cpu0 = _cpu_clock()
    result = fit(model, problem.data.x_train[idx], problem.supervision.take(idx), problem.loss,
                 setting.train_cfg, seed,
                 env.reporter(job, started), hooks=list(recorders.values()))
    cpu_seconds = _cpu_clock() - cpu0
    extra: dict[str, Any] = {}
    for k in record_after:
        recorders[k] = RECORDERS.get(k).make()
    for k, rec in recorders.items():
        extra[k] = rec.finish(model, problem.data.x_train)
    meta = TrainMeta(seconds=result.seconds, steps=result.steps, final_loss=result.final_loss,
                     n_train=int(idx.numel()), cpu_seconds=cpu_seconds)
    return meta, {STATE_BLOB: state_to_bytes(model.state_dict())}, extra


def train_original(job: Job, env: JobEnv) -> JobResult:
    """Train the original model on the full training set; the training-time state it records on the side is
    returned as side results for its ``train_state`` jobs."""
    payload: TrainPayload = _payload(job, TrainPayload)
    setting = setting_of(payload)
    problem = rebuild_problem(payload, env, setting)
    meta, blobs, extra = _train(job, env, setting, problem, False, payload.record_during, payload.record_after)
    side = {payload.state_jobs[rec_key]: (TrainStateMeta(recorder=rec_key, seconds=0.0), {STATE_BLOB: _saved(state)})
            for rec_key, state in extra.items()}
    return JobResult(meta, blobs, side)


def train_retrain(job: Job, env: JobEnv) -> JobResult:
    """Train the gold reference from scratch on the retain set (same config and seed as the original)."""
    payload: TrainPayload = _payload(job, TrainPayload)
    setting = setting_of(payload)
    meta, blobs, _ = _train(job, env, setting, rebuild_problem(payload, env, setting), retain_only=True)
    return JobResult(meta, blobs)


def record_train_state(job: Job, env: JobEnv) -> JobResult:
    """Record one kind of training-time state for an existing original model.

    Post-hoc state is computed from the stored weights; state that needs the training loop re-runs the
    (deterministic) original training with the recorder attached and checks the weights came out equal;
    ``separate`` state runs its own training from the original's initial weights and the run's inputs.
    """
    payload: TrainStatePayload = _payload(job, TrainStatePayload)
    setting = setting_of(payload)
    rec_key = payload.recorder
    info = RECORDERS.get(rec_key)
    problem = rebuild_problem(payload, env, setting)
    started = time.perf_counter()
    env.progress(job, "running", 0, 1, f"recording {info.title}", started)
    if info.separate:
        seed = int(payload.seed)
        init = build_model(setting.spec.model, problem.data.input_shape, problem.data.num_classes,
                           seed=seed).to(env.device)  # exactly as _train builds the original
        rec = info.make(**payload.options)
        rec.begin(init, TrainingContext(problem.data.x_train, problem.supervision, problem.loss,
                                        setting.train_cfg, seed,
                                        env.reporter(job, started)))
        state = rec.finish(init, problem.data.x_train)
    elif info.during_training:
        _, blobs, extra = _train(job, env, setting, problem, False, record_during=(rec_key,))
        stored = state_from_bytes(env.store.blob(payload.original, STATE_BLOB))
        fresh = state_from_bytes(blobs[STATE_BLOB])
        if any(not torch.equal(stored[k], fresh[k]) for k in stored):
            raise RunFailed("re-running the original training to record its updates did not reproduce the "
                            "stored weights (non-deterministic device); clear the cache and run again")
        state = extra[rec_key]
    else:
        model = load_model(env, payload.original, setting, problem)
        state = info.make().finish(model, problem.data.x_train)
    return JobResult(TrainStateMeta(recorder=rec_key, seconds=time.perf_counter() - started),
                     {STATE_BLOB: _saved(state)})


def unlearn_with_method(job: Job, env: JobEnv) -> JobResult:
    """Apply one method to a copy of the original (once per forget request, or to none) and time it."""
    payload: UnlearnPayload = _payload(job, UnlearnPayload)
    setting = setting_of(payload)
    problem = rebuild_problem(payload, env, setting)
    method = METHODS.get(payload.method, "methods")
    cfg = build_config(method.config, payload.hparams, f"methods.{method.key}")
    original = load_model(env, payload.original, setting, problem)
    train_state: dict[str, Any] = {}
    for rec_key, state_job in payload.train_state.items():
        train_state[rec_key] = state_from_bytes(env.store.blob(state_job, STATE_BLOB), env.device)
    model = copy.deepcopy(original)
    seed_dropout(model, derive_seed("unlearn", int(payload.seed), method.key))  # masks from this job alone
    started = time.perf_counter()
    ctx = UnlearnContext(seed=int(payload.seed), device=env.device, train_cfg=setting.train_cfg,
                         model_key=setting.spec.model, input_shape=problem.data.input_shape,
                         progress=env.reporter(job, started))
    env.progress(job, "running", 0, 0, "starting", started)
    seconds = cpu_seconds = 0.0
    if payload.requests == REQUESTS_NONE:  # the method's model before unlearning: asked to forget nothing
        n = problem.data.x_train.shape[0]
        steps = [(torch.zeros(0, dtype=torch.int64, device=env.device), torch.arange(n, device=env.device))]
    else:
        steps = [problem.step(i) for i in range(len(problem.requests))]
    for i, (forget_idx, retain_idx) in enumerate(steps):
        ctx.request = i
        data = make_view(method, problem, forget_idx, retain_idx, train_state, setting)
        _sync(env.device)
        t0, c0 = time.perf_counter(), _cpu_clock()
        model = method.unlearn(model, data, cfg, ctx)
        _sync(env.device)
        seconds += time.perf_counter() - t0
        cpu_seconds += _cpu_clock() - c0
    for p in model.parameters():
        if not torch.isfinite(p).all():
            raise RunFailed(f"{method.key} produced non-finite weights")
    meta = UnlearnMeta(seconds=seconds, cpu_seconds=cpu_seconds,
                       ensemble=model.describe() if isinstance(model, EnsembleModel) else None)
    return JobResult(meta, {STATE_BLOB: state_to_bytes(model.state_dict())})  # an ensemble: rebuilt by load_model


def _prepared_inputs(env: JobEnv, prepared: dict[str, str]) -> dict[str, Any]:
    """The :class:`EvalInputs` fields the metrics' preparation jobs ``prepared`` (kind -> job key) fill:
    ``prepared`` (kind -> loaded value) and each preparation's own ``inputs_field``."""
    fields: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    for kind, key in prepared.items():
        prep = metric_preparation(kind)
        res = env.store.result(key)
        loaded[kind] = prep.load(StoredPreparation(None if res is None else res.meta,
                                                   lambda name, key=key: env.store.blob(key, name)))
        if prep.inputs_field is not None:
            fields[prep.inputs_field] = loaded[kind]
    return {**fields, "prepared": loaded}


def evaluate_model(job: Job, env: JobEnv) -> JobResult:
    """Evaluate one model (original, retrain or a method's output) with every metric, against retrain; on the
    test split, or for the tuner on ``val`` alone (``EvaluatePayload.split``)."""
    payload: EvaluatePayload = _payload(job, EvaluatePayload)
    setting = setting_of(payload)
    problem = rebuild_problem(payload, env, setting)
    if payload.split not in SPLITS:
        raise RunFailed(f"unknown evaluation split {payload.split!r}")
    if payload.split == SPLIT_VAL:  # the tuner's evaluation: val in the place of test, no test split at all
        problem = problem.validation_view()
    started = time.perf_counter()
    env.progress(job, "running", 0, 1, "evaluating", started)
    model = load_model(env, payload.model_job, setting, problem)
    logits_train = predict_logits(model, problem.data.x_train).cpu().numpy()
    logits_test = predict_logits(model, problem.data.x_test).cpu().numpy()
    if not (np.isfinite(logits_train).all() and np.isfinite(logits_test).all()):
        raise RunFailed("the model's outputs are not finite (the method diverged)")
    retrain_values = None
    if payload.retrain_eval:
        ref = arrays_from_bytes(env.store.blob(payload.retrain_eval, OUTPUTS_BLOB))
        r_train, r_test = ref["logits_train"], ref["logits_test"]
        ref_meta = env.store.result(payload.retrain_eval)
        retrain_values = None if ref_meta is None else ref_meta.meta["metrics"]
    else:  # this *is* the retrain reference
        r_train, r_test = logits_train, logits_test
    retrain_res = env.store.result(payload.retrain_job)
    unlearn_res = env.store.result(payload.seconds_from) if payload.seconds_from else None  # None: no unlearning
    seconds, retrain_seconds = timed_seconds(None if unlearn_res is None else unlearn_res.meta,
                                             None if retrain_res is None else retrain_res.meta)
    inp = EvalInputs(
        logits_train=logits_train, logits_test=logits_test,
        y_train=problem.data.y_train.cpu().numpy(), y_test=problem.data.y_test.cpu().numpy(),
        forget_idx=problem.forget_idx.cpu().numpy(), retain_idx=problem.retain_idx.cpu().numpy(),
        test_forget_mask=None if problem.test_forget_mask is None else problem.test_forget_mask.cpu().numpy(),
        forget_classes=problem.forget_classes, touched_classes=problem.touched_classes, seed=problem.seed,
        unlearn_seconds=seconds, retrain_seconds=retrain_seconds,
        retrain_logits_train=r_train, retrain_logits_test=r_test, retrain_values=retrain_values,
        y_train_observed=(problem.supervision.labels.cpu().numpy() if setting.spec.paradigm == "noisy_label"
                          else None),
        **_prepared_inputs(env, payload.prepared),
    )
    metrics = list(payload.metrics)
    known = recorded_metrics(env, payload)  # computed for this model before (another metric list): not again
    todo = [m for m in metrics if m not in known]
    # metrics that need the model itself (a FeatureHook): features for the samples they select, before the metrics
    inp = attach_model_features(inp, model, problem.data.x_train, problem.data.x_test, todo)
    values = evaluate_all(inp, metrics, known)
    scores = {k: v.value for k, v in values.items()}
    reasons = {k: v.reason for k, v in values.items() if v.value is None}
    per_sample = {k: v.per_sample for k, v in values.items() if v.per_sample is not None}
    for k, v in values.items():  # charts' further arrays (ROC curves, ...), as "<metric>.<name>"
        per_sample.update({f"{k}.{name}": np.asarray(a) for name, a in v.arrays.items()})
    outputs = {"logits_train": logits_train.astype(np.float32), "logits_test": logits_test.astype(np.float32)}
    for k, v in scores.items():
        if v is not None and not np.isfinite(v):
            raise RunFailed(f"metric {k} is {v}")
    side = {payload.records[k]: metric_record(k, v) for k, v in values.items()
            if k not in known and k in payload.records}
    return JobResult(EvaluateMeta(metrics=scores, reasons=reasons),
                     {OUTPUTS_BLOB: arrays_to_bytes(outputs), PER_SAMPLE_BLOB: arrays_to_bytes(per_sample)}, side)


def metric_record(key: str, value: MetricValue) -> tuple[MetricRecordMeta, dict[str, bytes]]:
    """A :data:`~engine.jobs.model.METRIC_RECORD` of metric ``key``'s ``value`` (its per-sample values and arrays
    in :data:`~engine.jobs.model.METRIC_BLOB`)."""
    arrays = {f"a.{name}": np.asarray(a) for name, a in value.arrays.items()}
    if value.per_sample is not None:
        arrays["per_sample"] = np.asarray(value.per_sample)
    return (MetricRecordMeta(key, value.value, value.reason),
            {METRIC_BLOB: arrays_to_bytes(arrays)} if arrays else {})


def recorded_metrics(env: JobEnv, payload: EvaluatePayload) -> dict[str, MetricValue]:
    """The metrics of ``payload`` whose records the store holds (metric -> value, as computed then)."""
    out: dict[str, MetricValue] = {}
    for key, rec in payload.records.items():
        res = env.store.result(rec) if env.store.has(rec) else None
        if res is None or res.meta.get("metric") != key:
            continue
        arrays = arrays_from_bytes(env.store.blob(rec, METRIC_BLOB)) if METRIC_BLOB in res.meta.get("blobs", []) \
            else {}
        out[key] = MetricValue(res.meta.get("value"), arrays.get("per_sample"), res.meta.get("reason", ""),
                               {k[2:]: v for k, v in arrays.items() if k.startswith("a.")})
    return out


def run_preparation(job: Job, env: JobEnv) -> JobResult:
    """A metric's preparation job (its kind's :class:`~engine.metrics.base.Preparation` body), on the seed's
    rebuilt problem."""
    payload: PreparePayload = _payload(job, PreparePayload)
    prep = metric_preparation(job.kind)
    setting = setting_of(payload)
    problem = rebuild_problem(payload, env, setting)
    started = time.perf_counter()
    row = None
    if payload.row is not None:  # a per-row preparation: the row's model, the seed's original and retrain
        r = payload.row
        row = RowTarget(name=r["name"], method=r["method"], hparams=dict(r["hparams"]), reference=r["reference"],
                        model=load_model(env, r["model_job"], setting, problem),
                        original=load_model(env, r["original_job"], setting, problem),
                        retrain=load_model(env, r["retrain_job"], setting, problem))
    before = _prepared_inputs(env, payload.after)["prepared"] if payload.after else {}
    ctx = PrepareContext(setting=setting, problem=problem, seed=int(payload.seed), device=env.device,
                         options=payload.options, progress=env.reporter(job, started), row=row,
                         before=before.get(prep.after) if prep.after else None,
                         unlearn_view=lambda method, forget, retain: make_view(method, problem, forget, retain, {},
                                                                               setting))
    meta, blobs = prep.run(ctx)
    return JobResult(meta, blobs)


BODIES: dict[str, Body] = {
    PROBLEM: materialise_problem, ORIGINAL: train_original, TRAIN_STATE: record_train_state, RETRAIN: train_retrain,
    UNLEARN: unlearn_with_method, EVALUATE: evaluate_model,
}
if set(BODIES) != set(CORE_KINDS):  # a kind added to the model without a body (or the reverse)
    raise RuntimeError(f"job bodies {sorted(BODIES)} do not match the job kinds {sorted(CORE_KINDS)}")


def body_for(kind: str) -> Body:
    """The body that runs a job of ``kind``: a core kind's, or :func:`run_preparation` for a metric's preparation
    kind; ``ValueError`` for any other kind."""
    if kind in BODIES:
        return BODIES[kind]
    try:
        metric_preparation(kind)
    except KeyError:
        raise ValueError(f"no job body for jobs of kind {kind!r}") from None
    return run_preparation
