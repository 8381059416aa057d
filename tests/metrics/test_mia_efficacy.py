"""MIA-Efficacy (Unlearn-Sparse SVC_MIA 'confidence'): limits, an independent reference, class-wise parity."""

import dataclasses

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax
from sklearn.svm import SVC

from engine.metrics import METRICS
from engine.metrics.mia_efficacy import mia_efficacy, mia_efficacy_observed, true_label_confidence
from tests.metrics.conftest import make_inputs, margin_logits


def reference_efficacy(inp, y_members=None, *, feature="label", drop_forgotten=True, members="retain"):
    """Unlearn-Sparse's SVC_MIA forget efficacy written out from the protocol (not from our code).

    shadow_train (1) = retain samples, shadow_test (0) = the test split without the forgotten classes,
    feature = softmax probability of the label, SVC(C=3, gamma='auto', rbf); value = 1 - mean prediction on
    the forget set. Retain is subsampled to the size of the test part only when larger (seeded draw, sorted).
    ``feature``/``drop_forgotten``/``members`` switch on deliberate mistakes, to show the fixture detects them.
    """
    y_tr = np.asarray(inp.y_train if y_members is None else y_members)
    p_tr, p_te = scipy_softmax(inp.logits_train, axis=1), scipy_softmax(inp.logits_test, axis=1)
    keep = np.array([c not in inp.forget_classes for c in inp.y_test]) if drop_forgotten else np.ones(len(inp.y_test),
                                                                                                      bool)
    test = np.arange(len(inp.y_test))[keep]
    pool = {"retain": inp.retain_idx, "forget": inp.forget_idx}[members]
    if len(pool) > len(test):
        pool = np.sort(np.random.default_rng(inp.seed).choice(pool, size=len(test), replace=False))

    def conf(p, y):
        return p.max(axis=1) if feature == "max" else np.array([row[label] for row, label in zip(p, y, strict=True)])

    x = np.concatenate([conf(p_tr[pool], y_tr[pool]), conf(p_te[test], inp.y_test[test])])[:, None]
    lab = np.r_[np.ones(len(pool)), np.zeros(len(test))]
    svc = SVC(C=3, gamma="auto", kernel="rbf").fit(x, lab)
    f = np.asarray(inp.forget_idx)
    return 1.0 - svc.predict(conf(p_tr[f], y_tr[f])[:, None]).mean()


def overlapping(scenario="random", **kw):
    """Low margins: confidences overlap across groups and the arg-max often differs from the label."""
    base = dict(n_train=300, n_test=400, retain_margin=2.5, forget_margin=1.5, test_margin=1.0)
    return make_inputs(scenario, **{**base, **kw})


def test_confidence_feature():
    z = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    x = true_label_confidence(z, np.array([0, 1]))
    assert x.shape == (2, 1) and x.dtype == np.float64
    np.testing.assert_allclose(x[:, 0], [0.7, 0.1])


def test_equals_the_reference_when_every_retain_sample_is_a_member():
    inp = overlapping()  # |retain| = 270 <= |test| = 400: no draw at all
    r = mia_efficacy(inp)
    want = reference_efficacy(inp)
    assert 0.05 < want < 0.95  # not at a limit
    assert r.value == pytest.approx(want, abs=1e-12)
    # the fixture tells a wrong feature or a wrong member set apart from the protocol
    assert abs(reference_efficacy(inp, feature="max") - want) > 0.02
    assert abs(reference_efficacy(inp, members="forget") - want) > 0.02


@pytest.mark.parametrize("seed", [0, 3])
def test_equals_the_reference_with_a_seeded_retain_subset(seed):
    inp = overlapping(n_train=1000, n_test=200, seed=seed)  # |retain| = 900 > |test| = 200
    assert mia_efficacy(inp).value == pytest.approx(reference_efficacy(inp), abs=1e-12)


def test_class_wise_excludes_the_forgotten_class_from_the_non_members():
    # Unlearn-Sparse drops the forgotten class from the test set in class-wise forgetting. A model that has
    # forgotten nothing, with class 0 easy (its forget and test samples both very confident, more than any
    # retain sample): kept as non-members, the class-0 test samples would teach the SVC "very confident =
    # non-member" and the untouched model would score a perfect efficacy of 1.
    inp = make_inputs("class", n_train=300, n_test=400, retain_margin=3.0, forget_margin=8.0, test_margin=0.0)
    rng = np.random.default_rng(5)
    lt = inp.logits_test.copy()
    lt[inp.y_test == 0] = margin_logits(inp.y_test[inp.y_test == 0], 8.0, rng)
    inp = dataclasses.replace(inp, logits_test=lt)
    assert inp.forget_classes == (0,)
    want = reference_efficacy(inp)
    assert mia_efficacy(inp).value == pytest.approx(want, abs=1e-12)
    assert want == 0.0 and reference_efficacy(inp, drop_forgotten=False) == 1.0  # the exclusion decides here
    # sample-level scenarios (no class removed entirely) keep the whole test split
    kept = dataclasses.replace(inp, forget_classes=())
    assert mia_efficacy(kept).value == pytest.approx(reference_efficacy(kept, drop_forgotten=False), abs=1e-12)
    # every test sample in a forgotten class: nothing to train the attacker on
    gone = dataclasses.replace(inp, forget_classes=tuple(range(10)))
    r = mia_efficacy(gone)
    assert r.value is None and "test samples" in r.reason


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
    inp = make_inputs("random", n_train=1000, n_test=100, retain_margin=3.0, forget_margin=2.0, test_margin=2.0)
    a, b = mia_efficacy(inp), mia_efficacy(inp)
    assert a.value == b.value
    np.testing.assert_array_equal(a.per_sample, b.per_sample)


def test_not_applicable_without_forget_or_test():
    inp = make_inputs("random")
    r = mia_efficacy(dataclasses.replace(inp, forget_idx=np.array([], dtype=np.int64)))
    assert r.value is None and "forget set" in r.reason
    no_test = dataclasses.replace(inp, logits_test=inp.logits_test[:0], y_test=inp.y_test[:0])
    r = mia_efficacy(no_test)
    assert r.value is None and r.reason


# ---- observed labels (noisy_label) ---------------------------------------------------------------------------
def noisy(inp, share=0.3, seed=9):
    """Inputs with observed labels: a seeded share of the training labels replaced by another class."""
    rng = np.random.default_rng(seed)
    y_obs = inp.y_train.copy()
    flip = rng.random(len(y_obs)) < share
    y_obs[flip] = (y_obs[flip] + rng.integers(1, 10, size=flip.sum())) % 10
    return dataclasses.replace(inp, y_train_observed=y_obs)


def test_observed_variant_uses_the_observed_labels_for_training_samples_only():
    inp = noisy(overlapping())
    r = mia_efficacy_observed(inp)
    want = reference_efficacy(inp, y_members=inp.y_train_observed)  # test samples keep their true labels
    assert r.value == pytest.approx(want, abs=1e-12)
    assert abs(want - mia_efficacy(inp).value) > 0.02  # the labels make a difference here
    assert r.per_sample.shape == (len(inp.forget_idx),)
    # observed labels equal to the true ones: the same attack as mia_efficacy
    same = dataclasses.replace(inp, y_train_observed=inp.y_train.copy())
    a, b = mia_efficacy_observed(same), mia_efficacy(same)
    assert a.value == b.value
    np.testing.assert_array_equal(a.per_sample, b.per_sample)


def test_observed_variant_not_applicable_outside_noisy_label():
    r = mia_efficacy_observed(make_inputs("random"))
    assert r.value is None and "only under the noisy_label paradigm" in r.reason
    bad = dataclasses.replace(make_inputs("random"), y_train_observed=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="y_train_observed"):
        mia_efficacy_observed(bad)


def test_metadata():
    info = METRICS.get("mia_efficacy")
    assert info.group == "privacy" and info.ideal is None and info.direction == "closer_to_retrain"
    assert "UGradSL" in info.papers and "forgotten classes" in info.description
    obs = METRICS.get("mia_efficacy_observed")
    assert (obs.group, obs.ideal, obs.direction) == (info.group, info.ideal, info.direction)
    assert "mia_efficacy" in obs.papers and "noisy_label" in obs.description
