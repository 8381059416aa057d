import dataclasses

import numpy as np
import pytest

from engine.errors import SpecError
from engine.metrics import METRICS, MetricValue, evaluate_all
from tests.metrics.conftest import make_inputs

EXPECTED = {
    "forget_acc",
    "retain_acc",
    "retain_other_classes_acc",
    "test_acc",
    "test_forget_acc",
    "test_retain_acc",
    "forget_entropy",
    "mia_efficacy",
    "mia_loss_acc",
    "mia_asr",
    "mia_shadow_auc",
    "mia_whitebox",
    "mia_whitebox_attacker_acc",
    "forget_acc_observed",
    "retain_acc_observed",
    "mia_efficacy_observed",
    "mia_loss_acc_observed",
    "kl_to_retrain",
    "gap_to_retrain",
    "unlearn_seconds",
    "speedup_vs_retrain",
}


def test_all_registered_with_metadata():
    assert EXPECTED <= set(METRICS.keys())
    for key, info in METRICS.items():
        assert info.key == key and info.title and info.description and info.papers
        assert info.direction in ("higher", "lower", "closer_to_retrain")


def test_evaluate_all_default_and_subset():
    inp = make_inputs("class")
    out = evaluate_all(inp)
    assert set(out) == set(METRICS.keys())
    for key, mv in out.items():
        assert isinstance(mv, MetricValue)
        if mv.value is None:
            assert mv.reason, key
        else:
            assert isinstance(mv.value, float) and np.isfinite(mv.value), key
    # fractions stay in [0, 1]
    for key in ("forget_acc", "retain_acc", "test_acc", "mia_efficacy", "mia_loss_acc", "mia_asr", "gap_to_retrain"):
        assert 0.0 <= out[key].value <= 1.0
    sub = evaluate_all(inp, ["test_acc", "forget_acc"])
    assert list(sub) == ["test_acc", "forget_acc"]
    assert sub["test_acc"] == out["test_acc"]


def test_observed_variants_mirror_their_true_label_metric():
    observed = [k for k in METRICS.keys() if k.endswith("_observed")]
    assert set(observed) == {"forget_acc_observed", "retain_acc_observed", "mia_efficacy_observed",
                             "mia_loss_acc_observed"}  # mia_asr is label-free: no variant
    clean = evaluate_all(make_inputs("random"), observed)
    for key in observed:
        base, obs = METRICS.get(key.removesuffix("_observed")), METRICS.get(key)
        assert (obs.direction, obs.ideal, obs.group, obs.needs_retrain) == (base.direction, base.ideal, base.group,
                                                                            base.needs_retrain)
        assert clean[key].value is None and "only under the noisy_label paradigm" in clean[key].reason
    # observed labels equal to the true ones: every variant gives its true-label metric's value
    inp = make_inputs("random")
    same = dataclasses.replace(inp, y_train_observed=inp.y_train.copy())
    both = evaluate_all(same, observed + [k.removesuffix("_observed") for k in observed])
    for key in observed:
        assert both[key].value == both[key.removesuffix("_observed")].value, key


def test_random_scenario_not_applicable_parts():
    out = evaluate_all(
        make_inputs("random", with_retrain=False), ["test_forget_acc", "retain_other_classes_acc", "kl_to_retrain"]
    )
    assert all(v.value is None and v.reason for v in out.values())


def test_errors_surface():
    with pytest.raises(SpecError):
        evaluate_all(make_inputs("class"), ["no_such_metric"])
    bad = dataclasses.replace(make_inputs("class"), y_train=np.full(300, 99))  # label out of range
    with pytest.raises(IndexError):
        evaluate_all(bad, ["mia_efficacy"])
