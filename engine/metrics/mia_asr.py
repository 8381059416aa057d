"""Attack success rate: LAF's XGBoost membership attack on sorted softmax vectors.

LAF (seed 001; Shen et al. 2024, "Label-Agnostic Forgetting") reports the accuracy of an
``XGBClassifier(n_estimators=100, objective='binary:logistic')`` attacker as "ASR".

Our version of the official protocol (section 7.3 of methods-from-official-code.md), made
balanced and seeded (``np.random.default_rng(inp.seed)``, ``random_state=inp.seed``):

- Feature: the softmax vector of each sample, sorted ascending per row (label-free).
- The test split is randomly permuted (``rng.permutation(n_test)``) into two halves: A = the first
  ``n_test // 2`` (attack-training non-members) and B = the rest (evaluation non-members), so no test
  sample is used both to train and to score.
- Attack training: m = min(|forget|, |A|, |retain|, 5000) random retain samples (label 1;
  ``rng.choice(retain, m, replace=False)``) and the first m samples of A (label 0).
- Evaluation: the forget samples (label 1) and the samples of B (label 0), the larger group
  randomly subsampled to the smaller one's size (forget first, then B; ``rng.choice`` without
  replacement, sorted).
- Value: the attacker's accuracy on that evaluation set. 0.5 = chance (LAF: the retrained
  model is near 50 %). Per-sample: the attacker's membership prediction (1 = member) for
  every forget sample.

The official code fits on 99 % of the training data and can end unbalanced for forget sets
larger than about 5000 samples; both are fixed here.

The attack uses no label (sorted softmax vectors), so it has no observed-label variant: under
``noisy_label`` its value is the same whichever labels one takes.
"""

from __future__ import annotations

import numpy as np

from engine.metrics.base import METRICS, UNIT, EvalInputs, MetricInfo, MetricValue, not_applicable, softmax

MIN_GROUP = 5
MAX_ATTACK_TRAIN = 5000


def sorted_softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax vectors sorted ascending per row (float64)."""
    return np.sort(softmax(logits), axis=1)


def mia_asr(inp: EvalInputs) -> MetricValue:
    """Accuracy of the XGBoost attacker at telling forget samples from unseen test samples."""
    forget = np.asarray(inp.forget_idx, dtype=np.int64)
    retain = np.asarray(inp.retain_idx, dtype=np.int64)
    n_test = len(inp.y_test)
    rng = np.random.default_rng(inp.seed)
    perm = rng.permutation(n_test)
    half_a, half_b = perm[: n_test // 2], perm[n_test // 2 :]
    m = min(len(forget), len(half_a), len(retain), MAX_ATTACK_TRAIN)
    n_eval = min(len(forget), len(half_b))
    if m < MIN_GROUP or n_eval < MIN_GROUP:
        return not_applicable(
            f"the attack needs at least {MIN_GROUP} samples per group (forget {len(forget)}, retain "
            f"{len(retain)}, test halves {len(half_a)}/{len(half_b)})"
        )
    members = rng.choice(retain, size=m, replace=False)
    x_train = np.concatenate([sorted_softmax(inp.logits_train[members]), sorted_softmax(inp.logits_test[half_a[:m]])])
    y_train = np.concatenate([np.ones(m, dtype=np.int64), np.zeros(m, dtype=np.int64)])
    from xgboost import XGBClassifier  # imported on use: keeps a cached run's start-up fast

    clf = XGBClassifier(n_estimators=100, objective="binary:logistic", random_state=inp.seed, n_jobs=1)
    clf.fit(x_train, y_train)

    x_forget = sorted_softmax(inp.logits_train[forget])
    pred_forget = clf.predict(x_forget).astype(np.float64)
    eval_in = np.arange(len(forget))
    if len(eval_in) > n_eval:
        eval_in = np.sort(rng.choice(eval_in, size=n_eval, replace=False))
    eval_out = half_b
    if len(eval_out) > n_eval:
        eval_out = np.sort(rng.choice(eval_out, size=n_eval, replace=False))
    pred_out = clf.predict(sorted_softmax(inp.logits_test[eval_out])).astype(np.float64)
    correct = np.concatenate([pred_forget[eval_in] == 1.0, pred_out == 0.0])
    return MetricValue(float(correct.mean()), pred_forget)


METRICS.register(MetricInfo(
        key="mia_asr",
        title="MIA attack success rate (XGBoost on sorted softmax)",
        direction="closer_to_retrain",
        fn=mia_asr,
        description="LAF's attack: XGBoost (100 trees) trained on ascending-sorted softmax vectors of retain "
        "(member) vs half of the test split (non-member); value = its accuracy on forget samples vs the other "
        "test half, balanced. 0.5 = chance. Per-sample: membership prediction per forget sample.",
        papers="LAF: ASR (attack success rate)",
        ideal=0.5,
        group="privacy",
        range=UNIT,
    ),
)
