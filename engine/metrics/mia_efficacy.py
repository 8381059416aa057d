"""MIA-Efficacy: Unlearn-Sparse's confidence-based SVC membership attack.

Jia et al. 2023, "Model Sparsity Can Simplify Machine Unlearning" (official ``evaluation/SVC_MIA.py``, called
from ``main_forget.py``), as reported by UGradSL (Di et al.) in its "MIA" column and by SalUn.

- Feature: the softmax probability of the sample's label ("confidence"), one float64 column.
- Attacker: ``sklearn.svm.SVC(C=3, gamma='auto', kernel='rbf')`` fitted on
  shadow_train (label 1, member) = retain samples, and shadow_test (label 0, non-member) =
  the test split **without the samples of the forgotten classes** (``forget_classes``, the classes a
  ``class``/``within_class`` 100 % scenario removes entirely): the official data loaders drop the
  forgotten class from the test set in class-wise forgetting (``dataset.py``: ``test_set.data =
  test_set.data[test_set.targets != class_to_replace]`` when the whole class is replaced), so the
  attacker never learns "that class = non-member". Sample-level and ``subclass`` scenarios
  (``forget_classes`` empty) keep the whole test split.
- Efficacy = the share of forget samples the attacker judges non-member
  (1 - mean prediction). Higher means less membership information; the retrained model
  gives the reference value, so the direction is "closer to retrain".

``mia_efficacy`` uses the true labels everywhere. ``mia_efficacy_observed`` (``noisy_label`` paradigm only)
takes the confidence of the training samples (retain members and the scored forget samples) at the
*observed* label the model was fitted on; test samples keep their true labels (the test split is never
noised). Everything else is shared (:func:`svc_efficacy`).

Deviation from the official code, on purpose: the official code takes the *first* |test|
retain samples in dataset order; we take a random subset of size min(|retain|, |non-member test|)
drawn with ``np.random.default_rng(inp.seed).choice(retain, size, replace=False)`` (then sorted) so that
the result does not depend on the dataset's storage order. When |retain| <= |non-member test| every
retain sample is a member.
"""

from __future__ import annotations

import numpy as np

from engine.metrics.base import (
    METRICS,
    OBSERVED_ONLY,
    UNIT,
    EvalInputs,
    MetricInfo,
    MetricValue,
    not_applicable,
    observed_labels,
    softmax,
)


def true_label_confidence(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Softmax probability of label ``y`` (Unlearn-Sparse's 'confidence'), shaped (n, 1), float64."""
    p = softmax(logits)
    y = np.asarray(y, dtype=np.int64)
    return p[np.arange(len(y)), y].astype(np.float64).reshape(-1, 1)


def non_member_test(inp: EvalInputs) -> np.ndarray:
    """Test samples the attacker trains on as non-members: all but those of ``forget_classes`` (sorted)."""
    y_test = np.asarray(inp.y_test)
    return np.flatnonzero(~np.isin(y_test, np.asarray(inp.forget_classes, dtype=np.int64))).astype(np.int64)


def svc_efficacy(inp: EvalInputs, y_train: np.ndarray) -> MetricValue:
    """Unlearn-Sparse SVC_MIA 'confidence' efficacy with training-split labels ``y_train`` (true or observed)."""
    forget = np.asarray(inp.forget_idx, dtype=np.int64)
    retain = np.asarray(inp.retain_idx, dtype=np.int64)
    test = non_member_test(inp)
    if len(forget) == 0:
        return not_applicable("the forget set is empty")
    if len(retain) == 0 or len(test) == 0:
        return not_applicable("the attacker needs retain samples and test samples (outside the forgotten classes) "
                              "to train on")
    y_train = np.asarray(y_train)
    rng = np.random.default_rng(inp.seed)
    n_shadow = min(len(retain), len(test))
    shadow_in = np.sort(rng.choice(retain, size=n_shadow, replace=False))
    x_in = true_label_confidence(inp.logits_train[shadow_in], y_train[shadow_in])
    x_out = true_label_confidence(inp.logits_test[test], np.asarray(inp.y_test)[test])
    x = np.concatenate([x_in, x_out])
    y = np.concatenate([np.ones(len(x_in)), np.zeros(len(x_out))])
    from sklearn.svm import SVC  # imported on use: keeps a cached run's start-up fast

    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(x, y)
    pred = clf.predict(true_label_confidence(inp.logits_train[forget], y_train[forget])).astype(np.float64)
    return MetricValue(float(1.0 - pred.mean()), pred)


def mia_efficacy(inp: EvalInputs) -> MetricValue:
    """Share of forget samples predicted non-member by the confidence SVC attacker (true labels)."""
    return svc_efficacy(inp, inp.y_train)


def mia_efficacy_observed(inp: EvalInputs) -> MetricValue:
    """:func:`mia_efficacy` with the training samples' confidence at their observed (noisy) label."""
    y = observed_labels(inp)
    return not_applicable(OBSERVED_ONLY) if y is None else svc_efficacy(inp, y)


_DESCRIPTION = ("Unlearn-Sparse SVC_MIA 'confidence' efficacy: an RBF SVC (C=3) trained on the {label} probability "
                "of retain (member) vs test (non-member) samples; value = share of forget samples judged non-member. "
                "In class-wise forgetting the forgotten classes' test samples are left out of the non-members (as "
                "the official code's test set). Per-sample: the attacker's membership prediction (1 = member). "
                "Retain shadow set: a seeded random subset of size min(|retain|, |non-member test|) (official: the "
                "first |test|).")
METRICS.register(MetricInfo(
        key="mia_efficacy",
        title="MIA efficacy (SVC on confidence)",
        direction="closer_to_retrain",
        fn=mia_efficacy,
        description=_DESCRIPTION.format(label="true-label"),
        papers="UGradSL: MIA (higher = less information); SalUn / Unlearn-Sparse: MIA-Efficacy",
        ideal=None,
        group="privacy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="mia_efficacy_observed",
        title="MIA efficacy (SVC on confidence, observed labels)",
        direction="closer_to_retrain",
        fn=mia_efficacy_observed,
        description=_DESCRIPTION.format(label="observed-label (noisy_label paradigm only: the noisy training label "
                                              "for retain and forget samples, the true label for test samples)"),
        papers="UGradSL / SalUn / Unlearn-Sparse: MIA-Efficacy, here with the labels the attacked model was trained "
        "on (their papers train on clean labels; mia_efficacy is the true-label version)",
        ideal=None,
        group="privacy",
        range=UNIT,
    ),
)
