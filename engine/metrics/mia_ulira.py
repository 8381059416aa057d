"""Per-example likelihood-ratio membership attacks on unlearning: U-LiRA and RMIA (issue 16 deliverables 1, 2).

Opt-in: ``ComparisonSpec.ulira_shadows = K`` (CLI ``--ulira K``; 4 <= K <= 64). Cost: per seed 2K extra trainings
(K shadow originals, K shadow retrains) and per method K extra unlearning runs.

**Shadow job** (per seed, kind ``ulira``, :data:`SHADOWS`). The audited samples ``S`` are a seeded subset of the
forget set (at most :data:`PER_CLASS_CAP` per true class). A membership matrix ``M`` (K x |S|) puts every sample of
``S`` in exactly half of the shadows (Hayes et al. 2024 draw the shadows' forget sets so that each target is in
about half of them). Shadow original ``k`` is trained on the retain set plus ``S[M[k]]``, with the run's model,
training config and loss and a seed derived from the run seed; shadow retrain ``k`` on the retain set alone. The job
stores the shadow originals' weights, ``M``, and the logit-scaled true-class confidences ``phi`` (LiRA's
``log p_y - log sum_{j != y} p_j``) of both families on ``S`` (and the retrains' true-class probabilities on a seeded
population subset ``Z`` of the test split, for RMIA).

**Per-row job** (kind ``ulira_apply``, :data:`APPLY`, after ``ulira``). For a method's row: the method, with the
row's hyper-parameters, is applied to every shadow original ``k`` with ``S[M[k]]`` as its forget set (through the
same sealed view as the real run, :func:`engine.jobs.method_inputs.make_view`); the unlearned shadows' ``phi`` on the
samples they unlearned are the "in" observations. The original's row uses the shadow originals as they are (no
unlearning), retrain's row the shadow retrains (so its attack is chance by construction). Methods that need
training-time state recorded while the original trained, or that have a model of their own before unlearning
(SISA), are not applicable: the shadows record no such state.

**U-LiRA** (``mia_ulira``; Hayes et al. 2024, "Inexact unlearning needs more careful evaluations to avoid a false
sense of privacy", Sec. 4; Carlini et al. 2022 LiRA): for every audited sample a Gaussian is fitted to the "in"
observations (unlearned shadows) and one to the "out" observations (shadow retrains), and the score of a model on
the sample is the log likelihood ratio of its ``phi`` (:func:`engine.audit.membership.lira_scores`; global variance
for K < :data:`MIN_PER_ROLE_FOR_OWN_VARIANCE` * 2). The attack scores the row's model on ``S`` (label 1: unlearned)
and the real retrained model of the seed on ``S`` (label 0); value = ROC-AUC (0.5 = indistinguishable from
retraining), with balanced accuracy (best threshold) and **TPR at 1 % and 0.1 % FPR** (Carlini et al. 2022) as
metrics of their own; a TPR at an FPR that the number of negatives cannot resolve (fewer than 1/FPR) is not
applicable. Per-sample: each audited sample's score on the row's model (the per-example view).

**RMIA** (``mia_rmia``; Zarifzadeh et al., ICML 2024): with the K shadow retrains as OUT reference models, the
offline RMIA score (:func:`engine.audit.membership.rmia_scores`, ``a`` = :data:`RMIA_OFFLINE_A`, gamma = 1) of the
row's model on ``S`` against the population ``Z`` (label 1) vs the retrained model's (label 0); value = ROC-AUC.
It needs no unlearned shadows, only the references.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from engine.audit.membership import (
    RMIA_OFFLINE_A,
    balanced_accuracy_best,
    lira_scores,
    logit_scaled_confidence,
    resolvable,
    rmia_scores,
    roc,
    tpr_at_fpr,
    true_class_confidence,
)
from engine.metrics.base import (
    METRICS,
    UNIT,
    EvalInputs,
    MetricInfo,
    MetricValue,
    Preparation,
    PrepareContext,
    StoredPreparation,
    not_applicable,
)

SHADOW_KIND = "ulira"
APPLY_KIND = "ulira_apply"
SHADOW_BLOB = "ulira.npz"
MODELS_BLOB = "originals.pt"
APPLY_BLOB = "apply.npz"
PER_CLASS_CAP = 100  # audited forget samples per true class
POPULATION_CAP = 500  # RMIA's population samples z (test split)
MIN_PER_ROLE_FOR_OWN_VARIANCE = 8  # LiRA's per-example variance needs enough observations; else a global one
LOW_FPRS = (0.01, 0.001)
DISABLED = "enable U-LiRA / RMIA (--ulira K: K shadow pairs per seed)"
_STREAM = 0x0A11


def membership_matrix(k: int, n: int, seed: int) -> np.ndarray:
    """A (k, n) bool matrix with exactly ``k // 2`` shadows per column (each sample in half of the shadows)."""
    rng = np.random.default_rng([seed, _STREAM, 1])
    m = np.zeros((k, n), dtype=bool)
    for j in range(n):
        m[rng.choice(k, size=k // 2, replace=False), j] = True
    return m


def audited_samples(forget_idx: np.ndarray, y_train: np.ndarray, seed: int) -> np.ndarray:
    """The forget samples U-LiRA audits: at most :data:`PER_CLASS_CAP` per true class, seeded, sorted."""
    from engine.metrics.mia_shadow import forget_subset

    return forget_subset(forget_idx, y_train, seed ^ _STREAM, cap=PER_CLASS_CAP)


def population(n_test: int, seed: int) -> np.ndarray:
    """RMIA's population samples: a seeded subset of the test split (sorted test indices)."""
    rng = np.random.default_rng([seed, _STREAM, 2])
    idx = np.arange(n_test)
    return np.sort(idx if n_test <= POPULATION_CAP else rng.choice(idx, size=POPULATION_CAP, replace=False))


def _seeds(seed: int, k: int) -> list[int]:
    from engine.rng import derive_seed

    return [derive_seed("ulira", seed, i) & 0x7FFFFFFF for i in range(k)]


def train_shadows(ctx: PrepareContext) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The seed's U-LiRA shadows (module docstring): K originals on retain + half of ``S`` each, K retrains."""
    import torch

    from engine.errors import RunFailed
    from engine.store import arrays_to_bytes, state_to_bytes
    from engine.training import predict_logits
    from engine.training import shadow as shadow_training

    setting, problem, seed = ctx.setting, ctx.problem, ctx.seed
    data = problem.data
    k = int(ctx.options["ulira_shadows"])
    started = time.perf_counter()
    y_train = data.y_train.cpu().numpy()
    s_idx = audited_samples(problem.forget_idx.cpu().numpy(), y_train, seed)
    z_idx = population(int(data.x_test.shape[0]), seed)
    member = membership_matrix(k, len(s_idx), seed)
    retain = problem.retain_idx.cpu().numpy()
    seeds = _seeds(seed, 2 * k)
    dev = data.x_train.device
    xs = data.x_train[torch.as_tensor(s_idx, device=dev)]
    xz = data.x_test[torch.as_tensor(z_idx, device=dev)]
    ys, yz = y_train[s_idx], data.y_test.cpu().numpy()[z_idx]
    total = 2 * k * setting.train_cfg.epochs
    ctx.progress(0, total, "training U-LiRA shadow models")
    arrays: dict[str, np.ndarray] = {"forget_subset": s_idx, "population": z_idx, "membership": member}
    try:
        originals = []
        for i in range(k):
            train = torch.as_tensor(np.sort(np.concatenate([retain, s_idx[member[i]]])), device=dev)
            originals += shadow_training.train_shadow_models(
                setting.spec.model, data.input_shape, data.num_classes, data.x_train[train],
                problem.supervision.take(train), problem.loss, setting.train_cfg, [seeds[i]],
                lambda d, t, m, i=i: ctx.progress(i * setting.train_cfg.epochs + d, total, f"shadow original {m}"))
        r = torch.as_tensor(retain, device=dev)
        retrains = shadow_training.train_shadow_models(
            setting.spec.model, data.input_shape, data.num_classes, data.x_train[r], problem.supervision.take(r),
            problem.loss, setting.train_cfg, seeds[k:],
            lambda d, t, m: ctx.progress(k * setting.train_cfg.epochs + d, total, f"shadow retrains {m}"))
    except RunFailed as e:
        return ({"seconds": time.perf_counter() - started, "k": k, "reason": str(e)},
                {SHADOW_BLOB: arrays_to_bytes(arrays)})
    logits = {name: np.stack([predict_logits(m, xs).cpu().numpy() for m in ms])
              for name, ms in (("original", originals), ("retrain", retrains))}
    arrays["original_phi"] = logit_scaled_confidence(logits["original"], ys)
    arrays["retrain_phi"] = logit_scaled_confidence(logits["retrain"], ys)
    arrays["retrain_p_x"] = true_class_confidence(logits["retrain"], ys)
    arrays["retrain_p_z"] = true_class_confidence(np.stack([predict_logits(m, xz).cpu().numpy() for m in retrains]),
                                                  yz)
    states = {f"{i}.{name}": t for i, m in enumerate(originals) for name, t in m.state_dict().items()}
    meta = {"seconds": time.perf_counter() - started, "k": k, "n_audited": int(len(s_idx)),
            "n_population": int(len(z_idx))}
    return meta, {SHADOW_BLOB: arrays_to_bytes(arrays), MODELS_BLOB: state_to_bytes(states)}


def load_shadows(stored: StoredPreparation) -> dict[str, Any]:
    """The shadow job as the row jobs and the metrics read it: meta, arrays and (lazily) the originals' weights."""
    from engine.store import arrays_from_bytes

    meta = dict(stored.meta or {})
    return {"meta": meta, **arrays_from_bytes(stored.blob(SHADOW_BLOB)),
            "states": (lambda: stored.blob(MODELS_BLOB)) if not meta.get("reason") else None}


def apply_to_shadows(ctx: PrepareContext) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The row's "in" observations: its method applied to every shadow original (module docstring)."""
    import copy

    import torch

    from engine.config import build_config
    from engine.methods import METHODS, UnlearnContext
    from engine.models import build_model
    from engine.store import arrays_to_bytes, state_from_bytes
    from engine.training import predict_logits

    started = time.perf_counter()
    row, sh, problem = ctx.row, ctx.before, ctx.problem
    if row is None or sh is None or ctx.unlearn_view is None:
        raise ValueError("ulira_apply is a per-row preparation after the ulira shadow job")

    def done(meta: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> tuple[dict, dict]:
        meta["seconds"] = time.perf_counter() - started
        return meta, {APPLY_BLOB: arrays_to_bytes(arrays or {"forget_subset": sh["forget_subset"]})}

    if sh["meta"].get("reason"):
        return done({"reason": f"the shadow models could not be trained: {sh['meta']['reason']}"})
    member = sh["membership"]
    if row.reference in ("original", "retrain"):  # no unlearning: the family itself (masked by membership on use)
        phi = sh["original_phi"] if row.reference == "original" else sh["retrain_phi"]
        return done({"source": f"shadow {row.reference}s"}, {"forget_subset": sh["forget_subset"], "phi": phi})
    method = METHODS.get(str(row.method))
    if row.reference is not None or method.own_original is not None:
        return done({"reason": f"{method.title} has a model of its own before unlearning, which the shadows do not "
                               "train"})
    if method.needs.train_time_state:
        return done({"reason": f"needs training-time state ({', '.join(method.needs.train_time_state)}) recorded "
                               "while the original trained; the U-LiRA shadows record none"})
    cfg = build_config(method.config, dict(row.hparams), f"methods.{method.key}")
    data = problem.data
    states = state_from_bytes(sh["states"](), ctx.device)
    k = member.shape[0]
    s_idx = torch.as_tensor(sh["forget_subset"], device=ctx.device)
    ys = data.y_train.cpu().numpy()[sh["forget_subset"]]
    retain = problem.retain_idx
    all_phi = np.zeros(member.shape)  # every unlearned shadow's phi on every audited sample (finite: bundles)
    for i in range(k):
        ctx.progress(i, k, f"unlearning shadow {i + 1} of {k}")
        model = build_model(ctx.setting.spec.model, data.input_shape, data.num_classes, seed=0).to(ctx.device)
        model.load_state_dict({n[len(f"{i}."):]: t for n, t in states.items() if n.startswith(f"{i}.")})
        view = ctx.unlearn_view(method, s_idx[torch.as_tensor(member[i], device=ctx.device)], retain)
        uctx = UnlearnContext(seed=_seeds(ctx.seed, 2 * k + i + 1)[-1], device=ctx.device,
                              train_cfg=ctx.setting.train_cfg, model_key=ctx.setting.spec.model,
                              input_shape=data.input_shape)
        out = method.unlearn(copy.deepcopy(model), view, cfg, uctx)
        phi = logit_scaled_confidence(predict_logits(out, data.x_train[s_idx]).cpu().numpy(), ys)
        if not np.all(np.isfinite(phi)):
            return done({"reason": f"the method's output on shadow {i + 1} is not finite (it diverged)"})
        all_phi[i] = phi
    ctx.progress(k, k, "done")
    return done({"source": f"{method.key} on {k} shadow originals"},
                {"forget_subset": sh["forget_subset"], "phi": all_phi})


def load_apply(stored: StoredPreparation) -> dict[str, Any]:
    """The row's shadows' ``phi`` on every audited sample (the "in" observations are those of the shadows that had
    the sample: ``membership`` of the shadow job)."""
    from engine.store import arrays_from_bytes

    return {"meta": dict(stored.meta or {}), **arrays_from_bytes(stored.blob(APPLY_BLOB))}


SHADOWS = Preparation(
    kind=SHADOW_KIND,
    enabled=lambda spec: spec.ulira_shadows > 0,
    identity=lambda spec: {"k": spec.ulira_shadows, "recipe": {"per_class": PER_CLASS_CAP,
                                                               "population": POPULATION_CAP}},
    options=lambda spec: {"ulira_shadows": spec.ulira_shadows},
    label=lambda spec, seed: f"{spec.ulira_shadows} U-LiRA shadow pairs seed {seed}",
    run=train_shadows,
    load=load_shadows,
    blobs=(SHADOW_BLOB, MODELS_BLOB),
    required_blobs=(SHADOW_BLOB,),
    index_arrays={SHADOW_BLOB: ("forget_subset",)},
)
APPLY = Preparation(
    kind=APPLY_KIND,
    enabled=lambda spec: spec.ulira_shadows > 0,
    identity=lambda spec: {"k": spec.ulira_shadows},
    options=lambda spec: {},
    label=lambda spec, seed: f"U-LiRA shadows unlearned seed {seed}",
    run=apply_to_shadows,
    load=load_apply,
    blobs=(APPLY_BLOB,),
    required_blobs=(APPLY_BLOB,),
    index_arrays={APPLY_BLOB: ("forget_subset",)},
    per_row=True,
    after=SHADOW_KIND,
)


def _targets(inp: EvalInputs, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if inp.retrain_logits_train is None:
        return None
    y = inp.y_train[idx]
    return logit_scaled_confidence(inp.logits_train[idx], y), logit_scaled_confidence(inp.retrain_logits_train[idx], y)


def _attack_value(scores_model: np.ndarray, scores_ref: np.ndarray, idx: np.ndarray) -> MetricValue:
    labels = np.r_[np.ones(len(scores_model)), np.zeros(len(scores_ref))]
    scores = np.r_[scores_model, scores_ref]
    fpr, tpr, auc = roc(scores, labels)
    arrays = {"fpr": fpr, "tpr": tpr, "retrain_scores": scores_ref, "forget_idx": idx,
              "balanced_acc": np.array([balanced_accuracy_best(scores, labels)]),
              **{f"tpr_at_{f:g}": np.array([tpr_at_fpr(scores, labels, f)]) for f in LOW_FPRS
                 if resolvable(len(scores_ref), f)}}  # absent: too few non-members to resolve that FPR
    return MetricValue(float(auc), scores_model, arrays=arrays)


def mia_ulira(inp: EvalInputs) -> MetricValue:
    """U-LiRA's ROC-AUC: the row's model vs the retrained model on the audited forget samples (module docstring)."""
    sh, ap = inp.prepared.get(SHADOW_KIND), inp.prepared.get(APPLY_KIND)
    if sh is None or ap is None:
        return not_applicable(DISABLED)
    for part in (sh, ap):
        if part["meta"].get("reason"):
            return not_applicable(part["meta"]["reason"])
    idx = np.asarray(sh["forget_subset"], dtype=np.int64)
    t = _targets(inp, idx)
    if t is None:
        return not_applicable("needs the retrained reference's outputs, which this run does not have")
    in_phi = np.where(sh["membership"], np.asarray(ap["phi"], dtype=np.float64), np.nan)
    out_phi = np.asarray(sh["retrain_phi"], dtype=np.float64)
    fix = in_phi.shape[0] < 2 * MIN_PER_ROLE_FOR_OWN_VARIANCE
    s_model = lira_scores(t[0], in_phi, out_phi, fix_variance=fix)
    s_ref = lira_scores(t[1], in_phi, out_phi, fix_variance=fix)
    return _attack_value(s_model, s_ref, idx)


def mia_rmia(inp: EvalInputs) -> MetricValue:
    """RMIA's ROC-AUC with the shadow retrains as OUT references (module docstring)."""
    sh = inp.prepared.get(SHADOW_KIND)
    if sh is None:
        return not_applicable(DISABLED)
    if sh["meta"].get("reason"):
        return not_applicable(sh["meta"]["reason"])
    if inp.retrain_logits_train is None or inp.retrain_logits_test is None:
        return not_applicable("needs the retrained reference's outputs, which this run does not have")
    idx = np.asarray(sh["forget_subset"], dtype=np.int64)
    z = np.asarray(sh["population"], dtype=np.int64)
    ys, yz = inp.y_train[idx], inp.y_test[z]
    out = []
    for lt, lz in ((inp.logits_train, inp.logits_test), (inp.retrain_logits_train, inp.retrain_logits_test)):
        out.append(rmia_scores(true_class_confidence(lt[idx], ys), sh["retrain_p_x"],
                               true_class_confidence(lz[z], yz), sh["retrain_p_z"], a=RMIA_OFFLINE_A))
    return _attack_value(out[0], out[1], idx)


def _derived(base: str, name: str, what: str):  # noqa: ANN202
    def fn(inp: EvalInputs) -> MetricValue:
        res = inp.own_results.get(base)
        if res is None:
            res = (mia_ulira if base == "mia_ulira" else mia_rmia)(inp)
        if res.value is None:
            return not_applicable(res.reason)
        if name not in res.arrays:
            n = len(res.arrays["retrain_scores"])
            return not_applicable(f"{n} non-members cannot resolve {what} (needs at least {1 / float(name[7:]):g})")
        return MetricValue(float(res.arrays[name][0]))
    fn.__doc__ = f"{base}: {what}."
    return fn


_COMMON: dict[str, Any] = dict(group="privacy", needs_retrain=True, range=UNIT)
METRICS.register(MetricInfo(
    key="mia_ulira", title="U-LiRA AUC (per-example likelihood ratio)", direction="closer_to_retrain",
    fn=mia_ulira, ideal=0.5, preparation=APPLY,
    description="Hayes et al. 2024's U-LiRA (opt-in: --ulira K): per forget sample, Gaussians over the "
                "logit-scaled confidences of K/2 shadow models that unlearned it with this method and of K shadow "
                "retrains; ROC-AUC of the likelihood ratio on this model vs the retrained model (0.5 = "
                "indistinguishable from retraining). Per-sample: each audited sample's score.",
    papers="Hayes et al. 2024: U-LiRA; Carlini et al. 2022: LiRA", **_COMMON))
for _f, _what in ((0.01, "TPR at 1 % FPR"), (0.001, "TPR at 0.1 % FPR")):
    METRICS.register(MetricInfo(
        key=f"mia_ulira_tpr_{_f:g}".replace(".", "_"), title=f"U-LiRA {_what}", direction="closer_to_retrain",
        fn=_derived("mia_ulira", f"tpr_at_{_f:g}", _what), ideal=_f, preparation=APPLY,
        description=f"U-LiRA's {_what} (Carlini et al. 2022: membership audits are judged at low FPR); not "
                    "applicable when the non-members are too few to resolve that FPR.",
        papers="Carlini et al. 2022: TPR at low FPR", **_COMMON))
METRICS.register(MetricInfo(
    key="mia_ulira_bacc", title="U-LiRA balanced accuracy", direction="closer_to_retrain",
    fn=_derived("mia_ulira", "balanced_acc", "balanced accuracy at the best threshold"), ideal=0.5,
    preparation=APPLY, description="U-LiRA's balanced accuracy at its best threshold (Hayes et al. 2024 report it).",
    papers="Hayes et al. 2024: U-LiRA accuracy", **_COMMON))
METRICS.register(MetricInfo(
    key="mia_rmia", title="RMIA AUC (K OUT references)", direction="closer_to_retrain", fn=mia_rmia, ideal=0.5,
    preparation=SHADOWS,
    description="Zarifzadeh et al. 2024's RMIA (opt-in: --ulira K) with the K shadow retrains as OUT reference "
                f"models (offline, a = {RMIA_OFFLINE_A}, gamma = 1, population: up to {POPULATION_CAP} test "
                "samples): ROC-AUC of its score on this model vs the retrained model over the audited forget "
                "samples.", papers="Zarifzadeh et al. 2024: RMIA", **_COMMON))
METRICS.register(MetricInfo(
    key="mia_rmia_tpr_0_01", title="RMIA TPR at 1 % FPR", direction="closer_to_retrain",
    fn=_derived("mia_rmia", "tpr_at_0.01", "TPR at 1 % FPR"), ideal=0.01, preparation=SHADOWS,
    description="RMIA's TPR at 1 % FPR; not applicable when the non-members are too few to resolve it.",
    papers="Carlini et al. 2022: TPR at low FPR", **_COMMON))
