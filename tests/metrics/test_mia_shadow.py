"""Shadow-model MIA (PGU): features, splits, the XGBoost attacker, the metric, batched vs sequential shadow training."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data import load_dataset
from engine.metrics import METRICS, ShadowAttack, evaluate_all
from engine.metrics import mia_shadow as S
from engine.models import build_model
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.training import TrainConfig, predict_logits
from engine.training import shadow as T
from tests.metrics.conftest import make_inputs, margin_logits

K = 10


def test_forget_subset_caps_each_class_seeded():
    y = np.arange(3000) % K
    forget = np.flatnonzero((y == 2) | (y == 5) | (np.arange(3000) < 40))
    a = S.forget_subset(forget, y, seed=0)
    assert np.array_equal(a, S.forget_subset(forget, y, seed=0))
    assert not np.array_equal(a, S.forget_subset(forget, y, seed=1))
    assert np.all(np.diff(a) > 0) and set(a) <= set(forget)
    counts = np.bincount(y[a], minlength=K)
    assert counts[2] == counts[5] == S.PER_CLASS_CAP and counts[0] == 4  # small classes are kept whole


@pytest.mark.parametrize(("n", "split"), [(50, (40, 5, 5)), (100, (80, 10, 10)), (8, (6, 1, 1)), (4, (3, 0, 1)),
                                          (2, (1, 0, 1))])
def test_split_pairs_in_model_order(n, split):
    assert S.split_pairs(n) == split


def test_split_needs_two_pairs():
    with pytest.raises(ValueError):
        S.split_pairs(1)


def test_attack_features_are_softmax_and_one_hot():
    z = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    f = S.attack_features(z, np.array([0, 2]), 3)
    assert f.shape == (2, 6) and f.dtype == np.float32
    np.testing.assert_allclose(f, [[0.7, 0.2, 0.1, 1, 0, 0], [0.1, 0.1, 0.8, 0, 0, 1]], atol=1e-6)


def _pairs(n: int, m: int = 60, gap: float = 4.0) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Synthetic shadow outputs: originals confident on the true label, retrains less so."""
    rng = np.random.default_rng(0)
    y = np.arange(m) % K
    return ([margin_logits(y, 2.0 + gap, rng) for _ in range(n)], [margin_logits(y, 2.0, rng) for _ in range(n)], y)


def test_fit_shadow_attack_stores_json_and_a_held_out_roc():
    orig, retr, y = _pairs(10)
    fit = S.fit_shadow_attack(orig, retr, y, seed=0)
    doc = json.loads(fit.attacker_json)  # plain XGBoost JSON, no pickle
    assert "learner" in doc
    assert fit.test_auc > 0.9 and 0.0 <= fit.test_pr_auc <= 1.0 and fit.val_auc is not None
    assert fit.n_train_rows == 8 * 2 * len(y)
    assert fit.test_fpr[0] == 0.0 and fit.test_tpr[-1] == 1.0 and np.all(np.diff(fit.test_fpr) >= 0)
    again = S.fit_shadow_attack(orig, retr, y, seed=0)
    assert again.attacker_json == fit.attacker_json  # deterministic
    same = S.fit_shadow_attack(*_pairs(4, gap=0.0), seed=0)  # nothing to tell apart
    assert abs(same.test_auc - 0.5) < 0.2


def _shadow(seed: int = 0) -> ShadowAttack:
    orig, retr, y = _pairs(6, m=300)
    fit = S.fit_shadow_attack([o[:100] for o in orig], [r[:100] for r in retr], y[:100], seed)
    return ShadowAttack(fit.attacker_json, np.arange(100), fit.test_fpr, fit.test_tpr, fit.test_auc)


def test_metric_auc_against_retrain_and_roc_arrays():
    from sklearn.metrics import roc_auc_score

    # make_inputs: forget = 10 % random samples; the model is "original-like" (confident) on them, the
    # retrain treats them like test samples
    inp = make_inputs("random", n_train=1000, retain_margin=6.0, forget_margin=6.0, test_margin=2.0)
    sub = np.sort(inp.forget_idx)
    sh = dataclasses.replace(_shadow(), forget_subset=sub)
    r = S.mia_shadow_auc(dataclasses.replace(inp, shadow=sh))
    assert 0.0 <= r.value <= 1.0 and r.value > 0.9
    # equals an independent computation
    f_model = S.attack_features(inp.logits_train[sub], inp.y_train[sub], K)
    f_ref = S.attack_features(inp.retrain_logits_train[sub], inp.y_train[sub], K)
    scores = np.r_[S.attacker_scores(sh.attacker_json, f_model), S.attacker_scores(sh.attacker_json, f_ref)]
    assert r.value == pytest.approx(roc_auc_score(np.r_[np.ones(len(sub)), np.zeros(len(sub))], scores), abs=1e-12)
    assert r.per_sample.shape == (len(sub),)
    for name in ("fpr", "tpr", "retrain_scores", "shadow_fpr", "shadow_tpr", "shadow_test_auc", "forget_idx"):
        assert name in r.arrays
    assert r.arrays["fpr"][0] == 0.0 and r.arrays["tpr"][-1] == 1.0
    # the retrained model scored against itself: 0.5 by construction, a diagonal ROC
    own = dataclasses.replace(inp, logits_train=inp.retrain_logits_train, shadow=sh)
    rr = S.mia_shadow_auc(own)
    assert rr.value == 0.5
    np.testing.assert_array_equal(rr.arrays["fpr"], rr.arrays["tpr"])


def test_tpr_at_one_percent_fpr_of_the_shadow_attack():
    inp = make_inputs("random", n_train=1000, retain_margin=6.0, forget_margin=6.0, test_margin=2.0)
    sub = np.sort(inp.forget_idx)  # 100 forget samples: 100 non-members resolve 1 % FPR (one false positive)
    sh = dataclasses.replace(_shadow(), forget_subset=sub)
    with_sh = dataclasses.replace(inp, shadow=sh)
    auc = S.mia_shadow_auc(with_sh)
    t = S.mia_shadow_tpr(dataclasses.replace(with_sh, own_results={"mia_shadow_auc": auc}))
    pos, neg = auc.per_sample, auc.arrays["retrain_scores"]
    # brute force: the best TPR over thresholds that let at most 1 of the 100 non-members through
    best = max(((pos >= c).mean() for c in np.r_[pos, neg, np.inf] if (neg >= c).sum() <= 1), default=0.0)
    assert t.value == pytest.approx(best) and 0.0 <= t.value <= 1.0
    own = dataclasses.replace(inp, logits_train=inp.retrain_logits_train, shadow=sh)
    assert S.mia_shadow_tpr(own).value == pytest.approx(0.01)  # identical scores: TPR = FPR
    few = dataclasses.replace(with_sh, shadow=dataclasses.replace(sh, forget_subset=sub[:50]))
    assert S.mia_shadow_tpr(few).value is None and "cannot resolve" in S.mia_shadow_tpr(few).reason


def test_not_applicable_without_shadow_models():
    r = evaluate_all(make_inputs("class"), ["mia_shadow_auc"])["mia_shadow_auc"]
    assert r.value is None and r.reason == "enable shadow models (--shadow-models N)"
    failed = dataclasses.replace(_shadow(), reason="the shadow models could not be trained: diverged")
    r = S.mia_shadow_auc(dataclasses.replace(make_inputs("class"), shadow=failed))
    assert r.value is None and "diverged" in r.reason
    r = S.mia_shadow_auc(dataclasses.replace(make_inputs("class", with_retrain=False), shadow=_shadow()))
    assert r.value is None and "retrain" in r.reason


def test_metadata():
    info = METRICS.get("mia_shadow_auc")
    assert info.ideal == 0.5 and info.group == "privacy" and "PGU" in info.papers and info.needs_retrain


# ---- shadow-model training -------------------------------------------------------------------------------------
def test_shadow_seeds_are_derived_distinct_and_not_the_run_seed():
    a = T.shadow_seeds(0, 8)
    assert a == T.shadow_seeds(0, 8) and len(set(a)) == 8 and 0 not in a
    assert a[:3] == T.shadow_seeds(0, 3) and not set(a) & set(T.shadow_seeds(1, 8))


def test_which_models_train_batched():
    for key in ("mlp", "cnn"):
        assert T.can_batch(build_model(key, (1, 8, 8), K, seed=0))
    for key in ("allcnn", "smallvgg", "resnet18"):
        assert not T.can_batch(build_model(key, (3, 8, 8), K, seed=0))


@pytest.mark.parametrize("key", ["mlp", "cnn"])
def test_batched_training_equals_sequential_fit(key):
    d = load_dataset("digits", Path("data"))
    sup = one_hot_supervision(d.y_train, K)
    cfg = TrainConfig(epochs=3)
    seeds = T.shadow_seeds(0, 2)
    stacked = T.train_shadow_models(key, d.input_shape, K, d.x_train, sup, cross_entropy, cfg, seeds)
    single = T.train_shadow_models(key, d.input_shape, K, d.x_train, sup, cross_entropy, cfg, seeds, batched=False)
    for a, b in zip(stacked, single, strict=True):
        for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=1e-3, atol=1e-4, msg=name)
        acc_a = (predict_logits(a, d.x_test).argmax(1) == d.y_test).float().mean().item()
        acc_b = (predict_logits(b, d.x_test).argmax(1) == d.y_test).float().mean().item()
        assert acc_a > 0.85 and abs(acc_a - acc_b) < 0.01  # the accuracy of a normal 3-epoch training
    assert not torch.equal(stacked[0].head.weight if key == "mlp" else stacked[0].head[1].weight,
                           stacked[1].head.weight if key == "mlp" else stacked[1].head[1].weight)


def test_batchnorm_models_fall_back_to_sequential_fit(monkeypatch):
    calls = []
    real = T.fit

    def spy(model, *a, **kw):  # noqa: ANN001, ANN002, ANN003
        calls.append(model)
        return real(model, *a, **kw)

    monkeypatch.setattr(T, "fit", spy)
    x = torch.randn(16, 3, 8, 8)
    sup = one_hot_supervision(torch.arange(16) % K, K)
    models = T.train_shadow_models("allcnn", (3, 8, 8), K, x, sup, cross_entropy, TrainConfig(epochs=1, batch_size=8),
                                   T.shadow_seeds(0, 2))
    assert len(calls) == 2 and calls == models and not models[0].training
    calls.clear()
    T.train_shadow_models("mlp", (3, 8, 8), K, x, sup, cross_entropy, TrainConfig(epochs=1, batch_size=8),
                          T.shadow_seeds(0, 2))
    assert calls == []  # batched path
