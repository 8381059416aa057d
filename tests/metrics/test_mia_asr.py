"""LAF's XGBoost attack (ASR): limits and an independent reference of the protocol in the module docstring."""

import dataclasses

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax
from xgboost import XGBClassifier

from engine.metrics import METRICS
from engine.metrics.mia_asr import mia_asr, sorted_softmax
from tests.metrics.conftest import make_inputs


def reference_asr(inp, *, sort=True, eval_half="B", members="retain", with_predictions=False):
    """LAF's ASR written out from the protocol (seeded, balanced version; not from our code).

    Test split permuted and halved (A trains, B evaluates); m = min(|forget|, |A|, |retain|, 5000) random
    retain samples (1) vs the first m of A (0); XGBClassifier(100 trees, binary:logistic); accuracy on the
    forget samples (1) vs B (0), the larger group subsampled. The keywords switch on deliberate mistakes
    (unsorted vectors, scoring on the training half, forget samples as training members).
    ``with_predictions``: also return the attacker's membership prediction for every forget sample.
    """
    rng = np.random.default_rng(inp.seed)

    def feat(z):
        p = scipy_softmax(z, axis=1)
        return np.sort(p, axis=1) if sort else p

    perm = rng.permutation(len(inp.y_test))
    a, b = perm[: len(perm) // 2], perm[len(perm) // 2:]
    f, r = np.asarray(inp.forget_idx), np.asarray(inp.retain_idx)
    m = min(len(f), len(a), len(r), 5000)
    pool = r if members == "retain" else f
    ins = rng.choice(pool, size=m, replace=False)
    clf = XGBClassifier(n_estimators=100, objective="binary:logistic", random_state=inp.seed, n_jobs=1)
    clf.fit(np.vstack([feat(inp.logits_train[ins]), feat(inp.logits_test[a[:m]])]), np.r_[np.ones(m), np.zeros(m)])
    outs = b if eval_half == "B" else a
    n = min(len(f), len(outs))
    keep_f = np.arange(len(f)) if len(f) <= n else np.sort(rng.choice(len(f), size=n, replace=False))
    keep_o = outs if len(outs) <= n else np.sort(rng.choice(outs, size=n, replace=False))
    pred_f = clf.predict(feat(inp.logits_train[f]))
    hit_out = clf.predict(feat(inp.logits_test[keep_o])) == 0
    asr = float(np.r_[pred_f[keep_f] == 1, hit_out].mean())
    return (asr, pred_f) if with_predictions else asr


def test_sorted_softmax():
    x = sorted_softmax(np.log(np.array([[0.2, 0.5, 0.3]])))
    np.testing.assert_allclose(x, [[0.2, 0.3, 0.5]])


def test_separable_gives_high_asr():
    inp = make_inputs("class", retain_margin=10.0, forget_margin=10.0, test_margin=0.0)
    r = mia_asr(inp)
    assert r.value > 0.9
    assert r.per_sample.shape == (len(inp.forget_idx),)
    assert set(np.unique(r.per_sample)) <= {0.0, 1.0}


@pytest.mark.parametrize(("n_train", "n_test", "seed"), [(1000, 400, 0), (1000, 100, 2), (3000, 300, 1)])
def test_equals_the_reference(n_train, n_test, seed):
    # forget sets smaller and larger than the test halves (each side of the balancing draw)
    inp = make_inputs("random", n_train=n_train, n_test=n_test, seed=seed, retain_margin=3.0, forget_margin=2.5,
                      test_margin=2.0)
    r = mia_asr(inp)
    want, pred_forget = reference_asr(inp, with_predictions=True)
    assert 0.5 < want < 0.95  # not at a limit
    assert r.value == pytest.approx(want, abs=1e-12)
    np.testing.assert_array_equal(r.per_sample, pred_forget)


def test_reference_fixture_detects_protocol_drift():
    inp = make_inputs("random", n_train=1000, n_test=400, retain_margin=3.0, forget_margin=2.5, test_margin=2.0)
    want = mia_asr(inp).value
    # scoring on the half the attacker trained on, or unsorted (class-revealing) vectors, give other values
    assert abs(reference_asr(inp, eval_half="A") - want) > 0.02
    assert abs(reference_asr(inp, sort=False) - want) > 0.02
    assert abs(reference_asr(inp, members="forget") - want) > 0.02


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
