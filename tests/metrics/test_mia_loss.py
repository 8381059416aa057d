import dataclasses

import numpy as np

from engine.metrics import METRICS
from engine.metrics.mia_loss import cross_entropy, mia_loss_acc, non_member_mask
from tests.metrics.conftest import make_inputs


def test_cross_entropy_matches_direct_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, size=(20, 10))
    y = rng.integers(0, 10, size=20)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(cross_entropy(z, y), -np.log(p[np.arange(20), y]), rtol=1e-10)
    assert np.isfinite(cross_entropy(np.array([[1e4, 0.0]]), np.array([1]))).all()


def test_separable_losses_give_one():
    # forget losses ~0 (very confident and right), test losses large (confident and wrong)
    inp = make_inputs("random", n_train=1000, n_test=400, retain_margin=12.0, test_margin=-12.0)
    assert mia_loss_acc(inp).value > 0.97


def test_same_distribution_gives_half():
    inp = make_inputs("random", n_train=3000, n_test=1000, retain_margin=2.0, forget_margin=2.0, test_margin=2.0)
    v = mia_loss_acc(inp).value
    assert abs(v - 0.5) < 0.15


def test_deterministic_per_seed():
    inp = make_inputs("random", n_train=1000, n_test=300, retain_margin=3.0, forget_margin=3.0, test_margin=1.5)
    assert mia_loss_acc(inp).value == mia_loss_acc(inp).value


def test_non_member_selection():
    cls = make_inputs("class")
    np.testing.assert_array_equal(non_member_mask(cls), cls.y_test == 0)
    # no mask -> forget_classes, then touched_classes, then everything
    nomask = dataclasses.replace(cls, test_forget_mask=None, forget_classes=(3,))
    np.testing.assert_array_equal(non_member_mask(nomask), cls.y_test == 3)
    touched = dataclasses.replace(nomask, forget_classes=(), touched_classes=(4, 5))
    np.testing.assert_array_equal(non_member_mask(touched), np.isin(cls.y_test, [4, 5]))
    nothing = dataclasses.replace(touched, touched_classes=(99,))
    assert non_member_mask(nothing).all()


def test_small_groups():
    inp = make_inputs("class")  # 30 forget, 10 non-member test samples
    assert mia_loss_acc(inp).value is not None
    five = dataclasses.replace(inp, forget_idx=inp.forget_idx[:5])
    v = mia_loss_acc(five).value  # 5 vs 5: test split raised to 2 samples
    assert v is not None and 0.0 <= v <= 1.0
    four = dataclasses.replace(inp, forget_idx=inp.forget_idx[:4])
    r = mia_loss_acc(four)
    assert r.value is None and "at least 5" in r.reason


def test_metadata():
    info = METRICS.get("mia_loss_acc")
    assert info.ideal == 0.5 and info.group == "privacy" and "PPU" in info.papers
