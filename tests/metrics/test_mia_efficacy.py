import dataclasses

import numpy as np

from engine.metrics import METRICS
from engine.metrics.mia_efficacy import mia_efficacy, true_label_confidence
from tests.metrics.conftest import make_inputs


def test_confidence_feature():
    z = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    x = true_label_confidence(z, np.array([0, 1]))
    assert x.shape == (2, 1) and x.dtype == np.float64
    np.testing.assert_allclose(x[:, 0], [0.7, 0.1])


def test_forget_like_retain_gives_zero():
    # retain: very confident; test: unsure; forget looks like retain -> judged members
    inp = make_inputs("class", retain_margin=10.0, forget_margin=10.0, test_margin=0.0)
    r = mia_efficacy(inp)
    assert r.value < 0.05
    assert r.per_sample.shape == (len(inp.forget_idx),)
    assert set(np.unique(r.per_sample)) <= {0.0, 1.0}
    assert np.isclose(r.value, 1.0 - r.per_sample.mean())


def test_forget_like_test_gives_one():
    inp = make_inputs("class", retain_margin=10.0, forget_margin=-3.0, test_margin=-3.0)
    assert mia_efficacy(inp).value > 0.95


def test_deterministic_per_seed():
    inp = make_inputs("random", retain_margin=3.0, forget_margin=2.0, test_margin=2.0)
    a, b = mia_efficacy(inp), mia_efficacy(inp)
    assert a.value == b.value
    np.testing.assert_array_equal(a.per_sample, b.per_sample)
    assert 0.0 <= mia_efficacy(dataclasses.replace(inp, seed=7)).value <= 1.0


def test_not_applicable_without_forget_or_test():
    inp = make_inputs("class")
    r = mia_efficacy(dataclasses.replace(inp, forget_idx=np.array([], dtype=np.int64)))
    assert r.value is None and r.reason


def test_metadata():
    info = METRICS.get("mia_efficacy")
    assert info.group == "privacy" and info.ideal is None and info.direction == "closer_to_retrain"
    assert "UGradSL" in info.papers
