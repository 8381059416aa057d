"""js_to_retrain and activation_distance (issue 16 deliverable 5) against scipy / numpy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from engine.metrics import METRICS, evaluate_all
from engine.metrics.output_distance import activation_distance, js_to_retrain
from tests.metrics.conftest import make_inputs


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_js_and_activation_distance_match_scipy_and_numpy():
    inp = make_inputs("random", forget_margin=1.0)
    idx = inp.forget_idx
    p, q = _softmax(inp.logits_train[idx]), _softmax(inp.retrain_logits_train[idx])
    want_js = np.mean([jensenshannon(a, b) ** 2 for a, b in zip(p, q, strict=True)])  # scipy: sqrt of JS (nats)
    got = js_to_retrain(inp)
    assert got.value == pytest.approx(want_js, rel=1e-9) and got.per_sample.shape == (len(idx),)
    assert activation_distance(inp).value == pytest.approx(np.linalg.norm(p - q, axis=1).mean(), rel=1e-9)
    same = dataclasses.replace(inp, retrain_logits_train=inp.logits_train)
    assert js_to_retrain(same).value == pytest.approx(0.0, abs=1e-12)
    assert activation_distance(same).value == pytest.approx(0.0, abs=1e-12)


def test_registered_without_any_extra_job():
    for key in ("js_to_retrain", "activation_distance"):
        info = METRICS.get(key)
        assert info.group == "distance" and info.needs_retrain and info.preparation is None
    inp = make_inputs("class", with_retrain=False)
    out = evaluate_all(inp, ["js_to_retrain", "activation_distance"])
    assert all(v.value is None and "retrain" in v.reason for v in out.values())
