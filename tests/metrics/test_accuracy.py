import dataclasses

import numpy as np

from engine.metrics import METRICS
from engine.metrics.accuracy import (
    forget_acc,
    retain_acc,
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
