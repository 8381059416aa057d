"""The representation audit (issue 16 deliverable 4): does forgetting reach the features?

Opt-in (``ComparisonSpec.feature_audit``; CLI ``--feature-audit``): one ``features`` job per evaluated model
(:data:`PREPARATION`, a per-row preparation) loads the row's model, the seed's original and its retrain, and on a
seeded subset of the forget set (at most :data:`FORGET_CAP`) and of the retain set (at most :data:`RETAIN_CAP`)
computes, with :mod:`engine.audit.representation` and :mod:`engine.audit.distances`:

- ``cka_retrain`` / ``cka_original``: linear CKA (Kornblith et al. 2019) between the row's features and the
  retrained / original model's features on the forget subset, for every Conv / Linear layer (``layers``: the names,
  :func:`encode_names`; ``per_layer``: the values, in the arrays, for the layer-wise chart); the value is the last
  convolutional layer's (the penultimate features for a model without convolutions, e.g. ``mlp``). Forgetting that
  reaches the features drives CKA to retrain up and CKA to the original down (the Unlearning Comparator, TVCG 2026,
  shows the same layer-wise view for one pair).
- ``probe_forget_acc`` / ``knn_forget_acc``: a linear probe (standardised logistic regression) and a 5-NN
  classifier fitted on frozen penultimate features of the retain subset plus the validation split, with true
  labels, scored on the forget subset ("Are we truly forgetting?", 2025: methods that fix the logits while the
  features still encode the forgotten data). The validation split is added because a class scenario's retain set
  has no sample of the forgotten class (a probe fitted on it alone scores 0 on every model); no model trained on
  it. Read against retrain's value.
- ``weight_distance_original`` / ``weight_distance_retrain``: relative L2 distance of all weights,
  ``||theta - theta_ref|| / ||theta_ref||``, to the original / the retrained model (per-tensor values in the arrays;
  Thudi et al. 2022 "verification error" for the distance to retrain).
- ``zrf``: ZRF, Zero Retrain Forgetting (Chundawat et al. 2023, "Can Bad Teaching Induce Forgetting?", AAAI):
  ``1 - mean JS(model, T_d)`` on the forget subset, ``T_d`` a randomly initialised model of the run's architecture
  (the "incompetent teacher", seed derived from the run seed, never trained), JS in nats without rescaling, so the
  value lies in [1 - ln 2, 1]; near 1 = the model answers the forget samples like a random model. Direction: closer
  to retrain's (destroying a model also raises it). The official code's ``JSDiv`` computes ``KL(m || p)`` with a
  mean over classes, so its numbers are on another scale (:func:`engine.audit.distances.zrf`).
- a 2-D PCA embedding (seeded, sign-fixed) of the penultimate features of the forget and retain subsets, in the
  ``probe_forget_acc`` arrays (``embedding``, ``embedding_forget``): the embedding view.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from engine.metrics.base import (
    METRICS,
    NON_NEGATIVE,
    UNIT,
    EvalInputs,
    MetricInfo,
    MetricValue,
    Preparation,
    PrepareContext,
    StoredPreparation,
    not_applicable,
)

FEATURES_KIND = "features"
FEATURES_BLOB = "features.npz"
FORGET_CAP = 500  # forget samples the audit looks at (seeded subset)
RETAIN_CAP = 1000  # retain samples (probe training data, the embedding's other group)
KNN_K = 5
_STREAM = 0xFEA7
DISABLED = "enable the representation audit (--feature-audit)"


def encode_names(names: list[str]) -> np.ndarray:
    """Layer names as a numeric array (UTF-8 bytes, one name a line): stored arrays are plain numbers (bundles)."""
    return np.frombuffer("\n".join(names).encode(), dtype=np.uint8).copy()


def layer_names(encoded: np.ndarray) -> list[str]:
    """Inverse of :func:`encode_names`."""
    text = bytes(np.asarray(encoded, dtype=np.uint8)).decode()
    return text.split("\n") if text else []


def audit_subsets(forget_idx: np.ndarray, retain_idx: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded forget and retain subsets (sorted training indices) the audit computes features on."""
    rng = np.random.default_rng([seed, _STREAM])
    out = []
    for idx, cap in ((np.asarray(forget_idx, dtype=np.int64), FORGET_CAP),
                     (np.asarray(retain_idx, dtype=np.int64), RETAIN_CAP)):
        out.append(np.sort(idx if len(idx) <= cap else rng.choice(idx, size=cap, replace=False)))
    return out[0], out[1]


def _last_conv(model: Any, names: list[str]) -> str:
    """The last convolutional layer among ``names`` (forward order), else the penultimate features."""
    from torch import nn

    convs = {n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)}
    last = [n for n in names if n in convs]
    return last[-1] if last else "penultimate"


def run_feature_audit(ctx: PrepareContext) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The row's features against the original's and retrain's (module docstring); stores ``features.npz``."""
    import torch

    from engine.audit.distances import weight_distance
    from engine.audit.representation import (
        embedding_2d,
        knn_accuracy,
        layer_features,
        linear_cka,
        linear_probe_accuracy,
    )
    from engine.store import arrays_to_bytes

    started = time.perf_counter()
    row, problem, data = ctx.row, ctx.problem, ctx.problem.data
    if row is None:
        raise ValueError("the feature audit is a per-row preparation")
    forget, retain = audit_subsets(problem.forget_idx.cpu().numpy(), problem.retain_idx.cpu().numpy(), ctx.seed)
    meta: dict[str, Any] = {"seconds": 0.0, "n_forget": int(len(forget)), "n_retain": int(len(retain))}
    if len(forget) < 2:
        meta.update(reason="the forget set has fewer than 2 samples", seconds=time.perf_counter() - started)
        return meta, {FEATURES_BLOB: arrays_to_bytes({"forget_idx": forget})}
    dev = data.x_train.device
    xf = data.x_train[torch.as_tensor(forget, device=dev)]
    xr = data.x_train[torch.as_tensor(retain, device=dev)]
    ctx.progress(0, 3, "features")
    feats = {who: layer_features(m, xf) for who, m in (("model", row.model), ("original", row.original),
                                                      ("retrain", row.retrain))}
    if not list(feats["model"]) == list(feats["original"]) == list(feats["retrain"]):
        meta.update(reason="the model's layers are not the original's and retrain's (an ensemble has no single "
                           "representation to compare)", seconds=time.perf_counter() - started)
        return meta, {FEATURES_BLOB: arrays_to_bytes({"forget_idx": forget, "retain_idx": retain})}
    layers = list(feats["model"])
    cka_r = np.array([linear_cka(feats["model"][n], feats["retrain"][n]) for n in layers], dtype=np.float64)
    cka_o = np.array([linear_cka(feats["model"][n], feats["original"][n]) for n in layers], dtype=np.float64)
    at = _last_conv(row.model, layers)
    ctx.progress(1, 3, "probes")
    pen_r = layer_features(row.model, xr, layers=["penultimate"])["penultimate"]
    fit_x, fit_y = [pen_r], [data.y_train[torch.as_tensor(retain, device=dev)].cpu().numpy()]
    if data.x_val is not None and data.x_val.shape[0]:
        fit_x.append(layer_features(row.model, data.x_val, layers=["penultimate"])["penultimate"])
        fit_y.append(data.y_val.cpu().numpy())
    pen_f = feats["model"]["penultimate"]
    y_f = data.y_train[torch.as_tensor(forget, device=dev)].cpu().numpy()
    xs, ys = np.concatenate(fit_x), np.concatenate(fit_y)
    probe = linear_probe_accuracy(xs, ys, pen_f, y_f, seed=ctx.seed)
    knn = knn_accuracy(xs, ys, pen_f, y_f, k=KNN_K)
    emb = embedding_2d(np.concatenate([pen_f, pen_r]), seed=ctx.seed)
    from engine.audit.distances import zrf
    from engine.models import build_model
    from engine.rng import derive_seed
    from engine.training import predict_logits

    teacher = build_model(ctx.setting.spec.model, data.input_shape, data.num_classes,
                          seed=derive_seed("zrf", ctx.seed) & 0x7FFFFFFF).to(dev)
    meta["zrf"] = zrf(predict_logits(row.model, xf).cpu().numpy(), predict_logits(teacher, xf).cpu().numpy())
    ctx.progress(2, 3, "weights")
    arrays: dict[str, np.ndarray] = {
        "forget_idx": forget, "retain_idx": retain, "cka_retrain": cka_r, "cka_original": cka_o,
        "layers": encode_names(layers), "embedding": emb,
        "embedding_forget": np.r_[np.ones(len(forget), dtype=bool), np.zeros(len(retain), dtype=bool)]}
    for ref, m in (("original", row.original), ("retrain", row.retrain)):
        try:
            wd = weight_distance(row.model.state_dict(), m.state_dict())
        except ValueError as e:  # e.g. an ensemble (SISA) against a single model
            meta[f"weight_{ref}_reason"] = f"the weights are not comparable: {e}"
            continue
        arrays[f"weight_{ref}"] = np.array([wd.total_relative])
        arrays[f"weight_{ref}_tensors"] = np.array([r for _, _, r in wd.per_tensor], dtype=np.float64)
        meta[f"weight_{ref}_names"] = [n for n, _, _ in wd.per_tensor]
    meta.update(seconds=time.perf_counter() - started, layer=at, probe=probe, knn=knn,
                cka_retrain=float(cka_r[layers.index(at)]), cka_original=float(cka_o[layers.index(at)]))
    ctx.progress(3, 3, "done")
    return meta, {FEATURES_BLOB: arrays_to_bytes(arrays)}


def load_feature_audit(stored: StoredPreparation) -> dict[str, Any]:
    """The row's audit for its evaluation: the job's meta and arrays."""
    from engine.store import arrays_from_bytes

    return {"meta": dict(stored.meta or {}), **arrays_from_bytes(stored.blob(FEATURES_BLOB))}


PREPARATION = Preparation(
    kind=FEATURES_KIND,
    enabled=lambda spec: bool(spec.feature_audit),
    identity=lambda spec: {"recipe": {"forget_cap": FORGET_CAP, "retain_cap": RETAIN_CAP, "knn": KNN_K,
                                      "probe": "standardised logistic regression, retain + val",
                                      "zrf": "build_model(seed=derive_seed('zrf', seed))"}},
    options=lambda spec: {},
    label=lambda spec, seed: f"feature audit seed {seed}",
    run=run_feature_audit,
    load=load_feature_audit,
    blobs=(FEATURES_BLOB,),
    required_blobs=(FEATURES_BLOB,),
    index_arrays={FEATURES_BLOB: ("forget_idx", "retain_idx")},
    per_row=True,
)


def _audit(inp: EvalInputs) -> tuple[dict[str, Any] | None, str]:
    a = inp.prepared.get(FEATURES_KIND)
    if a is None:
        return None, DISABLED
    if a["meta"].get("reason"):
        return None, a["meta"]["reason"]
    return a, ""


def _cka(which: str):  # noqa: ANN202
    def fn(inp: EvalInputs) -> MetricValue:
        a, why = _audit(inp)
        if a is None:
            return not_applicable(why)
        v = a["meta"][f"cka_{which}"]
        if not np.isfinite(v):
            return not_applicable(f"CKA is undefined at {a['meta']['layer']} (constant features)")
        per_layer = np.asarray(a[f"cka_{which}"], dtype=np.float64)
        arrays = {"layers": a["layers"], "per_layer": per_layer} if np.isfinite(per_layer).all() else {}
        return MetricValue(float(v), arrays=arrays)  # a layer with constant features: no layer-wise curve
    fn.__doc__ = f"Linear CKA to the {which} model's features on the forget subset, at the last conv layer."
    return fn


def _probe(which: str):  # noqa: ANN202
    def fn(inp: EvalInputs) -> MetricValue:
        a, why = _audit(inp)
        if a is None:
            return not_applicable(why)
        arrays = {"embedding": a["embedding"], "embedding_forget": a["embedding_forget"],
                  "forget_idx": a["forget_idx"]} if which == "probe" else {}
        return MetricValue(float(a["meta"][which]), arrays=arrays)
    fn.__doc__ = f"{'Linear-probe' if which == 'probe' else 'k-NN'} accuracy on the forget subset's features."
    return fn


def zrf_metric(inp: EvalInputs) -> MetricValue:
    """ZRF on the forget subset against the seed's randomly initialised model (module docstring)."""
    a, why = _audit(inp)
    return not_applicable(why) if a is None else MetricValue(float(a["meta"]["zrf"]))


def _weights(ref: str):  # noqa: ANN202
    def fn(inp: EvalInputs) -> MetricValue:
        a, why = _audit(inp)
        if a is None:
            return not_applicable(why)
        if f"weight_{ref}" not in a:
            return not_applicable(a["meta"].get(f"weight_{ref}_reason", "no weights to compare"))
        return MetricValue(float(a[f"weight_{ref}"][0]), arrays={"per_tensor": a[f"weight_{ref}_tensors"]})
    fn.__doc__ = f"Relative L2 distance of all weights to the {ref} model."
    return fn


_COMMON: dict[str, Any] = dict(group="representation", preparation=PREPARATION)
METRICS.register(MetricInfo(
    key="cka_retrain", title="CKA to retrain (last conv layer)", direction="higher", fn=_cka("retrain"),
    description="Linear CKA between this model's and the retrained model's features on the forget subset (up to "
                f"{FORGET_CAP} samples), at the last convolutional layer (penultimate features without one); 1 = "
                "the same representation up to rotation and scale. Per layer in the chart. Opt-in: --feature-audit.",
    papers="Kornblith et al. 2019 (linear CKA); Unlearning Comparator (TVCG 2026): layer-wise CKA",
    ideal=1.0, range=UNIT, **_COMMON))
METRICS.register(MetricInfo(
    key="cka_original", title="CKA to the original (last conv layer)", direction="closer_to_retrain",
    fn=_cka("original"),
    description="Linear CKA between this model's and the original model's features on the forget subset, at the "
                "last convolutional layer; read against retrain's (forgetting moves it down towards retrain's).",
    papers="Kornblith et al. 2019 (linear CKA)", range=UNIT, **_COMMON))
METRICS.register(MetricInfo(
    key="probe_forget_acc", title="Linear-probe forget accuracy (frozen features)", direction="closer_to_retrain",
    fn=_probe("probe"),
    description="A standardised logistic-regression probe fitted on frozen penultimate features of a retain subset "
                f"(up to {RETAIN_CAP}) and the validation split, true labels; accuracy on the forget subset. Close to "
                "retrain's = forgetting reached the features. Arrays: the 2-D PCA embedding of forget vs retain.",
    papers="'Are we truly forgetting?' (2025): linear probes on frozen features",
    ideal=None, range=UNIT, needs_retrain=True, **_COMMON))
METRICS.register(MetricInfo(
    key="knn_forget_acc", title=f"{KNN_K}-NN forget accuracy (frozen features)", direction="closer_to_retrain",
    fn=_probe("knn"),
    description=f"A {KNN_K}-nearest-neighbour classifier (standardised Euclidean) on the same features as the "
                "linear probe; accuracy on the forget subset.",
    papers="'Are we truly forgetting?' (2025): k-NN on frozen features",
    range=UNIT, needs_retrain=True, **_COMMON))
METRICS.register(MetricInfo(
    key="zrf", title="ZRF (zero retrain forgetting)", direction="closer_to_retrain", fn=zrf_metric,
    description="1 - mean JS divergence (nats) between the model and a randomly initialised model of the same "
                f"architecture on the forget subset (up to {FORGET_CAP} samples; Chundawat et al. 2023); in "
                "[1 - ln 2, 1], near 1 = answers like a random model. Read it against retrain's: destroying a model "
                "also raises it. Opt-in: --feature-audit.",
    papers="Chundawat et al. 2023 (bad teacher): ZRF", range=(1.0 - math.log(2.0), 1.0), **_COMMON))
METRICS.register(MetricInfo(
    key="weight_distance_original", title="Weight distance to the original (relative L2)",
    direction="closer_to_retrain",
    fn=_weights("original"),
    description="||theta - theta_original|| / ||theta_original|| over every floating weight and buffer: how far "
                "unlearning moved the model (0 for the original itself).",
    papers="layer-wise weight distance (per tensor in the arrays)", range=NON_NEGATIVE, **_COMMON))
METRICS.register(MetricInfo(
    key="weight_distance_retrain", title="Weight distance to retrain (relative L2)", direction="lower",
    fn=_weights("retrain"),
    description="||theta - theta_retrain|| / ||theta_retrain||: the verification error of Thudi et al. 2022 (0 for "
                "retrain itself). Differently initialised models are far apart whatever they learned.",
    papers="Thudi et al. 2022 (Unrolling SGD): verification error", range=NON_NEGATIVE, needs_retrain=True,
    **_COMMON))
