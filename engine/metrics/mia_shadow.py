"""Shadow-model membership attack: PGU's XGBoost on output vectors of shadow originals vs shadow retrains.

PGU (seed 003; Hoang et al., WACV 2024, "Learn to Unlearn for Deep Neural Networks: Minimizing Unlearning
Interference with Gradient Projection"), Sec. 5 read-out (iv) and the official ``MIA.ipynb``
(methods-from-official-code.md, section 7.4). Opt-in: ``ComparisonSpec.shadow_models = N`` (CLI
``--shadow-models N``); the ``shadow`` job (one per seed, :data:`PREPARATION`) then

1. trains N *shadow originals* on the full training set and N *shadow retrains* on the retain set, with the
   run's model, training config and paradigm loss, seeds derived from the run seed
   (:func:`engine.training.shadow.shadow_seeds`; pair ``j``'s original and retrain share seed ``j``, as the
   run's own original and retrain share the run seed);
2. takes the forget samples, at most :data:`PER_CLASS_CAP` per (true) class -- a seeded random subset; the
   official notebook takes samples 0-100 of each class -- and, for every shadow model, the feature
   ``softmax(output) (+) one-hot(true label)`` (2K dims; 20 for 10 classes, as PGU);
3. splits the *models* in pair order 80 / 10 / 10 % (:func:`split_pairs`; PGU: 40 / 5 / 5 of 50 pairs);
   fits ``XGBClassifier(learning_rate=0.2, max_depth=10, subsample=0.8, reg_lambda=10,
   min_child_weight=0.1)`` (the notebook's values, 100 trees) on the first 80 % with label 1 = shadow
   original, 0 = shadow retrain. The validation pairs are used for nothing but reporting their AUC (PGU
   tuned the attacker for F1 on them; we keep the official hyper-parameters fixed). The held-out test
   pairs give the attack's strength: ROC-AUC (and PR-AUC) of shadow original vs shadow retrain;
4. stores the attacker as XGBoost JSON (``attacker.json``; no pickles) and the forget subset.

That job is this metric's :class:`~engine.metrics.base.Preparation` (:data:`PREPARATION`, kind ``shadow``,
body :func:`prepare_shadow_attack`); the planner adds it and the evaluations' dependency on it generically.

The metric, for the evaluated model: the attacker's scores on its forget-subset outputs (label 1) vs the
same seed's retrained model's outputs (label 0); value = ROC-AUC. PGU's protocol: unlearned models as
positives against the corresponding retrained models. 0.5 = indistinguishable from the retrained model;
the retrain row is 0.5 by construction (both score sets are identical: every pair is a tie). Per-sample:
the attacker's membership score of each forget-subset sample; extra arrays ``fpr``/``tpr`` (this model's
ROC curve), ``retrain_scores``, ``shadow_fpr``/``shadow_tpr``/``shadow_test_auc`` (the attack's held-out
ROC on shadow models) and ``forget_idx`` (the subset, indices into the training split).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.audit.membership import resolvable, tpr_at_fpr
from engine.metrics.base import (
    METRICS,
    UNIT,
    EvalInputs,
    MetricInfo,
    MetricValue,
    Preparation,
    PrepareContext,
    ShadowAttack,
    StoredPreparation,
    not_applicable,
    softmax,
)

PER_CLASS_CAP = 100  # forget samples per class (official: samples 0-100 of each class)
SPLIT = (0.8, 0.1, 0.1)  # pairs for training / validation / testing, in model order
XGB_PARAMS: dict[str, float | int] = {"n_estimators": 100, "learning_rate": 0.2, "max_depth": 10, "subsample": 0.8,
                                      "reg_lambda": 10, "min_child_weight": 0.1}
DISABLED = "enable shadow models (--shadow-models N)"
_STREAM = 0x5AD1
# what a shadow job's result depends on besides the seed's models' setting (part of its key: changing one retrains)
SHADOW_RECIPE = {"per_class": PER_CLASS_CAP, "split": list(SPLIT), "xgb": XGB_PARAMS}
SHADOW_KIND = "shadow"  # the preparation job's kind (key prefix "shadow-"; the evaluations' identity entry)
SHADOW_BLOB = "shadow.npz"  # the forget subset and the attack's held-out ROC
ATTACKER_BLOB = "attacker.json"  # the XGBoost attacker as JSON (absent when the shadow training failed)


def forget_subset(forget_idx: np.ndarray, y_train: np.ndarray, seed: int, cap: int = PER_CLASS_CAP) -> np.ndarray:
    """At most ``cap`` forget samples per true class, a seeded random choice; sorted indices."""
    forget = np.asarray(forget_idx, dtype=np.int64)
    y = np.asarray(y_train)[forget]
    rng = np.random.default_rng([seed, _STREAM])
    keep = []
    for c in np.unique(y):
        members = forget[y == c]
        keep.append(members if len(members) <= cap else rng.choice(members, size=cap, replace=False))
    return np.sort(np.concatenate(keep)) if keep else forget[:0]


def attack_features(logits: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """PGU's attack feature: softmax vector (+) one-hot label, float32 ``(n, 2K)``."""
    onehot = np.zeros((len(y), num_classes))
    onehot[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = 1.0
    return np.concatenate([softmax(logits), onehot], axis=1).astype(np.float32)


def split_pairs(n: int) -> tuple[int, int, int]:
    """Pairs for (training, validation, testing): 80 / 10 / 10 % in model order, at least one to train and test."""
    if n < 2:
        raise ValueError("the shadow attack needs at least 2 pairs (one to train on, one to test on)")
    n_test = max(1, round(SPLIT[2] * n))
    n_val = min(round(SPLIT[1] * n), n - n_test - 1)
    return n - n_val - n_test, n_val, n_test


@dataclass(frozen=True)
class ShadowFit:
    """The fitted attacker and its ROC on the held-out shadow pairs."""

    attacker_json: bytes
    train_auc: float
    val_auc: float | None
    test_auc: float
    test_pr_auc: float
    test_fpr: np.ndarray
    test_tpr: np.ndarray
    n_train_rows: int


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


def fit_shadow_attack(original_logits: list[np.ndarray], retrain_logits: list[np.ndarray], y: np.ndarray,
                      seed: int) -> ShadowFit:
    """Fit the XGBoost attacker on pair-ordered shadow outputs on the forget subset (labels ``y``).

    ``original_logits[j]`` / ``retrain_logits[j]``: pair ``j``'s outputs ``(m, K)`` on the same ``m`` samples.
    """
    import xgboost as xgb
    from sklearn.metrics import average_precision_score, roc_curve

    n = len(original_logits)
    if len(retrain_logits) != n:
        raise ValueError("one retrain per shadow original")
    k = original_logits[0].shape[1]
    n_tr, n_val, _ = split_pairs(n)

    def rows(pairs: range) -> tuple[np.ndarray, np.ndarray]:
        xs, ls = [], []
        for j in pairs:
            xs += [attack_features(original_logits[j], y, k), attack_features(retrain_logits[j], y, k)]
            ls += [np.ones(len(y)), np.zeros(len(y))]
        return np.concatenate(xs), np.concatenate(ls)

    x_tr, l_tr = rows(range(n_tr))
    clf = xgb.XGBClassifier(**XGB_PARAMS, objective="binary:logistic", random_state=seed, n_jobs=1)
    clf.fit(x_tr, l_tr)
    booster = clf.get_booster()
    raw = bytes(booster.save_raw(raw_format="json"))

    def score(x: np.ndarray) -> np.ndarray:
        return attacker_scores(raw, x)

    x_te, l_te = rows(range(n_tr + n_val, n))
    s_te = score(x_te)
    fpr, tpr, _ = roc_curve(l_te, s_te)
    val_auc = None
    if n_val:
        x_va, l_va = rows(range(n_tr, n_tr + n_val))
        val_auc = _auc(l_va, score(x_va))
    return ShadowFit(raw, _auc(l_tr, score(x_tr)), val_auc, _auc(l_te, s_te),
                     float(average_precision_score(l_te, s_te)), fpr, tpr, len(l_tr))


def attacker_scores(attacker_json: bytes, features: np.ndarray) -> np.ndarray:
    """The attacker's membership probability (shadow-original-like) per row of ``features``."""
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(attacker_json))
    return booster.predict(xgb.DMatrix(np.asarray(features, dtype=np.float32))).astype(np.float64)


def mia_shadow_auc(inp: EvalInputs) -> MetricValue:
    """ROC-AUC of the shadow attacker: this model's forget outputs (1) vs the retrained model's (0)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    sh = inp.shadow
    if sh is None:
        return not_applicable(DISABLED)
    if sh.reason:
        return not_applicable(sh.reason)
    if inp.retrain_logits_train is None:
        return not_applicable("needs the retrained reference's outputs, which this run does not have")
    sub = np.asarray(sh.forget_subset, dtype=np.int64)
    if len(sub) == 0:
        return not_applicable("the forget set is empty")
    k = inp.logits_train.shape[1]
    y = inp.y_train[sub]
    s_model = attacker_scores(sh.attacker_json, attack_features(inp.logits_train[sub], y, k))
    s_ref = attacker_scores(sh.attacker_json, attack_features(inp.retrain_logits_train[sub], y, k))
    labels = np.concatenate([np.ones(len(sub)), np.zeros(len(sub))])
    scores = np.concatenate([s_model, s_ref])
    auc = float(roc_auc_score(labels, scores))
    fpr, tpr, _ = roc_curve(labels, scores)
    low = {"tpr_at_0.01": np.array([tpr_at_fpr(scores, labels, 0.01)])} if resolvable(len(s_ref), 0.01) else {}
    return MetricValue(auc, s_model, arrays={
        **low, "fpr": fpr, "tpr": tpr, "retrain_scores": s_ref, "forget_idx": sub,
        "shadow_fpr": np.asarray(sh.test_fpr, dtype=np.float64),
        "shadow_tpr": np.asarray(sh.test_tpr, dtype=np.float64),
        "shadow_test_auc": np.array([sh.test_auc], dtype=np.float64)})


@dataclass(frozen=True)
class ShadowJobMeta:
    """The shadow job's stored meta: pairs, split, whether training was batched, the shadow seeds, the forget
    subset's size, the attacker's AUCs on its training / validation / test pairs and the shadow models' test
    accuracies."""

    seconds: float
    n_pairs: int
    split: list[int]
    batched: bool
    seeds: list[int]
    n_forget_subset: int
    train_auc: float
    val_auc: float | None
    test_auc: float
    test_pr_auc: float
    shadow_original_test_acc: float
    shadow_retrain_test_acc: float


@dataclass(frozen=True)
class ShadowFailedMeta:
    """The shadow job's stored meta when a shadow training diverged: the metric reports ``reason``."""

    seconds: float
    n_pairs: int
    reason: str


def prepare_shadow_attack(ctx: PrepareContext) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Train the seed's shadow originals and retrains and fit PGU's XGBoost attacker (module docstring, 1-4).

    Stores ``attacker.json`` (XGBoost JSON) and ``shadow.npz`` (the forget subset and the held-out ROC). A shadow
    training that diverges is recorded as the metric's not-applicable reason instead of failing every evaluation
    of the comparison.
    """
    import torch

    from engine.errors import RunFailed
    from engine.store import arrays_to_bytes
    from engine.training import predict_logits
    from engine.training import shadow as shadow_training

    setting, problem, seed = ctx.setting, ctx.problem, ctx.seed
    n_pairs = int(ctx.options["shadow_models"])
    data = problem.data
    seeds = shadow_training.shadow_seeds(seed, n_pairs)
    started = time.perf_counter()
    total = 2 * n_pairs * setting.train_cfg.epochs  # model-epochs
    ctx.progress(0, total, "training shadow models")
    y_train = data.y_train.cpu().numpy()
    subset = forget_subset(problem.forget_idx.cpu().numpy(), y_train, seed)
    sub_t = torch.as_tensor(subset, device=ctx.device)
    retain = problem.retain_idx
    outputs: dict[str, list[np.ndarray]] = {}
    accs: dict[str, float] = {}
    batched = False
    try:
        for i, (name, x, sup) in enumerate((("original", data.x_train, problem.supervision),
                                            ("retrain", data.x_train[retain], problem.supervision.take(retain)))):
            models = shadow_training.train_shadow_models(
                setting.spec.model, data.input_shape, data.num_classes, x, sup, problem.loss,
                setting.train_cfg, seeds,
                lambda d, t, m, i=i, name=name: ctx.progress(i * t + d, total, f"shadow {name}s, {m}"))
            batched = shadow_training.can_batch(models[0])
            outputs[name] = [predict_logits(m, data.x_train[sub_t]).cpu().numpy() for m in models]
            accs[name] = float(np.mean([(predict_logits(m, data.x_test).argmax(1) == data.y_test).float().mean().item()
                                        for m in models]))
    except RunFailed as e:
        failed = ShadowFailedMeta(time.perf_counter() - started, n_pairs, str(e))
        return dataclasses.asdict(failed), {SHADOW_BLOB: arrays_to_bytes({"forget_subset": subset})}
    ctx.progress(total, total, "fitting the attacker")
    fitted = fit_shadow_attack(outputs["original"], outputs["retrain"], y_train[subset], seed)
    n_tr, n_val, n_te = split_pairs(n_pairs)
    meta = ShadowJobMeta(
        seconds=time.perf_counter() - started, n_pairs=n_pairs, split=[n_tr, n_val, n_te], batched=batched,
        seeds=seeds, n_forget_subset=int(len(subset)), train_auc=fitted.train_auc, val_auc=fitted.val_auc,
        test_auc=fitted.test_auc, test_pr_auc=fitted.test_pr_auc, shadow_original_test_acc=accs["original"],
        shadow_retrain_test_acc=accs["retrain"])
    arrays = {"forget_subset": subset, "test_fpr": fitted.test_fpr, "test_tpr": fitted.test_tpr}
    return dataclasses.asdict(meta), {ATTACKER_BLOB: fitted.attacker_json, SHADOW_BLOB: arrays_to_bytes(arrays)}


def load_shadow_attack(stored: StoredPreparation) -> ShadowAttack:
    """The seed's shadow attack for an evaluation (:attr:`EvalInputs.shadow`), from its stored job."""
    from engine.store import arrays_from_bytes

    meta = stored.meta
    arrays = arrays_from_bytes(stored.blob(SHADOW_BLOB))
    empty = np.zeros(0)
    if meta is not None and meta.get("reason"):
        return ShadowAttack(b"", arrays["forget_subset"], empty, empty, float("nan"),
                            reason=f"the shadow models could not be trained: {meta['reason']}")
    return ShadowAttack(stored.blob(ATTACKER_BLOB), arrays["forget_subset"], arrays["test_fpr"], arrays["test_tpr"],
                        float("nan") if meta is None else float(meta["test_auc"]))


PREPARATION = Preparation(
    kind=SHADOW_KIND,
    enabled=lambda spec: spec.shadow_models > 0,
    identity=lambda spec: {"shadow_models": spec.shadow_models, "recipe": SHADOW_RECIPE},
    options=lambda spec: {"shadow_models": spec.shadow_models},
    label=lambda spec, seed: f"{spec.shadow_models} shadow model pairs seed {seed}",
    run=prepare_shadow_attack,
    load=load_shadow_attack,
    blobs=(SHADOW_BLOB, ATTACKER_BLOB),
    required_blobs=(SHADOW_BLOB,),
    inputs_field="shadow",
    index_arrays={SHADOW_BLOB: ("forget_subset",)},
)


METRICS.register(MetricInfo(
        key="mia_shadow_auc",
        title="MIA shadow-model AUC (XGBoost, PGU)",
        direction="closer_to_retrain",
        fn=mia_shadow_auc,
        description="PGU's shadow-model attack (opt-in: --shadow-models N): N shadow originals (full training set) "
        "and N shadow retrains (retain set); XGBoost (lr 0.2, depth 10, subsample 0.8, lambda 10, min child "
        "weight 0.1) on softmax (+) one-hot label of up to 100 forget samples per class, trained on 80 % of the "
        "pairs. Value = ROC-AUC of its scores on this model's forget outputs vs the retrained model's; 0.5 = "
        "indistinguishable from retrain (retrain itself: 0.5 by construction). Per-sample: attacker score per "
        "forget sample; ROC curve (fpr/tpr) kept for charts.",
        papers="PGU: MIA ROC-AUC (shadow originals vs shadow retrains, XGBoost)",
        ideal=0.5,
        needs_retrain=True,
        group="privacy",
        range=UNIT,
        preparation=PREPARATION,
    ),
)


def mia_shadow_tpr(inp: EvalInputs) -> MetricValue:
    """PGU's shadow attack at 1 % FPR: the TPR of its scores on this model's forget outputs vs retrain's (Carlini et
    al. 2022: membership audits are judged at low FPR)."""
    res = inp.own_results.get("mia_shadow_auc") or mia_shadow_auc(inp)
    if res.value is None:
        return not_applicable(res.reason)
    if "tpr_at_0.01" not in res.arrays:
        return not_applicable(f"{len(res.arrays['retrain_scores'])} non-members cannot resolve 1 % FPR (needs 100)")
    return MetricValue(float(res.arrays["tpr_at_0.01"][0]))


METRICS.register(MetricInfo(
        key="mia_shadow_tpr_0_01",
        title="MIA shadow-model TPR at 1 % FPR (PGU)",
        direction="closer_to_retrain",
        fn=mia_shadow_tpr,
        description="PGU's shadow-model attack (opt-in: --shadow-models N) judged at a low false-positive rate: the "
        "TPR at 1 % FPR of its scores on this model's forget outputs vs the retrained model's (chance: 0.01).",
        papers="Carlini et al. 2022: TPR at low FPR",
        ideal=0.01,
        needs_retrain=True,
        group="privacy",
        range=UNIT,
        preparation=PREPARATION,
    ),
)
