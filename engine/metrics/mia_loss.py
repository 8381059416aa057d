"""Loss-based membership attack (logistic regression on per-sample losses).

SCRUB (Kurmanji et al. 2023, "Towards Unbounded Machine Unlearning") and AdaProb/PPU
(seed 004, ``MIA_experiments.ipynb``) ``membership_inference_attack``:

- Feature: per-sample cross-entropy loss under the true label, clipped to [-100, 100].
- Members (label 1): the forget samples. Non-members (label 0): test samples of the
  forgotten classes -- ``test_forget_mask`` when the scenario has one, else the test samples
  of ``forget_classes``, else of ``touched_classes``, else (none of those in the test split)
  the whole test split.
- The larger group is randomly subsampled to the smaller one's size (seeded).
- Attacker: ``LogisticRegression()`` scored with ``cross_val_score`` over
  ``StratifiedShuffleSplit(n_splits=5, test_size=0.1, random_state=seed)``.
- Value: mean cross-validated accuracy; 0.5 means the forget set looks like unseen data.

The balancing draw is ``np.random.default_rng(inp.seed).choice(n_group, size=n, replace=False)`` (sorted),
forget group first, then the test group (only the larger group is drawn from). The official code orders
the rows test-first; the split's per-class draws and hence the score do not depend on that order.

With only 5 samples per group, 10 % of the 10 samples is a single test sample, which a
stratified split cannot serve; the test size is then raised to 2 samples.

``mia_loss_acc`` uses the true labels. ``mia_loss_acc_observed`` (``noisy_label`` paradigm only) takes the
forget samples' losses at the *observed* label the model was fitted on (the noisy label); the test samples
keep their true labels (the test split is never noised) and the non-member selection is unchanged.
Everything else is shared (:func:`loss_attack`).
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
)

MIN_GROUP = 5


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy -log softmax(logits)[y], float64, numerically stable."""
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    y = np.asarray(y, dtype=np.int64)
    return lse - z[np.arange(len(y)), y]


def non_member_mask(inp: EvalInputs) -> np.ndarray:
    """Which test samples serve as non-members (see the module docstring)."""
    if inp.test_forget_mask is not None:
        return np.asarray(inp.test_forget_mask, dtype=bool)
    for classes in (inp.forget_classes, inp.touched_classes):
        if len(classes) > 0:
            mask = np.isin(inp.y_test, np.asarray(classes, dtype=np.int64))
            if mask.any():
                return mask
    return np.ones(len(inp.y_test), dtype=bool)


def loss_attack(inp: EvalInputs, y_train: np.ndarray) -> MetricValue:
    """SCRUB's LR-on-loss attack (forget vs test), the forget losses taken at training labels ``y_train``."""
    forget = np.asarray(inp.forget_idx, dtype=np.int64)
    test_sel = np.flatnonzero(non_member_mask(inp))
    if len(forget) < MIN_GROUP or len(test_sel) < MIN_GROUP:
        return not_applicable(
            f"the loss attack needs at least {MIN_GROUP} forget samples and {MIN_GROUP} non-member test "
            f"samples (have {len(forget)} and {len(test_sel)})"
        )
    loss_in = np.clip(cross_entropy(inp.logits_train[forget], np.asarray(y_train)[forget]), -100, 100)
    loss_out = np.clip(cross_entropy(inp.logits_test[test_sel], inp.y_test[test_sel]), -100, 100)
    rng = np.random.default_rng(inp.seed)
    n = min(len(loss_in), len(loss_out))
    if len(loss_in) > n:
        loss_in = loss_in[np.sort(rng.choice(len(loss_in), size=n, replace=False))]
    if len(loss_out) > n:
        loss_out = loss_out[np.sort(rng.choice(len(loss_out), size=n, replace=False))]
    x = np.concatenate([loss_in, loss_out]).reshape(-1, 1)
    y = np.concatenate([np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)])
    test_size: float | int = 0.1 if int(np.ceil(0.1 * len(y))) >= 2 else 2
    from sklearn.linear_model import LogisticRegression  # imported on use (start-up time)
    from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

    cv = StratifiedShuffleSplit(n_splits=5, test_size=test_size, random_state=inp.seed)
    scores = cross_val_score(LogisticRegression(), x, y, cv=cv, scoring="accuracy")
    return MetricValue(float(np.mean(scores)))


def mia_loss_acc(inp: EvalInputs) -> MetricValue:
    """Mean cross-validated accuracy of a logistic-regression attacker on losses (forget vs test; true labels)."""
    return loss_attack(inp, inp.y_train)


def mia_loss_acc_observed(inp: EvalInputs) -> MetricValue:
    """:func:`mia_loss_acc` with the forget samples' losses at their observed (noisy) training label."""
    y = observed_labels(inp)
    return not_applicable(OBSERVED_ONLY) if y is None else loss_attack(inp, y)


METRICS.register(MetricInfo(
        key="mia_loss_acc",
        title="MIA accuracy (logistic regression on losses)",
        direction="closer_to_retrain",
        fn=mia_loss_acc,
        description="SCRUB's membership attack: logistic regression on clipped per-sample cross-entropy "
        "losses, forget samples (member) vs test samples of the forgotten classes (non-member), balanced "
        "by seeded subsampling; mean accuracy over 5 stratified shuffle splits (10 % held out). 0.5 = "
        "indistinguishable from unseen data.",
        papers="PPU: MIA acc; SCRUB: MIA (LR on losses)",
        ideal=0.5,
        group="privacy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="mia_loss_acc_observed",
        title="MIA accuracy (logistic regression on losses, observed labels)",
        direction="closer_to_retrain",
        fn=mia_loss_acc_observed,
        description="mia_loss_acc with the forget samples' cross-entropy taken at the observed training label the "
        "model was fitted on (noisy_label paradigm only); test samples keep their true labels. 0.5 = "
        "indistinguishable from unseen data.",
        papers="PPU: MIA acc; SCRUB: MIA (LR on losses), here with the labels the attacked model was trained on "
        "(mia_loss_acc is the true-label version)",
        ideal=0.5,
        group="privacy",
        range=UNIT,
    ),
)
