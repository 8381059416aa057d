import dataclasses

import numpy as np
from scipy.special import softmax as scipy_softmax
from scipy.stats import entropy as scipy_entropy

from engine.metrics import METRICS
from engine.metrics.entropy import entropy_nats, forget_entropy
from tests.metrics.conftest import K, make_inputs


def test_uniform_gives_log_k_and_onehot_gives_zero():
    inp = make_inputs("class")
    idx = inp.forget_idx
    lt = inp.logits_train.copy()
    lt[idx] = 0.0  # uniform softmax
    r = forget_entropy(dataclasses.replace(inp, logits_train=lt))
    assert np.isclose(r.value, np.log(K))
    np.testing.assert_allclose(r.per_sample, np.log(K))
    assert len(r.per_sample) == len(idx)

    lt[idx] = 0.0
    lt[idx, inp.y_train[idx]] = 1000.0  # one-hot, must not give NaN
    r = forget_entropy(dataclasses.replace(inp, logits_train=lt))
    assert r.value < 1e-9 and np.all(np.isfinite(r.per_sample))


def test_against_scipy():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, size=(50, K))
    np.testing.assert_allclose(entropy_nats(z), scipy_entropy(scipy_softmax(z, axis=1), axis=1), rtol=1e-10)


def test_confident_forget_has_lower_entropy():
    sure = forget_entropy(make_inputs("random", forget_margin=8.0)).value
    unsure = forget_entropy(make_inputs("random", forget_margin=0.0)).value
    assert sure < unsure <= np.log(K)


def test_metadata():
    info = METRICS.get("forget_entropy")
    assert info.group == "entropy" and info.direction == "closer_to_retrain" and "H" in info.papers
