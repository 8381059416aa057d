"""Output distances on the forget set that peers report (issue 16 deliverable 5).

- ``js_to_retrain``: mean Jensen-Shannon divergence (nats, in [0, ln 2]) between the model's and the retrained
  model's softmax outputs on the forget samples; 0 = the same outputs as retrain. Used as an output distance to the
  retrained model by Chundawat et al. 2023 (bad teacher) and later benchmarks.
- ``activation_distance``: mean L2 distance between the two softmax vectors on the forget samples (Chundawat et al.
  2023, "activation distance"; Golatkar et al. 2020); 0 = retrain's outputs; at most sqrt(2).

ZRF (Chundawat et al. 2023) needs a randomly initialised model: it is part of the representation audit
(:mod:`engine.metrics.representation`, opt-in). Pure functions of the run's logits (:mod:`engine.audit.distances`).
"""

from __future__ import annotations

import math

import numpy as np

from engine.audit.distances import activation_distance as _activation_distance
from engine.audit.distances import js_divergence
from engine.metrics.base import (
    METRICS,
    NON_NEGATIVE,
    EvalInputs,
    MetricInfo,
    MetricValue,
    not_applicable,
)

_NO_RETRAIN = "needs the retrained reference's outputs, which this run does not have"


def _forget_outputs(inp: EvalInputs) -> tuple[np.ndarray, np.ndarray] | MetricValue:
    """The model's and retrain's logits on the forget set, or the not-applicable value saying why there are none."""
    if inp.retrain_logits_train is None:
        return not_applicable(_NO_RETRAIN)
    idx = np.asarray(inp.forget_idx, dtype=np.int64)
    if len(idx) == 0:
        return not_applicable("the forget set is empty")
    return inp.logits_train[idx], inp.retrain_logits_train[idx]


def js_to_retrain(inp: EvalInputs) -> MetricValue:
    """Mean JS divergence between the model's and retrain's softmax outputs on the forget set."""
    pair = _forget_outputs(inp)
    if isinstance(pair, MetricValue):
        return pair
    js = js_divergence(*pair)
    return MetricValue(float(js.mean), js.per_example)


def activation_distance(inp: EvalInputs) -> MetricValue:
    """Mean L2 distance between the model's and retrain's softmax outputs on the forget set."""
    pair = _forget_outputs(inp)
    return pair if isinstance(pair, MetricValue) else MetricValue(_activation_distance(*pair))


_COMMON = dict(needs_retrain=True, group="distance")
METRICS.register(MetricInfo(
    key="js_to_retrain", title="JS divergence to retrain (forget set)", direction="lower", fn=js_to_retrain,
    description="Mean Jensen-Shannon divergence (nats) between the model's and the retrained model's softmax "
                "outputs on the forget samples; 0 = retrain's outputs. Per-sample: JS per forget sample.",
    papers="Chundawat et al. 2023 (bad teacher): JS divergence; output distance to retrain",
    ideal=0.0, range=(0.0, math.log(2.0)), **_COMMON))
METRICS.register(MetricInfo(
    key="activation_distance", title="Activation distance to retrain (forget set)", direction="lower",
    fn=activation_distance,
    description="Mean L2 distance between the model's and the retrained model's softmax vectors on the forget "
                "samples; 0 = retrain's outputs, at most sqrt(2).",
    papers="Chundawat et al. 2023; Golatkar et al. 2020: activation distance",
    ideal=0.0, range=NON_NEGATIVE, **_COMMON))
