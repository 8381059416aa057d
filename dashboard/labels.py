"""Readable names for metric keys and config parameters (table headers, axis titles, hover text).

Pure Python: the engine's metric catalogue (``engine.api.metric_catalogue()``: key, title, direction, ideal,
group) is read lazily, once, for the titles and the best-value phrases.
"""

from __future__ import annotations

import functools
import math

# short, table-header length (at most MAX_LABEL characters); keys not listed fall back to the catalogue's title
METRIC_LABELS: dict[str, str] = {
    "forget_acc": "Forget acc.",
    "retain_acc": "Retain acc.",
    "forget_acc_observed": "Forget acc., observed labels",
    "retain_acc_observed": "Retain acc., observed labels",
    "retain_other_classes_acc": "Retain acc., other classes",
    "test_acc": "Test acc.",
    "test_forget_acc": "Test acc., forgotten classes",
    "test_retain_acc": "Test acc., remaining classes",
    "forget_entropy": "Forget entropy (nats)",
    "mia_asr": "MIA attack success",
    "mia_efficacy": "MIA efficacy",
    "mia_efficacy_observed": "MIA efficacy, observed",
    "mia_loss_acc": "MIA loss acc.",
    "mia_loss_acc_observed": "MIA loss acc., observed",
    "mia_shadow_auc": "MIA shadow AUC",
    "mia_shadow_tpr_0_01": "MIA shadow TPR @ 1% FPR",
    "mia_ulira": "U-LiRA AUC",
    "mia_ulira_tpr_0_01": "U-LiRA TPR @ 1% FPR",
    "mia_ulira_tpr_0_001": "U-LiRA TPR @ 0.1% FPR",
    "mia_ulira_bacc": "U-LiRA balanced acc.",
    "mia_rmia": "RMIA AUC",
    "mia_rmia_tpr_0_01": "RMIA TPR @ 1% FPR",
    "mia_whitebox": "MIA white-box",
    "mia_whitebox_attacker_acc": "White-box attacker acc.",
    "kl_to_retrain": "KL to retrain",
    "js_to_retrain": "JS to retrain",
    "activation_distance": "Activation dist. to retrain",
    "cka_retrain": "CKA to retrain",
    "cka_original": "CKA to original",
    "probe_forget_acc": "Linear-probe forget acc.",
    "knn_forget_acc": "5-NN forget acc.",
    "zrf": "ZRF",
    "weight_distance_original": "Weight dist. to original",
    "weight_distance_retrain": "Weight dist. to retrain",
    "gap_to_retrain": "Gap to retrain",
    "unlearn_seconds": "Time (s)",
    "speedup_vs_retrain": "Speed-up ×",
}
MAX_LABEL = 28
# the per-example membership scores of the forget-sample table (engine.runner.breakdowns.SCORE_COLUMNS): higher =
# the model looks more like one that unlearned the sample than like one never trained on it
SCORE_LABELS: dict[str, str] = {"ulira_score": "U-LiRA score", "rmia_score": "RMIA score",
                                "shadow_score": "Shadow-attack score"}
SCORE_HELP: dict[str, str] = {
    "ulira_score": "U-LiRA: log likelihood ratio of the model's confidence under the unlearned shadows vs the "
                   "shadow retrains (0 = cannot tell)",
    "rmia_score": "RMIA: share of population samples the sample dominates against the shadow retrains (0 to 1)",
    "shadow_score": "PGU's shadow attacker: its membership probability (0 to 1)",
}

PARAM_LABELS: dict[str, str] = {
    "forget_class": "Forgotten class",
    "forget_classes": "Forgotten classes",
    "forget_group": "Forgotten group",
    "fraction": "Forget fraction",
    "count": "Forget count",
    "classes": "Classes",
    "lr": "Learning rate",
    "start_lr": "Start learning rate",
    "end_lr": "End learning rate",
    "repair_lr": "Repair learning rate",
    "vae_lr": "VAE learning rate",
    "lr_decay_epochs": "LR decay epochs",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "forget_batch_size": "Forget batch size",
    "weight_decay": "Weight decay",
    "seeds": "Seeds",
    "seed": "Seed",
    "labelled_fraction": "Labelled fraction",
    "shadow_models": "Shadow models",
    "ulira_shadows": "U-LiRA shadow pairs",
    "feature_audit": "Representation audit",
    "lambda_": "Lambda",
    "lam": "Lambda",
    "eps": "Epsilon",
    "k": "k",
    "p": "p",
}
# words kept upper-case by the generic fallback of param_label / metric_label
ACRONYMS = frozenset({"lr", "mia", "kl", "auc", "asr", "vae", "svc", "mlp", "cnn", "sgd", "ua", "ra", "ue", "l1", "l2",
                      "id", "roc", "gpu", "cpu", "cka", "zrf", "tpr", "fpr", "rmia", "js", "knn"})

HIGHER, LOWER, CLOSER = "higher", "lower", "closer to retrain"
CANNOT_TELL = "{ideal:g} = attacker cannot tell"


@functools.lru_cache(maxsize=1)
def _catalogue() -> dict[str, dict[str, object]]:
    from engine import api  # lazily: importing this module stays cheap

    return {str(r["key"]): dict(r) for _, r in api.metric_catalogue().iterrows()}


def _humanise(name: str) -> str:
    words = [w for w in name.strip("_").split("_") if w]
    out = [w.upper() if w.lower() in ACRONYMS else w for w in words]
    if out and out[0] == words[0]:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def metric_ideal(key: str) -> float | None:
    """The catalogue's fixed ideal value of metric ``key`` (0.5 for the attacks where 0.5 = chance), else None."""
    ideal = _catalogue().get(key, {}).get("ideal")
    try:
        value = float(ideal)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def metric_label(key: str) -> str:
    """Short readable name of metric ``key`` ("forget_acc" -> "Forget acc."); ``<key>_std`` -> "<label> std"."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    if key.endswith("_std") and key[:-4]:
        return f"{metric_label(key[:-4])} std"
    title = _catalogue().get(key, {}).get("title")
    return str(title) if title else _humanise(key)


def metric_target(key: str) -> str:
    """What value of metric ``key`` is best: "0.5 = attacker cannot tell", "closer to retrain", "higher" or
    "lower" (from the catalogue's ``ideal`` and ``direction``; "" for a key it does not know)."""
    ideal = metric_ideal(key)
    if ideal is not None:
        return CANNOT_TELL.format(ideal=ideal)
    direction = str(_catalogue().get(key, {}).get("direction") or "")
    return {"higher": HIGHER, "lower": LOWER, "closer_to_retrain": CLOSER}.get(direction, direction.replace("_", " "))


def metric_help(key: str) -> str:
    """The metric's full catalogue title, its key and what value is best (a column header's tooltip)."""
    title = str(_catalogue().get(key, {}).get("title") or metric_label(key))
    target = metric_target(key)
    return f"{title} (`{key}`)" + (f"; best: {target}" if target else "")


def param_label(name: str) -> str:
    """Readable name of a config parameter ("forget_class" -> "Forgotten class", "lr" -> "Learning rate");
    otherwise underscores become spaces, the first word is capitalised and acronyms (LR, MIA, KL) stay upper-case."""
    return PARAM_LABELS.get(name) or _humanise(name)
