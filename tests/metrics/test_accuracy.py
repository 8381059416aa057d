import dataclasses

import numpy as np

from engine.metrics import METRICS
from engine.metrics.accuracy import (
    forget_acc,
    forget_acc_observed,
    retain_acc,
    retain_acc_observed,
    retain_other_classes_acc,
    test_acc,
    test_forget_acc,
    test_retain_acc,
)
from engine.metrics.base import EvalInputs


def _onehot_logits(pred: list[int], k: int = 3) -> np.ndarray:
    z = np.zeros((len(pred), k))
    z[np.arange(len(pred)), pred] = 5.0
    return z


def hand_built(test_forget_mask: np.ndarray | None = np.array([True, True, False, False])) -> EvalInputs:
    # train: labels 0 0 1 1 2 2 ; predictions 0 1 1 1 2 0
    #   forget = {0, 1} (class 0) -> correct [1, 0]      -> 0.5
    #   retain = {2, 3, 4, 5}    -> correct [1, 1, 1, 0] -> 0.75
    #   retain of untouched classes (1, 2) -> same 4 samples -> 0.75
    # test: labels 0 0 1 2 ; predictions 0 1 1 1 -> overall 0.5, forget part (mask) 0.5, rest 0.5
    return EvalInputs(
        logits_train=_onehot_logits([0, 1, 1, 1, 2, 0]),
        logits_test=_onehot_logits([0, 1, 1, 1]),
        y_train=np.array([0, 0, 1, 1, 2, 2]),
        y_test=np.array([0, 0, 1, 2]),
        forget_idx=np.array([0, 1]),
        retain_idx=np.array([2, 3, 4, 5]),
        test_forget_mask=test_forget_mask,
        forget_classes=(0,),
        touched_classes=(0,),
        seed=0,
        unlearn_seconds=None,
        retrain_seconds=None,
        retrain_logits_train=None,
        retrain_logits_test=None,
    )


def test_hand_built_values():
    inp = hand_built()
    f = forget_acc(inp)
    assert f.value == 0.5
    np.testing.assert_array_equal(f.per_sample, [1.0, 0.0])
    assert f.per_sample.dtype == np.float64
    assert retain_acc(inp).value == 0.75
    assert retain_other_classes_acc(inp).value == 0.75
    assert test_acc(inp).value == 0.5
    assert test_forget_acc(inp).value == 0.5
    assert test_retain_acc(inp).value == 0.5


def test_retain_other_classes_excludes_touched():
    inp = hand_built()
    # touching class 2 as well leaves only retain samples of class 1 (both right)
    inp2 = dataclasses.replace(inp, touched_classes=(0, 2))
    assert retain_other_classes_acc(inp2).value == 1.0
    inp3 = dataclasses.replace(inp, touched_classes=(0, 1, 2))
    r = retain_other_classes_acc(inp3)
    assert r.value is None and r.reason


def test_test_parts_not_applicable_without_mask():
    inp = hand_built(test_forget_mask=None)
    for fn in (test_forget_acc, test_retain_acc):
        r = fn(inp)
        assert r.value is None and "sample-level" in r.reason
    assert test_acc(inp).value == 0.5


def test_observed_label_accuracies_by_hand():
    # observed labels 0 1 1 2 2 2 (sample 1's label 0 -> 1, sample 3's 1 -> 2); predictions 0 1 1 1 2 0
    #   forget {0, 1}: [1, 1] -> 1.0 (true labels: 0.5); retain {2, 3, 4, 5}: [1, 0, 1, 0] -> 0.5 (true: 0.75)
    inp = dataclasses.replace(hand_built(), y_train_observed=np.array([0, 1, 1, 2, 2, 2]))
    f = forget_acc_observed(inp)
    assert f.value == 1.0
    np.testing.assert_array_equal(f.per_sample, [1.0, 1.0])
    assert retain_acc_observed(inp).value == 0.5
    assert forget_acc(inp).value == 0.5 and retain_acc(inp).value == 0.75  # the true-label ones are unchanged


def test_observed_forget_acc_of_a_model_that_ignored_flipped_labels_is_zero():
    # LAF Table 3 (noisy label removal): the retrained model predicts the true class of every mislabelled
    # forget sample, so its Train_f w.r.t. the noisy labels is ~0 while its true-label accuracy is 1
    from tests.metrics.conftest import make_inputs

    inp = make_inputs("random", retain_margin=8.0, forget_margin=8.0)
    y_obs = inp.y_train.copy()
    y_obs[inp.forget_idx] = (y_obs[inp.forget_idx] + 3) % 10
    noisy = dataclasses.replace(inp, y_train_observed=y_obs)
    assert forget_acc_observed(noisy).value == 0.0 and forget_acc(noisy).value == 1.0
    assert retain_acc_observed(noisy).value == retain_acc(noisy).value == 1.0  # retain labels are clean here


def test_observed_accuracies_not_applicable_outside_noisy_label():
    for fn in (forget_acc_observed, retain_acc_observed):
        r = fn(hand_built())
        assert r.value is None and "only under the noisy_label paradigm" in r.reason


def test_synthetic_forget_vs_retain():
    from tests.metrics.conftest import make_inputs

    inp = make_inputs("class", retain_margin=8.0, forget_margin=-8.0)
    assert forget_acc(inp).value == 0.0
    assert retain_acc(inp).value == 1.0
    assert 0.0 <= test_acc(inp).value <= 1.0


def test_registered_metadata():
    for key in (
        "forget_acc",
        "retain_acc",
        "retain_other_classes_acc",
        "test_acc",
        "test_forget_acc",
        "test_retain_acc",
    ):
        info = METRICS.get(key)
        assert info.key == key and info.group == "accuracy" and info.papers
    assert METRICS.get("forget_acc").direction == "closer_to_retrain"
    assert METRICS.get("test_forget_acc").direction == "closer_to_retrain"
    assert METRICS.get("retain_acc").direction == "higher"
    assert METRICS.get("test_acc").direction == "higher"
    assert "UA" in METRICS.get("forget_acc").papers
    for key in ("forget_acc", "retain_acc"):
        info, obs = METRICS.get(key), METRICS.get(f"{key}_observed")
        assert (obs.direction, obs.ideal, obs.group) == (info.direction, info.ideal, info.group)
        assert "LAF Table 3" in obs.papers and "noisy" in obs.description
    assert "Train_f is accuracy w.r.t. the noisy labels" in METRICS.get("forget_acc_observed").papers
