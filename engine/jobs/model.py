"""The job model: what a job is (kind, key, payload, dependencies, resources), what it stores, and how it ended.

A :class:`Job` is plain, picklable data, so that any executor -- in process or a Ray worker -- can run it with
:func:`engine.jobs.execution.execute`. Its key is ``<kind>-<stable_hash(identity)>``: the ``identity`` holds only
what determines the result, so jobs are shared across comparisons (DESIGN.md data flow). The payload is a typed
dataclass per kind (what the job needs to run: the setting, the seed, its inputs' keys); the meta it stores is a
typed dataclass per kind too, written as JSON in field order (the store's ``result/<job>``), and its blobs have the
names below. Changing an identity, a meta field or a blob name invalidates every existing cache and bundle.

This module is light on purpose (no torch, no data): the bundle importer reads its kinds and blob names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from engine.spec import stable_hash

# -- kinds (a job key's prefix) ----------------------------------------------------------------------------------
PROBLEM = "problem"  # the seed's supervision and forget set
ORIGINAL = "original"  # the original model, trained on the whole training set
TRAIN_STATE = "train_state"  # training-time state a method needs (engine.training.recording)
RETRAIN = "retrain"  # the reference, trained from scratch on the retain set
UNLEARN = "unlearn"  # a method applied to the original
EVALUATE = "evaluate"  # every metric of one model, against the retrain reference
CORE_KINDS = (PROBLEM, ORIGINAL, TRAIN_STATE, RETRAIN, UNLEARN, EVALUATE)
# one metric's result for one evaluated model: a side result of the evaluate jobs, keyed without the metric list, so
# that a comparison asking for a new metric computes only that one (EvaluatePayload.records); never planned itself
METRIC_RECORD = "metric"
# jobs whose result is a model (or training-time state): its weights are the blob :data:`STATE_BLOB`
MODEL_KINDS = (ORIGINAL, TRAIN_STATE, RETRAIN, UNLEARN)
# Metrics may add preparation jobs of their own kinds (engine.metrics.base.Preparation, e.g. "shadow").

# -- blob names --------------------------------------------------------------------------------------------------
STATE_BLOB = "state.pt"  # a model job's weights / a training-time state (torch.save of tensors)
PROBLEM_BLOB = "problem.npz"  # a problem's index arrays and observed supervision
OUTPUTS_BLOB = "outputs.npz"  # an evaluation's logits (logits_train, logits_test)
PER_SAMPLE_BLOB = "per_sample.npz"  # an evaluation's per-sample metric values ("<metric>", "<metric>.<array>")
METRIC_BLOB = "metric.npz"  # a metric record's per-sample values and arrays ("per_sample", "<array>")

# -- evaluation splits (EvaluatePayload.split) --------------------------------------------------------------------
SPLIT_TEST = "test"  # every reported number
SPLIT_VAL = "val"  # the tuner's objective (engine.tuning): val in the place of test, the test split never read
SPLITS = (SPLIT_TEST, SPLIT_VAL)

# -- resources ---------------------------------------------------------------------------------------------------
SMALL_JOB_GPU = 0.25  # share of a GPU a job on a model not marked ``large`` asks for
REQUESTS_NONE = "none"  # UnlearnPayload.requests: the method's own model before any request (forget nothing)


@dataclass(frozen=True)
class Resources:
    """What one job asks an executor for: CPUs, and the GPU share it takes when the cluster has GPUs."""

    cpus: float = 1.0
    gpu: float = SMALL_JOB_GPU  # 0: never a GPU (the job is CPU-only whatever the cluster)


def model_resources(model_key: str) -> Resources:
    """A job on ``model_key``: a :data:`SMALL_JOB_GPU` share, a whole GPU for models marked ``large`` (ResNets)."""
    from engine.models import MODELS

    return Resources(gpu=1.0 if model_key in MODELS and MODELS.get(model_key).large else SMALL_JOB_GPU)


# -- payloads: what a job needs to run (a function of its identity plus execution options) -----------------------
@dataclass(frozen=True)
class Payload:
    """Common to every job: the comparison's setting (spec JSON without methods/seeds) and the seed."""

    spec: dict[str, Any]
    seed: int


@dataclass(frozen=True)
class ProblemPayload(Payload):
    """``problem``: materialise the seed's problem."""


@dataclass(frozen=True)
class TrainPayload(Payload):
    """``original`` / ``retrain``: train a model; the original also records training-time state on the side.

    ``record_during`` / ``record_after``: recorders hooked into the training loop / run once on the trained model;
    ``state_jobs``: recorder -> the ``train_state`` job key its state is stored under.
    """

    record_during: tuple[str, ...] = ()
    record_after: tuple[str, ...] = ()
    state_jobs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainStatePayload(Payload):
    """``train_state``: record one recorder's state for the original ``original`` (``options``: its parameters)."""

    original: str
    recorder: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UnlearnPayload(Payload):
    """``unlearn``: apply ``method`` (``hparams``) to the original; ``train_state``: recorder -> state job key.

    ``requests``: ``None`` = every forget request of the scenario, :data:`REQUESTS_NONE` = none (the method's own
    model before unlearning, e.g. the SISA ensemble).
    """

    original: str
    method: str
    hparams: dict[str, Any]
    train_state: dict[str, str] = field(default_factory=dict)
    requests: str | None = None


@dataclass(frozen=True)
class EvaluatePayload(Payload):
    """``evaluate``: every metric of ``model_job``'s model.

    ``retrain_job``: the seed's retrain model (its training seconds); ``retrain_eval``: the retrain reference's
    evaluation (``None``: this *is* it); ``seconds_from``: the job whose meta ``seconds`` is the unlearning time
    (``None``: no unlearning happened); ``prepared``: preparation kind -> job key (metrics' preparation jobs);
    ``split``: :data:`SPLIT_TEST` (reported numbers) or :data:`SPLIT_VAL` (the tuner's: ``val`` stands in for
    ``test`` and the test split is not read at all, ``Problem.validation_view``); ``records``: metric -> the key of
    its :data:`METRIC_RECORD` for this model (a metric already recorded under it is read, not computed again).
    """

    model_job: str
    retrain_job: str
    retrain_eval: str | None
    metrics: tuple[str, ...]
    seconds_from: str | None = None
    prepared: dict[str, str] = field(default_factory=dict)
    split: str = "test"
    records: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparePayload(Payload):
    """A metric's preparation job (``engine.metrics.base.Preparation``): its kind's options (e.g. shadow pairs); for
    a per-row preparation the row (``row``: ``name``, ``model_job``, ``original_job``, ``retrain_job``, ``method``,
    ``hparams``, ``reference``) and the per-seed preparation it builds on (``after``: kind -> job key)."""

    options: dict[str, Any] = field(default_factory=dict)
    row: dict[str, Any] | None = None
    after: dict[str, str] = field(default_factory=dict)


# -- stored meta: one dataclass per kind, written in field order ---------------------------------------------------
OPTIONAL = {"optional": True}  # field metadata: left out of the stored meta when ``None``


def meta_dict(meta: Any) -> dict[str, Any]:
    """A meta dataclass as the JSON object the store holds (field order; ``OPTIONAL`` fields left out when None)."""
    return {f.name: getattr(meta, f.name) for f in dataclasses.fields(meta)
            if not (f.metadata.get("optional") and getattr(meta, f.name) is None)}


@dataclass(frozen=True)
class ProblemMeta:
    """``problem``: the split sizes (``Problem.sizes``), the classes forgotten / touched and the request count."""

    n_forget: int
    n_retain: int
    n_val: int
    n_test: int
    forget_classes: list[int]
    touched_classes: list[int]
    n_requests: int


@dataclass(frozen=True)
class TrainMeta:
    """``original`` / ``retrain``: training seconds (wall), optimiser steps, final loss, training-set size, and the
    training's CPU seconds (``None`` in results stored before they were recorded)."""

    seconds: float
    steps: int
    final_loss: float
    n_train: int
    cpu_seconds: float | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class TrainStateMeta:
    """``train_state``: which recorder, and its seconds (0 when recorded on the side of the original's training)."""

    recorder: str
    seconds: float


@dataclass(frozen=True)
class UnlearnMeta:
    """``unlearn``: unlearning seconds (wall) and CPU seconds (``None`` in results stored before they were
    recorded); ``ensemble``: the shape of an ensemble model (``EnsembleModel.describe``)."""

    seconds: float
    cpu_seconds: float | None = field(default=None, metadata=OPTIONAL)
    ensemble: dict[str, Any] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class EvaluateMeta:
    """``evaluate``: metric -> value (``None`` = not applicable) and metric -> reason for those without one."""

    metrics: dict[str, float | None]
    reasons: dict[str, str]


@dataclass(frozen=True)
class MetricRecordMeta:
    """A :data:`METRIC_RECORD`: the metric, its value (``None`` = not applicable) and the reason for ``None``."""

    metric: str
    value: float | None
    reason: str = ""


@dataclass(frozen=True)
class JobResult:
    """What a job body returns: its meta (a meta dataclass, or a JSON object), its blobs, and ``side`` results
    it produced for other jobs on the way (job key -> (meta, blobs); e.g. training-time state the original's
    training recorded), stored before its own."""

    meta: Any
    blobs: dict[str, bytes]
    side: dict[str, tuple[Any, dict[str, bytes]]] = field(default_factory=dict)


def as_meta(meta: Any) -> dict[str, Any]:
    """``meta`` (a meta dataclass or a mapping) as a plain JSON object."""
    return meta_dict(meta) if dataclasses.is_dataclass(meta) else dict(meta)


# -- jobs ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One unit of work. ``key`` = kind + hash of its identity (which already names its dependencies' keys)."""

    key: str
    kind: str  # one of CORE_KINDS, or a metric preparation's kind
    label: str
    payload: Any  # a Payload dataclass of the kind's type
    deps: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)


def job_key(kind: str, identity: dict[str, Any]) -> str:
    """The key of the ``kind`` job with ``identity``: ``<kind>-<stable_hash(identity)>``."""
    return f"{kind}-{stable_hash(identity)}"


def make_job(kind: str, label: str, identity: dict[str, Any], payload: Any, deps: tuple[str, ...] = (),
             resources: Resources | None = None) -> Job:
    """A job keyed by its kind and the canonical ``identity`` (what determines its result).

    ``payload`` carries what the job needs to run (the setting, the seed, dependency keys, what to record on the
    side); it must be a function of ``identity`` plus execution options.
    """
    return Job(job_key(kind, identity), kind, label, payload, deps, resources or Resources())


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended in this execution."""

    status: str  # "done" | "cached" | "failed" | "cancelled" | "skipped"
    error: str = ""
