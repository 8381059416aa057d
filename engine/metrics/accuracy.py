"""Accuracy metrics on the forget, retain and test sets.

Definitions (DESIGN.md "Metric definitions"; CATALOGUE.md name table):

- ``forget_acc``: top-1 accuracy on the training samples ``forget_idx``. UDRU (seed 000)
  "unlearning data" acc; LAF (001) Train_f; UGradSL (002) UA = 1 - forget_acc; PGU (003) and
  PPU (004) forget error = 1 - forget_acc.
- ``retain_acc``: accuracy on ``retain_idx``. LAF Train_r, UGradSL RA, PGU/PPU retain error.
- ``retain_other_classes_acc``: UDRU's "remaining data" acc: retain samples whose label is not
  in ``touched_classes`` (not applicable when every class is touched).
- ``test_acc``: accuracy on the whole test split. LAF Test, UGradSL TA, PGU/PPU test error.
- ``test_forget_acc`` / ``test_retain_acc``: test samples inside / outside
  ``test_forget_mask`` (class and subclass scenarios only). LAF Test_f / Test_r.

All accuracies use the true labels and the arg-max of the evaluated model's logits, except:

- ``forget_acc_observed`` / ``retain_acc_observed``: the same sets scored against the *observed* training
  labels ``y_train_observed`` (``noisy_label`` paradigm only: the noisy labels the model was fitted on;
  DESIGN.md "Evaluation protocol", observed vs true labels). LAF (001) Table 3 (noisy label removal)
  reports Train_f against the noisy labels: the retrained model, which never saw the flipped labels, scores
  ~0 % there (0.17 % on DIGITS) although it classifies those samples correctly. Not applicable under the
  other paradigms.
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


def correct(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample correctness (0.0 / 1.0) of the arg-max prediction."""
    return (np.asarray(logits).argmax(axis=1) == np.asarray(y)).astype(np.float64)


def _acc(logits: np.ndarray, y: np.ndarray, what: str, per_sample: bool = False) -> MetricValue:
    if len(y) == 0:
        return not_applicable(f"the {what} is empty")
    c = correct(logits, y)
    return MetricValue(float(c.mean()), c if per_sample else None)


def forget_accuracy(inp: EvalInputs, y_train: np.ndarray) -> MetricValue:
    """Accuracy on the forget set against the training labels ``y_train`` (true or observed); per-sample."""
    idx = np.asarray(inp.forget_idx, dtype=np.int64)
    return _acc(inp.logits_train[idx], np.asarray(y_train)[idx], "forget set", per_sample=True)


def retain_accuracy(inp: EvalInputs, y_train: np.ndarray) -> MetricValue:
    """Accuracy on the retain set against the training labels ``y_train`` (true or observed)."""
    idx = np.asarray(inp.retain_idx, dtype=np.int64)
    return _acc(inp.logits_train[idx], np.asarray(y_train)[idx], "retain set")


def forget_acc(inp: EvalInputs) -> MetricValue:
    """Accuracy on the forget set (true labels); per-sample correctness."""
    return forget_accuracy(inp, inp.y_train)


def retain_acc(inp: EvalInputs) -> MetricValue:
    """Accuracy on the retain set (true labels)."""
    return retain_accuracy(inp, inp.y_train)


def forget_acc_observed(inp: EvalInputs) -> MetricValue:
    """Accuracy on the forget set against the observed (noisy) training labels: LAF Table 3's Train_f."""
    y = observed_labels(inp)
    return not_applicable(OBSERVED_ONLY) if y is None else forget_accuracy(inp, y)


def retain_acc_observed(inp: EvalInputs) -> MetricValue:
    """Accuracy on the retain set against the observed (noisy) training labels."""
    y = observed_labels(inp)
    return not_applicable(OBSERVED_ONLY) if y is None else retain_accuracy(inp, y)


def retain_other_classes_acc(inp: EvalInputs) -> MetricValue:
    """Accuracy on retain samples of classes without any forget sample (UDRU's "remaining data")."""
    idx = np.asarray(inp.retain_idx, dtype=np.int64)
    y = inp.y_train[idx]
    keep = ~np.isin(y, np.asarray(inp.touched_classes, dtype=np.int64))
    if not keep.any():
        return not_applicable("every retain sample belongs to a class touched by the forget set")
    return _acc(inp.logits_train[idx[keep]], y[keep], "set of untouched-class retain samples")


def test_acc(inp: EvalInputs) -> MetricValue:
    """Accuracy on the whole test split."""
    return _acc(inp.logits_test, inp.y_test, "test split")


def _test_part(inp: EvalInputs, inside: bool) -> MetricValue:
    if inp.test_forget_mask is None:
        return not_applicable("sample-level scenario: the test split has no forget part")
    mask = np.asarray(inp.test_forget_mask, dtype=bool)
    if not inside:
        mask = ~mask
    part = "forget" if inside else "retain"
    return _acc(inp.logits_test[mask], inp.y_test[mask], f"test {part} part")


def test_forget_acc(inp: EvalInputs) -> MetricValue:
    """Accuracy on test samples of the forgotten class(es) / subclass."""
    return _test_part(inp, inside=True)


def test_retain_acc(inp: EvalInputs) -> MetricValue:
    """Accuracy on the remaining test samples."""
    return _test_part(inp, inside=False)


# Names starting with ``test_`` would be collected by pytest wherever a test module imports them.
for _fn in (test_acc, test_forget_acc, test_retain_acc):
    _fn.__test__ = False  # type: ignore[attr-defined]

METRICS.register(MetricInfo(
        key="forget_acc",
        title="Forget accuracy",
        direction="closer_to_retrain",
        fn=forget_acc,
        description="Top-1 accuracy on the forget set (training samples to be forgotten); "
        "per-sample correctness is kept.",
        papers="UDRU: unlearning data acc; LAF: Train_f; UGradSL: UA = 1 - forget_acc; "
        "PGU: forget error = 1 - forget_acc; PPU: forget error = 1 - forget_acc",
        group="accuracy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="retain_acc",
        title="Retain accuracy",
        direction="higher",
        fn=retain_acc,
        description="Top-1 accuracy on the retain set (training samples kept).",
        papers="LAF: Train_r; UGradSL: RA; PGU: retain error = 1 - retain_acc; PPU: retain error = 1 - retain_acc",
        group="accuracy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="forget_acc_observed",
        title="Forget accuracy (observed labels)",
        direction="closer_to_retrain",
        fn=forget_acc_observed,
        description="Top-1 accuracy on the forget set against the observed training labels the model was fitted "
        "on (the noisy labels; noisy_label paradigm only). A retrained model that never saw a flipped label scores "
        "~0 on it while classifying the sample correctly. Per-sample correctness is kept.",
        papers="LAF Table 3 (noisy label removal): Train_f is accuracy w.r.t. the noisy labels (Retrain ~0 %); "
        "forget_acc is the true-label version",
        group="accuracy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="retain_acc_observed",
        title="Retain accuracy (observed labels)",
        direction="higher",
        fn=retain_acc_observed,
        description="Top-1 accuracy on the retain set against the observed training labels the model was fitted "
        "on (the noisy labels; noisy_label paradigm only); retain_acc is the true-label version.",
        papers="LAF Table 3 (noisy label removal): Train_r is accuracy w.r.t. the training labels (there only the "
        "forget set is mislabelled, so its retain labels are the true ones); retain_acc is the true-label version",
        group="accuracy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="retain_other_classes_acc",
        title="Retain accuracy (untouched classes)",
        direction="higher",
        fn=retain_other_classes_acc,
        description="Top-1 accuracy on retain samples whose class has no forget sample; "
        "not applicable when the forget set touches every class.",
        papers="UDRU: remaining data acc (other classes only)",
        group="accuracy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="test_acc",
        title="Test accuracy",
        direction="higher",
        fn=test_acc,
        description="Top-1 accuracy on the whole test split.",
        papers="LAF: Test; UGradSL: TA; PGU: test error = 1 - test_acc; PPU: test error = 1 - test_acc",
        group="accuracy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="test_forget_acc",
        title="Test accuracy (forgotten classes)",
        direction="closer_to_retrain",
        fn=test_forget_acc,
        description="Top-1 accuracy on test samples of the forgotten class(es)/subclass; "
        "class and subclass scenarios only.",
        papers="LAF: Test_f",
        group="accuracy",
        range=UNIT,
    ),
)
METRICS.register(MetricInfo(
        key="test_retain_acc",
        title="Test accuracy (remaining classes)",
        direction="higher",
        fn=test_retain_acc,
        description="Top-1 accuracy on test samples outside the forgotten class(es)/subclass; "
        "class and subclass scenarios only.",
        papers="LAF: Test_r",
        group="accuracy",
        range=UNIT,
    ),
)
