"""Distances to the retrained reference model.

- ``kl_to_retrain``: mean over forget samples of KL(p_retrain || p_model), with p the softmax
  outputs (float64, clipped to 1e-12 before the logarithm); per-sample KL values kept.
- ``gap_to_retrain``: SalUn's "Avg. Gap" (Fan et al. 2024, "SalUn: Empowering Machine
  Unlearning via Gradient-based Weight Saliency"): the mean absolute difference between this
  run and the retrained model over forget_acc, retain_acc, test_acc and mia_efficacy
  (fractions, not percent). The retrain's values are computed with the same registered metric
  functions on a copy of the inputs whose logits are the retrain's (same seed, so the same
  random choices). A component that is not applicable on either side is left out.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.metrics import accuracy as _accuracy  # noqa: F401  (registers the components)
from engine.metrics import mia_efficacy as _mia_efficacy  # noqa: F401
from engine.metrics.base import (
    METRICS,
    NON_NEGATIVE,
    UNIT,
    EvalInputs,
    MetricInfo,
    MetricValue,
    not_applicable,
    softmax,
)

GAP_COMPONENTS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy")
_NO_RETRAIN = "needs the retrained reference's outputs, which this run does not have"


def kl_rows(p_ref: np.ndarray, p: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise KL(p_ref || p) in nats, both clipped to ``eps``."""
    a = np.clip(np.asarray(p_ref, dtype=np.float64), eps, None)
    b = np.clip(np.asarray(p, dtype=np.float64), eps, None)
    return (a * (np.log(a) - np.log(b))).sum(axis=1)


def kl_to_retrain(inp: EvalInputs) -> MetricValue:
    """Mean KL(retrain || model) of the softmax outputs on the forget set."""
    if inp.retrain_logits_train is None:
        return not_applicable(_NO_RETRAIN)
    idx = np.asarray(inp.forget_idx, dtype=np.int64)
    if len(idx) == 0:
        return not_applicable("the forget set is empty")
    kl = kl_rows(softmax(inp.retrain_logits_train[idx]), softmax(inp.logits_train[idx]))
    return MetricValue(float(kl.mean()), kl)


def gap_to_retrain(inp: EvalInputs) -> MetricValue:
    """SalUn's Avg. Gap over forget/retain/test accuracy and MIA efficacy."""
    if inp.retrain_logits_train is None or inp.retrain_logits_test is None:
        return not_applicable(_NO_RETRAIN)
    ref = dataclasses.replace(inp, logits_train=inp.retrain_logits_train, logits_test=inp.retrain_logits_test)
    gaps = []
    for key in GAP_COMPONENTS:
        fn = METRICS.get(key).fn
        mine = inp.own_values[key] if key in inp.own_values else fn(inp).value
        known = inp.retrain_values
        theirs = known[key] if known is not None and key in known else fn(ref).value
        if mine is not None and theirs is not None:
            gaps.append(abs(mine - theirs))
    if not gaps:
        return not_applicable("none of " + ", ".join(GAP_COMPONENTS) + " applies here")
    return MetricValue(float(np.mean(gaps)))


METRICS.register(MetricInfo(
        key="kl_to_retrain",
        title="KL to retrain (forget set)",
        direction="lower",
        fn=kl_to_retrain,
        description="Mean KL(p_retrain || p_model) in nats of the softmax outputs on the forget set; "
        "per-sample values kept.",
        papers="output-distribution distance to the retrained model (forget set)",
        needs_retrain=True,
        group="distance",
        range=NON_NEGATIVE,
    ),
)
METRICS.register(MetricInfo(
        key="gap_to_retrain",
        title="Avg. gap to retrain",
        direction="lower",
        fn=gap_to_retrain,
        description="Mean absolute difference to the retrained model over forget_acc, retain_acc, test_acc "
        "and mia_efficacy (fractions).",
        papers="SalUn: Avg. Gap",
        needs_retrain=True,
        group="distance",
        range=UNIT,
    ),
)
