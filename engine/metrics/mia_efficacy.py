"""MIA-Efficacy: Unlearn-Sparse's confidence-based SVC membership attack.

Jia et al. 2023, "Model Sparsity Can Simplify Machine Unlearning" (official ``SVC_MIA``),
as reported by UGradSL (Di et al.) in its "MIA" column and by SalUn.

- Feature: the softmax probability of the *true* label ("confidence"), one float64 column.
- Attacker: ``sklearn.svm.SVC(C=3, gamma='auto', kernel='rbf')`` fitted on
  shadow_train (label 1, member) = retain samples, and shadow_test (label 0, non-member) =
  the whole test split.
- Efficacy = the share of forget samples the attacker judges non-member
  (1 - mean prediction). Higher means less membership information; the retrained model
  gives the reference value, so the direction is "closer to retrain".

Deviation from the official code, on purpose: the official code takes the *first* |test|
retain samples in dataset order; we take a random subset of size min(|retain|, |test|)
drawn with ``np.random.default_rng(inp.seed)`` so that the result does not depend on the
dataset's storage order.
"""

from __future__ import annotations

import numpy as np

from engine.metrics.base import METRICS, EvalInputs, MetricInfo, MetricValue, not_applicable, softmax


def true_label_confidence(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Softmax probability of the true label, shaped (n, 1), float64."""
    p = softmax(logits)
    y = np.asarray(y, dtype=np.int64)
    return p[np.arange(len(y)), y].astype(np.float64).reshape(-1, 1)


def mia_efficacy(inp: EvalInputs) -> MetricValue:
    """Share of forget samples predicted non-member by the confidence SVC attacker."""
    forget = np.asarray(inp.forget_idx, dtype=np.int64)
    retain = np.asarray(inp.retain_idx, dtype=np.int64)
    n_test = len(inp.y_test)
    if len(forget) == 0:
        return not_applicable("the forget set is empty")
    if len(retain) == 0 or n_test == 0:
        return not_applicable("the attacker needs retain samples and test samples to train on")
    rng = np.random.default_rng(inp.seed)
    n_shadow = min(len(retain), n_test)
    shadow_in = np.sort(rng.choice(retain, size=n_shadow, replace=False))
    x_in = true_label_confidence(inp.logits_train[shadow_in], inp.y_train[shadow_in])
    x_out = true_label_confidence(inp.logits_test, inp.y_test)
    x = np.concatenate([x_in, x_out])
    y = np.concatenate([np.ones(len(x_in)), np.zeros(len(x_out))])
    from sklearn.svm import SVC  # imported on use: keeps a cached run's start-up fast

    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(x, y)
    pred = clf.predict(true_label_confidence(inp.logits_train[forget], inp.y_train[forget])).astype(np.float64)
    return MetricValue(float(1.0 - pred.mean()), pred)


METRICS.register(
    "mia_efficacy",
    MetricInfo(
        key="mia_efficacy",
        title="MIA efficacy (SVC on confidence)",
        direction="closer_to_retrain",
        fn=mia_efficacy,
        description="Unlearn-Sparse SVC_MIA 'confidence' efficacy: an RBF SVC (C=3) trained on the "
        "true-label probability of retain (member) vs test (non-member) samples; value = share of forget "
        "samples judged non-member. Per-sample: the attacker's membership prediction (1 = member). "
        "Retain shadow set: a seeded random subset of size min(|retain|, |test|) (official: the first |test|).",
        papers="UGradSL: MIA (higher = less information); SalUn / Unlearn-Sparse: MIA-Efficacy",
        ideal=None,
        group="privacy",
    ),
)
