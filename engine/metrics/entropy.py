"""Predictive entropy on the forget set.

``forget_entropy`` = mean Shannon entropy, in nats, of the evaluated model's softmax
distribution on the forget samples: H(p) = -sum_k p_k log p_k. This is UGradSL's H
(Di et al., "Label Smoothing Improves Machine Unlearning") and the per-sample values are
PGU's entropy distributions (seed 003 figures). Uniform over K classes gives ln K, a one-hot
prediction gives 0.
"""

from __future__ import annotations

import numpy as np

from engine.metrics.base import METRICS, NON_NEGATIVE, EvalInputs, MetricInfo, MetricValue, not_applicable


def entropy_nats(logits: np.ndarray) -> np.ndarray:
    """Row-wise Shannon entropy (nats) of softmax(logits), via a stable log-softmax."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    return np.maximum(-(p * log_p).sum(axis=1), 0.0)


def forget_entropy(inp: EvalInputs) -> MetricValue:
    """Mean softmax entropy on the forget set; per-sample entropies."""
    idx = np.asarray(inp.forget_idx, dtype=np.int64)
    if len(idx) == 0:
        return not_applicable("the forget set is empty")
    h = entropy_nats(inp.logits_train[idx])
    return MetricValue(float(h.mean()), h)


METRICS.register(MetricInfo(
        key="forget_entropy",
        title="Forget-set entropy (nats)",
        direction="closer_to_retrain",
        fn=forget_entropy,
        description="Mean Shannon entropy (nats) of the softmax output on the forget set; "
        "per-sample entropies are kept (ln K = uniform, 0 = one-hot).",
        papers="UGradSL: H; PGU: entropy distributions",
        group="entropy",
        range=NON_NEGATIVE,
    ),
)
