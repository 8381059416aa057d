"""Loss-based MIA (SCRUB / PPU): limits, an independent reference of the published protocol, observed labels."""

import dataclasses

import numpy as np
import pytest
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit

from engine.metrics import METRICS
from engine.metrics.mia_loss import cross_entropy, mia_loss_acc, mia_loss_acc_observed, non_member_mask
from tests.metrics.conftest import make_inputs, margin_logits


def reference_loss_attack(inp, y_forget=None, *, test_part=None, label="given"):
    """SCRUB's ``membership_inference_attack`` written out from the protocol (not from our code).

    Members (1) = forget samples, non-members (0) = the test samples ``test_part`` (default: of the forgotten
    classes); feature = cross-entropy at the label, clipped to [-100, 100]; the larger group subsampled
    (seeded draw, sorted); rows in the official order (test first); ``LogisticRegression()`` over
    ``StratifiedShuffleSplit(5, test_size=0.1, random_state=seed)``; value = mean held-out accuracy.
    ``label="argmax"`` is a deliberate mistake (loss at the predicted class), to show the fixture detects it.
    """
    y_tr = np.asarray(inp.y_train if y_forget is None else y_forget)
    f = np.asarray(inp.forget_idx)
    t = np.flatnonzero(np.isin(inp.y_test, inp.touched_classes)) if test_part is None else np.asarray(test_part)
    lp_tr, lp_te = log_softmax(inp.logits_train, axis=1), log_softmax(inp.logits_test, axis=1)
    lab_f = lp_tr[f].argmax(axis=1) if label == "argmax" else y_tr[f]
    lab_t = lp_te[t].argmax(axis=1) if label == "argmax" else inp.y_test[t]
    loss_f = -lp_tr[f, lab_f]
    loss_t = -lp_te[t, lab_t]
    n = min(len(loss_f), len(loss_t))
    rng = np.random.default_rng(inp.seed)
    if len(loss_f) > n:
        loss_f = loss_f[np.sort(rng.choice(len(loss_f), size=n, replace=False))]
    if len(loss_t) > n:
        loss_t = loss_t[np.sort(rng.choice(len(loss_t), size=n, replace=False))]
    x = np.clip(np.concatenate([loss_t, loss_f]), -100, 100)[:, None]
    y = np.r_[np.zeros(n), np.ones(n)]
    split = StratifiedShuffleSplit(n_splits=5, test_size=0.1 if 0.1 * 2 * n >= 2 else 2, random_state=inp.seed)
    accs = [np.mean(LogisticRegression().fit(x[a], y[a]).predict(x[b]) == y[b]) for a, b in split.split(x, y)]
    return float(np.mean(accs))


def overlapping(**kw):
    """Random forgetting, 100 forget samples vs 100 test samples (every class touched): no subsampling."""
    base = dict(n_train=1000, n_test=100, retain_margin=3.0, forget_margin=2.5, test_margin=1.5)
    return make_inputs("random", **{**base, **kw})


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


@pytest.mark.parametrize("seed", [0, 4])
def test_equals_the_reference_with_balanced_groups(seed):
    inp = overlapping(seed=seed)
    assert len(inp.forget_idx) == len(inp.y_test) == 100 and len(inp.touched_classes) == 10
    want = reference_loss_attack(inp)
    assert 0.55 < want < 0.95  # not at a limit
    assert mia_loss_acc(inp).value == pytest.approx(want, abs=1e-12)
    assert abs(reference_loss_attack(inp, label="argmax") - want) > 0.02  # a wrong feature is detected


def test_equals_the_reference_in_class_forgetting_with_subsampling():
    # class 0 forgotten: 30 forget samples vs the 20 class-0 test samples (the forget group is subsampled);
    # the other test samples are very unlike class 0's, so taking them as non-members would show
    inp = make_inputs("class", n_train=300, n_test=200, retain_margin=3.0, forget_margin=1.0, test_margin=8.0)
    rng = np.random.default_rng(2)
    lt = inp.logits_test.copy()
    lt[inp.y_test == 0] = margin_logits(inp.y_test[inp.y_test == 0], 1.0, rng)
    inp = dataclasses.replace(inp, logits_test=lt)
    want = reference_loss_attack(inp, test_part=np.flatnonzero(inp.y_test == 0))
    assert mia_loss_acc(inp).value == pytest.approx(want, abs=1e-12)
    whole = reference_loss_attack(inp, test_part=np.arange(len(inp.y_test)))
    assert whole - want > 0.2  # the non-member set matters here


def test_deterministic_per_seed():
    inp = make_inputs("random", n_train=1000, n_test=300, retain_margin=3.0, forget_margin=3.0, test_margin=1.5)
    a, b = mia_loss_acc(inp).value, mia_loss_acc(dataclasses.replace(inp, y_train=inp.y_train.copy())).value
    assert a is not None and a == b


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


def test_observed_variant_takes_forget_losses_at_the_observed_label():
    inp = overlapping(forget_margin=4.0)
    rng = np.random.default_rng(3)
    y_obs = inp.y_train.copy()
    flip = inp.forget_idx[rng.random(len(inp.forget_idx)) < 0.4]  # some forget samples mislabelled ...
    y_obs[flip] = (y_obs[flip] + 1) % 10
    lt = inp.logits_train.copy()
    lt[flip] = margin_logits(y_obs[flip], 4.0, rng)  # ... and the model memorised the wrong label
    noisy = dataclasses.replace(inp, logits_train=lt, y_train_observed=y_obs)
    want = reference_loss_attack(noisy, y_forget=y_obs)  # test samples keep their true labels
    assert mia_loss_acc_observed(noisy).value == pytest.approx(want, abs=1e-12)
    # at the true label the memorised samples' losses are large (unseen-like): the attack sees less
    assert want - mia_loss_acc(noisy).value > 0.1
    same = dataclasses.replace(inp, y_train_observed=inp.y_train.copy())
    assert mia_loss_acc_observed(same).value == mia_loss_acc(same).value


def test_observed_variant_not_applicable_outside_noisy_label():
    r = mia_loss_acc_observed(make_inputs("class"))
    assert r.value is None and "only under the noisy_label paradigm" in r.reason


def test_metadata():
    info = METRICS.get("mia_loss_acc")
    assert info.ideal == 0.5 and info.group == "privacy" and "PPU" in info.papers
    obs = METRICS.get("mia_loss_acc_observed")
    assert (obs.group, obs.ideal, obs.direction) == (info.group, info.ideal, info.direction)
    assert "SCRUB" in obs.papers and "mia_loss_acc" in obs.papers
