import dataclasses

import numpy as np

from engine.metrics import METRICS
from engine.metrics.mia_asr import mia_asr, sorted_softmax
from tests.metrics.conftest import make_inputs


def test_sorted_softmax():
    x = sorted_softmax(np.log(np.array([[0.2, 0.5, 0.3]])))
    np.testing.assert_allclose(x, [[0.2, 0.3, 0.5]])


def test_separable_gives_high_asr():
    inp = make_inputs("class", retain_margin=10.0, forget_margin=10.0, test_margin=0.0)
    r = mia_asr(inp)
    assert r.value > 0.9
    assert r.per_sample.shape == (len(inp.forget_idx),)
    assert set(np.unique(r.per_sample)) <= {0.0, 1.0}


def test_same_distribution_near_half():
    inp = make_inputs("random", n_train=2000, n_test=1000, retain_margin=2.0, forget_margin=2.0, test_margin=2.0)
    assert abs(mia_asr(inp).value - 0.5) < 0.12


def test_deterministic_per_seed():
    inp = make_inputs("random", n_train=1000, n_test=400, retain_margin=4.0, forget_margin=3.0, test_margin=2.0)
    a, b = mia_asr(inp), mia_asr(inp)
    assert a.value == b.value
    np.testing.assert_array_equal(a.per_sample, b.per_sample)


def test_not_applicable_with_tiny_groups():
    inp = make_inputs("class")
    r = mia_asr(dataclasses.replace(inp, forget_idx=inp.forget_idx[:4]))
    assert r.value is None and r.reason
    few_test = dataclasses.replace(
        inp, logits_test=inp.logits_test[:8], y_test=inp.y_test[:8], test_forget_mask=inp.test_forget_mask[:8]
    )
    assert mia_asr(few_test).value is None


def test_metadata():
    info = METRICS.get("mia_asr")
    assert info.ideal == 0.5 and info.group == "privacy" and "ASR" in info.papers
