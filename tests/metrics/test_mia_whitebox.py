"""White-box MIA (UDRU): feature shapes, determinism, gradients vs closed form, attack power, not-applicable cases."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data import load_dataset
from engine.metrics import METRICS, EvalInputs, attach_model_features, evaluate_all
from engine.metrics import mia_whitebox as W
from engine.models import build_model
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.training import TrainConfig, fit, predict_logits
from engine.training.ensemble import EnsembleModel
from tests.metrics.conftest import make_inputs

MAX_DIM = W.MAX_LAYERS * W.LAYER_DIM + W.GRAD_DIM


@pytest.mark.parametrize(("key", "shape", "k"), [
    ("mlp", (1, 8, 8), 10), ("cnn", (1, 8, 8), 10), ("allcnn", (3, 8, 8), 10), ("smallvgg", (3, 8, 8), 20),
    ("resnet18", (3, 8, 8), 10), ("resnet50", (3, 8, 8), 100),
])
def test_feature_shapes_and_determinism(key, shape, k):
    torch.manual_seed(0)
    model = build_model(key, shape, k, seed=0)
    model.train()
    x, y = torch.randn(6, *shape), torch.arange(6) % k
    a = W.whitebox_features(model, x, y, seed=3)
    b = W.whitebox_features(model, x, y, seed=3)
    assert a.dtype == np.float32 and a.shape[0] == 6 and 0 < a.shape[1] <= MAX_DIM
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert model.training  # the caller's mode is restored
    # a sample's features do not depend on the batch it is computed in (eval mode)
    np.testing.assert_allclose(W.whitebox_features(model, x[2:3], y[2:3], seed=3)[0], a[2], rtol=1e-3, atol=1e-4)


def test_exact_dimensions_of_the_small_models():
    # mlp: ReLU 512 / 256 / 128 (the features output and the last layer's input are that same tensor)
    # -> 128 + 128 + 128, gradient of the bias-free Linear(128, 10): 10 x 128
    torch.manual_seed(0)
    mlp = build_model("mlp", (1, 8, 8), 10, seed=0)
    assert W.whitebox_features(mlp, torch.randn(2, 1, 8, 8), torch.tensor([0, 1]), 0).shape == (2, 3 * 128 + 1280)
    # cnn on 8x8: conv ReLUs pooled to 2x2 (16*4, 32*4), features 256 -> 128, head hidden 128;
    # gradient of Linear(128, 10) with bias: 10 x 129
    cnn = build_model("cnn", (1, 8, 8), 10, seed=0)
    assert W.whitebox_features(cnn, torch.randn(2, 1, 8, 8), torch.tensor([0, 1]), 0).shape == (2, 64 + 128 + 128 + 128
                                                                                             + 1290)


def test_gradient_and_activation_parts_equal_an_independent_computation():
    torch.manual_seed(1)
    mlp = build_model("mlp", (1, 8, 8), 10, seed=1).eval()
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 3, 9, 3, 1])
    f = W.whitebox_features(mlp, x, y, seed=0)
    with torch.no_grad():
        h = mlp.features(x)
        p = torch.softmax(mlp.head(h), dim=1)
    closed = ((p - torch.nn.functional.one_hot(y, 10).float())[:, :, None] * h[:, None, :]).flatten(1)
    np.testing.assert_allclose(f[:, -1280:], closed.numpy(), rtol=1e-4, atol=1e-6)  # d CE / d W = (p - y) h^T
    np.testing.assert_allclose(f[:, 256:384], h.numpy(), rtol=1e-5, atol=1e-6)  # the 128-d layer, unprojected


@pytest.fixture(scope="module")
def overfit():
    """A digits MLP overfit on 400 noisy images (train acc 1, test acc ~0.4): members are easy to tell."""
    d = load_dataset("digits", Path("data"))
    g = torch.Generator().manual_seed(0)
    x_train = d.x_train + 2.0 * torch.randn(d.x_train.shape, generator=g)
    x_test = d.x_test + 2.0 * torch.randn(d.x_test.shape, generator=g)
    perm = np.random.default_rng(0).permutation(d.x_train.shape[0])
    trained, unseen = np.sort(perm[:400]), np.sort(perm[400:])
    torch.manual_seed(0)
    model = build_model("mlp", d.input_shape, 10, seed=0)
    idx = torch.as_tensor(trained)
    fit(model, x_train[idx], one_hot_supervision(d.y_train[idx], 10), cross_entropy,
        TrainConfig(epochs=40, batch_size=32, weight_decay=0.0), 0)
    lt, ls = predict_logits(model, x_train).numpy(), predict_logits(model, x_test).numpy()

    def inputs(forget: np.ndarray, seed: int = 0) -> EvalInputs:
        return EvalInputs(lt, ls, d.y_train.numpy(), d.y_test.numpy(), forget, trained[100:], None, (), (), seed,
                          None, None, None, None)

    return model, x_train, x_test, trained, unseen, inputs


def test_attacker_flags_training_members_above_chance(overfit):
    model, x_train, x_test, trained, unseen, inputs = overfit
    members = attach_model_features(inputs(trained[:100]), model, x_train, x_test, ["mia_whitebox"])
    outsiders = attach_model_features(inputs(unseen[:100]), model, x_train, x_test, ["mia_whitebox"])
    r_in, r_out = W.mia_whitebox(members), W.mia_whitebox(outsiders)
    assert r_in.value > 0.8  # trained-on forget samples: judged members
    assert r_out.value < 0.5  # never-seen "forget" samples: mostly judged non-members
    assert r_in.per_sample.shape == (100,) and set(np.unique(r_in.per_sample)) <= {0.0, 1.0}
    np.testing.assert_array_equal(r_in.arrays["forget_idx"], trained[:100])
    np.testing.assert_array_equal(r_in.per_sample, (r_in.arrays["proba"] >= 0.5).astype(float))
    again = W.mia_whitebox(attach_model_features(inputs(trained[:100]), model, x_train, x_test, ["mia_whitebox"]))
    assert again.value == r_in.value
    np.testing.assert_array_equal(again.arrays["proba"], r_in.arrays["proba"])


def test_value_and_attacker_accuracy_equal_an_independent_computation(overfit):
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    model, x_train, x_test, trained, _, inputs = overfit
    inp = inputs(trained[:100], seed=5)
    out = evaluate_all(attach_model_features(inp, model, x_train, x_test, ["mia_whitebox"]),
                       ["mia_whitebox", "mia_whitebox_attacker_acc"])
    members, nonmembers, scored = W.groups(inp)
    assert len(members) == len(nonmembers) == 300 and len(scored) == 100  # balanced: min(|retain|, |test|)
    assert not set(members) & set(scored) and set(members) <= set(trained[100:])
    fit_in, fit_out, hold_in, hold_out = W.split_holdout(members, nonmembers, 5)

    def feats(x: torch.Tensor, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return W.whitebox_features(model, x[torch.as_tensor(idx)], torch.as_tensor(y[idx]), 5)

    y_tr, y_te = inp.y_train, inp.y_test
    xa = np.concatenate([feats(x_train, y_tr, fit_in), feats(x_test, y_te, fit_out)])
    la = np.r_[np.ones(len(fit_in)), np.zeros(len(fit_out))]
    scaler = StandardScaler().fit(xa)
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), early_stopping=True, max_iter=200, random_state=5)
    clf.fit(scaler.transform(xa).astype(np.float32), la)

    def predict(x: np.ndarray) -> np.ndarray:
        return clf.predict(scaler.transform(x).astype(np.float32))

    held = np.r_[predict(feats(x_train, y_tr, hold_in)) == 1, predict(feats(x_test, y_te, hold_out)) == 0]
    assert out["mia_whitebox_attacker_acc"].value == pytest.approx(held.mean(), abs=1e-12)
    assert held.mean() > W.chance_bound(len(held))  # informative: the value is reported
    assert out["mia_whitebox"].value == pytest.approx(predict(feats(x_train, y_tr, scored)).mean(), abs=1e-12)


def test_holdout_split_is_balanced_disjoint_and_seeded():
    members, nonmembers = np.arange(0, 400, 2), np.arange(1000, 1200)
    fit_in, fit_out, hold_in, hold_out = W.split_holdout(members, nonmembers, 0)
    assert len(hold_in) == len(hold_out) == 50 and len(fit_in) == len(fit_out) == 150  # 25 % of 200
    np.testing.assert_array_equal(np.union1d(fit_in, hold_in), members)
    np.testing.assert_array_equal(np.union1d(fit_out, hold_out), nonmembers)
    assert not set(fit_in) & set(hold_in) and not set(fit_out) & set(hold_out)
    assert all(np.all(np.diff(a) > 0) for a in (fit_in, fit_out, hold_in, hold_out))
    again = W.split_holdout(members, nonmembers, 0)
    assert all(np.array_equal(a, b) for a, b in zip(again, (fit_in, fit_out, hold_in, hold_out), strict=True))
    assert not np.array_equal(W.split_holdout(members, nonmembers, 1)[2], hold_in)


def test_chance_bound():
    # two standard errors of a chance attacker (0.5 / sqrt(n)) or 5 points, whichever is larger
    assert W.chance_bound(180) == pytest.approx(0.5 + 2 * 0.5 / np.sqrt(180))  # digits: 90 + 90 held out
    assert W.chance_bound(1000) == pytest.approx(0.55)
    assert W.chance_bound(4) == pytest.approx(1.0)  # 4 samples can never show an attacker above chance


def test_not_informative_when_the_attacker_is_at_chance(overfit):
    # "members" that the model never trained on: nothing tells them from the test samples
    model, x_train, x_test, trained, unseen, inputs = overfit
    inp = dataclasses.replace(inputs(trained[:100]), retain_idx=unseen)
    out = evaluate_all(attach_model_features(inp, model, x_train, x_test, ["mia_whitebox"]),
                       ["mia_whitebox", "mia_whitebox_attacker_acc"])
    r, acc = out["mia_whitebox"], out["mia_whitebox_attacker_acc"]
    assert r.value is None and r.reason.startswith("not informative") and "held-out" in r.reason
    assert r.per_sample is None and r.arrays["attacker_acc"][0] == acc.value
    assert abs(acc.value - 0.5) < 0.1 and acc.value <= r.arrays["chance_bound"][0]
    assert r.arrays["chance_bound"][0] == pytest.approx(W.chance_bound(180))  # 25 % of 360 per group


def test_attacker_accuracy_reuses_the_attack_and_the_features(overfit):
    model, x_train, x_test, trained, _, inputs = overfit
    keys = ["mia_whitebox", "mia_whitebox_attacker_acc"]
    inp = attach_model_features(inputs(trained[:100]), model, x_train, x_test, keys)
    assert inp.model_features["mia_whitebox"] is inp.model_features["mia_whitebox_attacker_acc"]  # one computation
    fake = dataclasses.replace(inp, own_results={"mia_whitebox": W.MetricValue(0.3, arrays={
        "attacker_acc": np.array([0.77]), "chance_bound": np.array([0.6])})})
    assert W.mia_whitebox_attacker_acc(fake).value == 0.77  # read from mia_whitebox's result, not refitted
    alone = attach_model_features(inputs(trained[:100]), model, x_train, x_test, ["mia_whitebox_attacker_acc"])
    assert W.mia_whitebox_attacker_acc(alone).value == evaluate_all(inp, keys)["mia_whitebox_attacker_acc"].value


def test_digits_cnn_within_class_is_not_informative():
    """The reported finding: digits CNN, 20 % of class 3 forgotten; the model generalises (train 1.0, test ~0.98)
    and the attacker cannot tell retain from test samples, so the forget-set share it calls member is noise."""
    d = load_dataset("digits", Path("data"))
    model = build_model("cnn", d.input_shape, 10, seed=0)
    fit(model, d.x_train, one_hot_supervision(d.y_train, 10), cross_entropy, TrainConfig(), 0)
    y = d.y_train.numpy()
    threes = np.flatnonzero(y == 3)
    forget = np.sort(np.random.default_rng(0).choice(threes, size=round(0.2 * len(threes)), replace=False))
    lt, ls = predict_logits(model, d.x_train).numpy(), predict_logits(model, d.x_test).numpy()
    inp = EvalInputs(lt, ls, y, d.y_test.numpy(), forget, np.setdiff1d(np.arange(len(y)), forget), None, (), (3,), 0,
                     None, None, None, None)
    out = evaluate_all(attach_model_features(inp, model, d.x_train, d.x_test, ["mia_whitebox"]),
                       ["mia_whitebox", "mia_whitebox_attacker_acc"])
    assert (lt[forget].argmax(1) == 3).all() and (ls.argmax(1) == d.y_test.numpy()).mean() > 0.95
    assert out["mia_whitebox"].value is None and out["mia_whitebox"].reason.startswith("not informative")
    assert out["mia_whitebox_attacker_acc"].value < W.chance_bound(180)


def test_not_applicable_without_the_model_for_an_ensemble_and_for_a_whole_class():
    r = evaluate_all(make_inputs("random"), ["mia_whitebox"])["mia_whitebox"]
    assert r.value is None and "model itself" in r.reason
    torch.manual_seed(0)
    ens = EnsembleModel([build_model("mlp", (1, 8, 8), 10, seed=0) for _ in range(2)])
    inp = make_inputs("random", n_train=300, n_test=100)
    x_tr, x_te = torch.randn(300, 1, 8, 8), torch.randn(100, 1, 8, 8)
    r = W.mia_whitebox(attach_model_features(inp, ens, x_tr, x_te))
    assert r.value is None and "ensemble" in r.reason
    whole = make_inputs("class")  # class 0 has no retain sample left
    mlp = build_model("mlp", (1, 8, 8), 10, seed=0)
    r = W.mia_whitebox(attach_model_features(whole, mlp, x_tr, x_te, ["mia_whitebox"]))
    assert r.value is None and "whole class" in r.reason
    tiny = dataclasses.replace(inp, retain_idx=inp.retain_idx[:5])
    assert W.mia_whitebox(attach_model_features(tiny, mlp, x_tr, x_te, ["mia_whitebox"])).value is None


def test_other_metrics_untouched_by_the_hook():
    inp = make_inputs("random")
    mlp = build_model("mlp", (1, 8, 8), 10, seed=0)
    with_feats = attach_model_features(inp, mlp, torch.randn(300, 1, 8, 8), torch.randn(100, 1, 8, 8))
    assert set(with_feats.model_features) == {k for k, i in METRICS.items() if i.model_features is not None}
    keys = ["forget_acc", "mia_efficacy", "mia_asr", "kl_to_retrain"]
    a, b = evaluate_all(inp, keys), evaluate_all(with_feats, keys)
    assert all(a[k].value == b[k].value for k in keys)


def test_metadata():
    info = METRICS.get("mia_whitebox")
    assert info.direction == "closer_to_retrain" and info.group == "privacy" and "UDRU" in info.papers
    assert info.model_features is not None and "held-out" in info.description
    acc = METRICS.get("mia_whitebox_attacker_acc")
    assert acc.group == "privacy" and acc.model_features is info.model_features and "chance" in acc.description
