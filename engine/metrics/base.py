"""Metric contract: pure functions of a run's outputs (numpy), with metadata."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from engine.registry import Registry

Direction = Literal["higher", "lower", "closer_to_retrain"]
# declared value ranges (:attr:`MetricInfo.range`), closed intervals
UNIT = (0.0, 1.0)  # accuracies, attack accuracies and AUCs, shares of samples, gaps between them
NON_NEGATIVE = (0.0, math.inf)  # entropies, divergences, seconds, ratios of times


@dataclass(frozen=True)
class EvalInputs:
    """Everything a metric may look at for one run (one method x one seed).

    Logits are of the evaluated model, on the whole training and test splits, in dataset
    order. ``y_train``/``y_test`` are always the *true* labels (never the paradigm's weak supervision); under
    ``noisy_label`` ``y_train_observed`` holds the noisy labels the model was fitted on (the ``*_observed``
    metrics; the test split is never noised).
    ``retrain_*`` hold the retrained reference's outputs for the same seed (when the reference
    itself is evaluated, its own logits). ``forget_classes`` are the classes the scenario removes entirely
    (``class``/``subclass``; for ``subclass`` the test split uses ``test_forget_mask``).
    """

    logits_train: np.ndarray  # (N_train, K) float
    logits_test: np.ndarray  # (N_test, K) float
    y_train: np.ndarray  # (N_train,) int, true labels
    y_test: np.ndarray  # (N_test,) int
    forget_idx: np.ndarray  # indices into the training split
    retain_idx: np.ndarray
    test_forget_mask: np.ndarray | None  # bool (N_test,) for class/subclass scenarios, else None
    forget_classes: tuple[int, ...]  # classes entirely removed (empty for sample-level scenarios)
    touched_classes: tuple[int, ...]  # classes that have any forget sample
    seed: int
    unlearn_seconds: float | None
    retrain_seconds: float | None
    retrain_logits_train: np.ndarray | None
    retrain_logits_test: np.ndarray | None
    # already-computed values (filled by evaluate_all / the evaluate job) so that derived metrics such as
    # gap_to_retrain do not refit attacks: this run's values and the retrain reference's values
    own_values: Mapping[str, float | None] = field(default_factory=dict)
    retrain_values: Mapping[str, float | None] | None = None
    # white-box features computed from the evaluated model itself, per metric key, for the metrics that ask
    # for them (:attr:`MetricInfo.model_features`); filled by :func:`engine.metrics.attach_model_features`
    model_features: Mapping[str, ModelFeatures] = field(default_factory=dict)
    # the seed's shadow-model attack (``shadow_models > 0``), loaded by the evaluate job from its ``shadow`` job
    shadow: ShadowAttack | None = None
    # the training labels the model was fitted on, where they differ from the true ones (``noisy_label``
    # paradigm: the noisy labels); ``None`` elsewhere. ``*_observed`` metrics use them.
    y_train_observed: np.ndarray | None = None
    # this run's already computed results, whole (filled by evaluate_all, like ``own_values``), so that a metric
    # derived from another's computation (mia_whitebox_attacker_acc from mia_whitebox's fit) does not refit it
    own_results: Mapping[str, MetricValue] = field(default_factory=dict)
    # what the metrics' preparation jobs of this seed produced, by preparation kind (:class:`Preparation.load`);
    # a kind the comparison does not have is absent
    prepared: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelFeatures:
    """Per-sample features computed from a model (white-box metrics), for the samples a metric selected.

    ``train`` row ``i`` belongs to training sample ``train_idx[i]``, ``test`` row ``i`` to test sample
    ``test_idx[i]``. A non-empty ``reason`` means the features do not exist for this model (the arrays
    are then empty) and the metric is not applicable.
    """

    train_idx: np.ndarray
    train: np.ndarray
    test_idx: np.ndarray
    test: np.ndarray
    reason: str = ""


@dataclass(frozen=True)
class FeatureHook:
    """How a metric asks the evaluate job for extra per-sample features computed from the model itself.

    ``select(inp)`` returns the (training indices, test indices) the metric needs (a pure function of the
    inputs, so that the metric can recompute it); ``compute(model, x, y, seed)`` returns an ``(n, D)``
    float array for the samples ``x`` (a torch tensor on the model's device) with true labels ``y``, or
    raises :class:`engine.errors.NotApplicable` when the model has no such features.
    """

    select: Callable[[EvalInputs], tuple[np.ndarray, np.ndarray]]
    compute: Callable[[Any, Any, Any, int], np.ndarray]


@dataclass(frozen=True)
class ShadowAttack:
    """A trained shadow-model attacker (PGU): XGBoost JSON plus the forget samples it scores.

    ``forget_subset`` are indices into the training split (a capped subset of the forget set, the
    samples the shadow models' features were taken on); ``test_fpr``/``test_tpr``/``test_auc`` are the
    attacker's ROC on the held-out shadow models (shadow original vs shadow retrain: the attack's strength).
    """

    attacker_json: bytes
    forget_subset: np.ndarray
    test_fpr: np.ndarray
    test_tpr: np.ndarray
    test_auc: float
    reason: str = ""  # non-empty: the shadow models could not be trained (the metric is not applicable)


@dataclass(frozen=True)
class MetricValue:
    """A metric's value for one run (``None`` = not applicable, with ``reason``), plus per-sample values."""

    value: float | None
    per_sample: np.ndarray | None = None
    reason: str = ""
    # further named arrays for charts (e.g. an ROC curve's ``fpr``/``tpr``); stored as ``<metric>.<name>``
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class RowTarget:
    """The evaluated model a per-row preparation (:attr:`Preparation.per_row`) works on: the row's name, the method
    that made it (``None`` for the engine's own models) with its configuration, which reference model it is
    (``"original"`` / ``"retrain"`` / ``None``), and the models themselves (torch modules on the job's device): the
    row's, the seed's original and the seed's retrain."""

    name: str
    method: str | None
    hparams: Mapping[str, Any]
    reference: str | None
    model: Any
    original: Any
    retrain: Any


@dataclass(frozen=True)
class PrepareContext:
    """What a preparation job hands its body: the validated setting, the seed's problem (on the job's ``device``),
    the options the comparison set (:attr:`Preparation.options`) and a progress callback; for a per-row preparation
    also the row (:class:`RowTarget`) and what the per-seed preparation it builds on (:attr:`Preparation.after`)
    produced (``before``, as that preparation's ``load`` gives it).

    ``progress(done, total, message)`` publishes the job's progress and raises the job layer's ``Cancelled`` when
    the comparison is cancelled: call it at least once per epoch of any long loop.
    """

    setting: Any  # engine.problem.Setting
    problem: Any  # engine.problem.Problem, rebuilt from the spec and checked against the stored one
    seed: int
    device: Any  # torch.device the job runs on (the problem's tensors are there)
    options: Mapping[str, Any]
    progress: Callable[[int, int, str], None]
    row: RowTarget | None = None
    before: Any = None
    # ``unlearn_view(method, forget_idx, retain_idx)``: the sealed view a method gets for that forget / retain split
    # of the seed's problem (the job layer's ``make_view``; U-LiRA's shadow unlearning), no training-time state
    unlearn_view: Callable[[Any, Any, Any], Any] | None = None


@dataclass(frozen=True)
class StoredPreparation:
    """A finished preparation job as an evaluation reads it: its meta (``None`` if the store has none) and blobs."""

    meta: Mapping[str, Any] | None
    blob: Callable[[str], bytes]


@dataclass(frozen=True)
class Preparation:
    """A job a metric needs once per seed before any evaluation (e.g. ``mia_shadow_auc``: PGU's shadow models and
    XGBoost attacker). The planner adds it, when :attr:`enabled`, with the seed's problem as its dependency, and
    makes every evaluation of the seed depend on it; the evaluation loads it into :class:`EvalInputs`.

    * ``kind``: the job's kind and key prefix (e.g. ``"shadow"``); also the name under which the evaluation's
      identity holds its key. Never change it: it is part of every cache key of the comparisons that use it.
    * ``enabled(spec)``: whether the comparison has it (e.g. ``spec.shadow_models > 0``; opt-in preparations must
      leave the spec's JSON unchanged when off, so that other keys stay stable).
    * ``identity(spec)``: what its result depends on besides the seed's model identity (problem key, model,
      training config), e.g. the number of shadow pairs and the attack's recipe. Part of its key.
    * ``options(spec)``: what its body reads from the spec (:attr:`PrepareContext.options`).
    * ``label(spec, seed)``: its progress label.
    * ``run(ctx) -> (meta, blobs)``: the body; ``meta`` a JSON object, ``blobs`` name -> bytes (names from
      ``blobs`` below). Raise ``engine.errors.RunFailed`` to fail it (every evaluation of the seed is then
      skipped), or store a reason in its meta for the metric to report as not applicable.
    * ``load(stored) -> value``: what an evaluation's metrics get, as ``EvalInputs.prepared[kind]`` (absent when
      the comparison does not have it) and, if ``inputs_field`` names an :class:`EvalInputs` field, there too (the
      shadow attack's typed ``EvalInputs.shadow``).
    * ``blobs`` / ``required_blobs``: the names it may / always stores (results bundles check them; its meta must
      hold its ``seconds``); ``index_arrays``: ``.npz`` blob -> its arrays of training-split indices (checked on
      import).
    * ``per_row``: one job per evaluated model (row) x seed instead of one per seed (e.g. the representation audit:
      the row's model against the original and retrain; U-LiRA: the row's method applied to shadow models); its
      body gets :attr:`PrepareContext.row`, its identity holds the row's model job and method configuration, and
      only that row's evaluation depends on it. ``after``: the kind of a per-seed preparation it builds on (its
      dependency; :attr:`PrepareContext.before`).
    """

    kind: str
    enabled: Callable[[Any], bool]
    identity: Callable[[Any], dict[str, Any]]
    options: Callable[[Any], dict[str, Any]]
    label: Callable[[Any, int], str]
    run: Callable[[PrepareContext], tuple[dict[str, Any], dict[str, bytes]]]
    load: Callable[[StoredPreparation], Any]
    blobs: tuple[str, ...]
    required_blobs: tuple[str, ...]
    inputs_field: str | None = None
    index_arrays: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    per_row: bool = False
    after: str | None = None


@dataclass(frozen=True)
class MetricInfo:
    """A registered metric."""

    key: str
    title: str
    direction: Direction
    fn: Callable[[EvalInputs], MetricValue]
    description: str
    papers: str = ""  # which paper calls it what, e.g. "UGradSL: UA = 1 - forget_acc"
    ideal: float | None = None  # e.g. 0.5 for attack accuracies
    needs_retrain: bool = False
    group: str = "accuracy"  # accuracy | privacy | entropy | distance | time
    model_features: FeatureHook | None = None  # white-box metrics: features the evaluate job computes
    # the values the metric can take, a closed interval (``math.inf`` for no upper bound): its mathematical range,
    # e.g. :data:`UNIT` for accuracies, AUCs and shares. Imported results outside it are refused (engine.bundle).
    range: tuple[float, float] | None = None
    # a job the metric needs once per seed before the evaluations (shadow models, ...): see :class:`Preparation`
    preparation: Preparation | None = None


METRICS: Registry[MetricInfo] = Registry("metric")


OBSERVED_ONLY = ("only under the noisy_label paradigm: elsewhere the model was fitted on the true labels (or on "
                 "candidate sets / no labels), so there is no single observed training label to score against")


def observed_labels(inp: EvalInputs) -> np.ndarray | None:
    """The training labels the model was fitted on (``y_train_observed``, ``noisy_label`` only), else ``None``.

    DESIGN.md "Evaluation protocol", observed vs true labels: label-based metrics report both.
    """
    if inp.y_train_observed is None:
        return None
    y = np.asarray(inp.y_train_observed)
    if y.shape != np.asarray(inp.y_train).shape:
        raise ValueError(f"y_train_observed has shape {y.shape}, the training split {np.asarray(inp.y_train).shape}")
    return y


def not_applicable(reason: str) -> MetricValue:
    """A metric value that does not exist in this setting."""
    return MetricValue(None, None, reason)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
