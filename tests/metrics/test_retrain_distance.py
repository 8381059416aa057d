import dataclasses

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax
from scipy.stats import entropy as scipy_entropy

from engine.metrics import METRICS
from engine.metrics.mia_efficacy import mia_efficacy
from engine.metrics.retrain_distance import GAP_COMPONENTS, gap_to_retrain, kl_to_retrain
from tests.metrics.conftest import make_inputs


def test_kl_against_scipy():
    inp = make_inputs("class", forget_margin=6.0)
    r = kl_to_retrain(inp)
    idx = inp.forget_idx
    ref = scipy_entropy(
        scipy_softmax(inp.retrain_logits_train[idx], axis=1), scipy_softmax(inp.logits_train[idx], axis=1), axis=1
    )
    np.testing.assert_allclose(r.per_sample, ref, rtol=1e-6, atol=1e-9)
    assert np.isclose(r.value, ref.mean())
    assert r.value > 0


def test_kl_zero_for_identical_outputs():
    inp = make_inputs("class")
    same = dataclasses.replace(inp, retrain_logits_train=inp.logits_train + 3.0)  # softmax is shift-invariant
    assert abs(kl_to_retrain(same).value) < 1e-12


def test_gap_zero_when_logits_equal_retrain():
    inp = make_inputs("random")
    same = dataclasses.replace(inp, logits_train=inp.retrain_logits_train, logits_test=inp.retrain_logits_test)
    assert gap_to_retrain(same).value == 0.0


def test_gap_matches_hand_computation():
    # SalUn's Avg. Gap: mean |model - retrain| over UA (forget acc), RA (retain acc), TA (test acc), MIA-Efficacy
    assert GAP_COMPONENTS == ("forget_acc", "retain_acc", "test_acc", "mia_efficacy")
    inp = make_inputs("class", forget_margin=6.0)
    f, r = inp.forget_idx, inp.retain_idx

    def parts(z_train, z_test):
        acc = [np.mean(z_train[f].argmax(1) == inp.y_train[f]), np.mean(z_train[r].argmax(1) == inp.y_train[r]),
               np.mean(z_test.argmax(1) == inp.y_test)]
        eff = mia_efficacy(dataclasses.replace(inp, logits_train=z_train, logits_test=z_test)).value
        return np.array([*acc, eff])

    expected = np.abs(parts(inp.logits_train, inp.logits_test)
                      - parts(inp.retrain_logits_train, inp.retrain_logits_test)).mean()
    got = gap_to_retrain(inp).value
    assert np.isclose(got, expected) and got > 0


def test_gap_uses_known_values_and_leaves_out_missing_components():
    inp = make_inputs("class")
    mine = {"forget_acc": 0.2, "retain_acc": 0.9, "test_acc": 0.8, "mia_efficacy": 0.4}
    theirs = {"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.8, "mia_efficacy": 1.0}
    known = dataclasses.replace(inp, own_values=mine, retrain_values=theirs)
    assert gap_to_retrain(known).value == pytest.approx((0.2 + 0.1 + 0.0 + 0.6) / 4)
    missing = dataclasses.replace(known, retrain_values={**theirs, "mia_efficacy": None})
    assert gap_to_retrain(missing).value == pytest.approx((0.2 + 0.1 + 0.0) / 3)


def test_not_applicable_without_retrain():
    inp = make_inputs("class", with_retrain=False)
    for fn in (kl_to_retrain, gap_to_retrain):
        r = fn(inp)
        assert r.value is None and "retrain" in r.reason


def test_metadata():
    for key in ("kl_to_retrain", "gap_to_retrain"):
        info = METRICS.get(key)
        assert info.needs_retrain and info.direction == "lower" and info.group == "distance"
