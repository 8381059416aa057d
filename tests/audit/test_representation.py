"""engine.audit.representation: linear CKA, layer features of the repo's models, probes and the 2-D embedding."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from engine.audit.representation import (
    embedding_2d,
    knn_accuracy,
    layer_features,
    linear_cka,
    linear_probe_accuracy,
    penultimate_features,
)
from engine.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Direct formula: HSIC(K, L) = tr(K H L H) / (n-1)^2 with uncentred linear Gram matrices, normalised."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, lg = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h)) / (n - 1) ** 2

    return hsic(k, lg) / math.sqrt(hsic(k, k) * hsic(lg, lg))


# --- linear CKA ---------------------------------------------------------------------------------------------------

def test_cka_self_is_one() -> None:
    x = np.random.default_rng(0).normal(size=(40, 7))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    wide = np.random.default_rng(1).normal(size=(10, 300))  # p >> n: Gram branch
    assert linear_cka(wide, wide) == pytest.approx(1.0, abs=1e-12)


def test_cka_invariant_to_orthogonal_and_isotropic_scaling() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 6))
    y = x @ rng.normal(size=(6, 8)) + rng.normal(size=(60, 8))
    base = linear_cka(x, y)
    assert 0.2 < base < 0.999
    assert linear_cka(x, 3.7 * y @ _orthogonal(rng, 8) + 5.0) == pytest.approx(base, abs=1e-12)
    assert linear_cka(0.01 * x @ _orthogonal(rng, 6), y) == pytest.approx(base, abs=1e-12)
    # ... but not to an anisotropic scaling
    assert abs(linear_cka(x, y * np.array([100.0] + [1.0] * 7)) - base) > 1e-3


def test_cka_independent_features_is_small() -> None:
    rng = np.random.default_rng(3)
    assert linear_cka(rng.normal(size=(500, 10)), rng.normal(size=(500, 10))) < 0.2


def test_cka_matches_direct_hsic_formula() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(7, 3))
    y = rng.normal(size=(7, 4)) + x[:, :1]
    expected = _hsic_cka(x, y)
    assert 0.0 < expected < 1.0
    for method in ("auto", "feature", "gram"):
        assert linear_cka(x, y, method=method) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("shape", [(30, 3, 4), (12, 50, 5), (8, 200, 300)])
def test_cka_gram_branch_equals_feature_branch(shape: tuple[int, int, int]) -> None:
    n, p, q = shape
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, p))
    y = x[:, :1] * rng.normal(size=(1, q)) + rng.normal(size=(n, q))
    gram, feature = linear_cka(x, y, method="gram"), linear_cka(x, y, method="feature")
    assert gram == pytest.approx(feature, abs=1e-12)
    assert linear_cka(x, y) == pytest.approx(gram, abs=1e-12)


def test_cka_constant_features_is_nan_and_bad_input_raises() -> None:
    x = np.random.default_rng(6).normal(size=(10, 3))
    assert math.isnan(linear_cka(x, np.full((10, 4), 0.1)))
    assert math.isnan(linear_cka(np.zeros((10, 2)), x))
    with pytest.raises(ValueError, match="same number of rows"):
        linear_cka(x, x[:5])
    with pytest.raises(ValueError, match="method"):
        linear_cka(x, x, method="rbf")  # type: ignore[arg-type]


# --- probes -------------------------------------------------------------------------------------------------------

def _clusters(rng: np.random.Generator, n_per: int) -> tuple[np.ndarray, np.ndarray]:
    centres = np.array([[10.0, 0, 0, 0, 0], [-10.0, 0, 0, 0, 0], [0, 10.0, 0, 0, 0]])
    x = np.concatenate([c + rng.normal(size=(n_per, 5)) for c in centres])
    return x, np.repeat(np.arange(3), n_per)


def test_probes_separable_clusters_are_perfect() -> None:
    rng = np.random.default_rng(7)
    (xtr, ytr), (xev, yev) = _clusters(rng, 60), _clusters(rng, 30)
    assert linear_probe_accuracy(xtr, ytr, xev, yev, seed=0) == 1.0
    assert knn_accuracy(xtr, ytr, xev, yev, k=5) == 1.0


def test_probes_on_independent_labels_are_near_chance() -> None:
    rng = np.random.default_rng(8)
    xtr, xev = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    ytr, yev = rng.integers(0, 4, 400), rng.integers(0, 4, 400)  # chance = 0.25
    assert 0.15 < linear_probe_accuracy(xtr, ytr, xev, yev, seed=0) < 0.35
    assert 0.15 < knn_accuracy(xtr, ytr, xev, yev, k=5) < 0.35


def test_knn_standardises_features() -> None:
    """One informative feature (classes at -1 / +1) next to a noise feature of scale 1000: raw euclidean kNN sees
    only the noise, the standardised one separates the classes."""
    rng = np.random.default_rng(11)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        return np.column_stack([2.0 * y - 1 + 0.1 * rng.normal(size=n), 1000.0 * rng.normal(size=n)]), y

    (xtr, ytr), (xev, yev) = sample(300), sample(200)
    assert knn_accuracy(xtr, ytr, xev, yev, k=5) > 0.9


def test_probes_reject_bad_input() -> None:
    x = np.random.default_rng(9).normal(size=(10, 3))
    with pytest.raises(ValueError, match="2 classes"):
        linear_probe_accuracy(x, np.zeros(10), x, np.zeros(10), seed=0)
    with pytest.raises(ValueError, match="k"):
        knn_accuracy(x, np.arange(10) % 2, x, np.arange(10) % 2, k=11)
    with pytest.raises(ValueError, match="widths"):
        knn_accuracy(x, np.arange(10) % 2, x[:, :2], np.arange(10) % 2)


# --- 2-D embedding ------------------------------------------------------------------------------------------------

def test_pca_embedding_deterministic_and_principal() -> None:
    rng = np.random.default_rng(10)
    feats = rng.normal(size=(50, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    a, b = embedding_2d(feats, seed=0), embedding_2d(feats.copy(), seed=0)
    assert a.shape == (50, 2) and a.dtype == np.float32
    assert np.array_equal(a, b)
    centred = feats - feats.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    # the sign rule: each component's largest-magnitude loading is positive
    comps = vt[:2] * np.sign(vt[:2][np.arange(2), np.argmax(np.abs(vt[:2]), axis=1)])[:, None]
    np.testing.assert_allclose(a, centred @ comps.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(embedding_2d(-feats, seed=0), -a, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="embedding"):
        embedding_2d(feats[:, :1], seed=0)
    with pytest.raises(ValueError, match="embedding"):
        embedding_2d(feats, seed=0, method="tsne")  # type: ignore[arg-type]


@pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn is installed")
def test_umap_without_the_package_names_the_field() -> None:
    with pytest.raises(ValueError, match="embedding.*umap-learn"):
        embedding_2d(np.zeros((5, 3)), seed=0, method="umap")


# --- layer features -----------------------------------------------------------------------------------------------

def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _inputs(shape: tuple[int, int, int], n: int = 5) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(0))


def test_layer_features_mlp() -> None:
    shape = (1, 4, 4)
    model = build_model("mlp", shape, 3, seed=0)
    x = _inputs(shape)
    feats = layer_features(model, x, batch_size=2)  # 3 batches
    assert list(feats) == ["features.1", "features.3", "features.5", "penultimate", "head"]
    assert {k: v.shape for k, v in feats.items()} == {
        "features.1": (5, 512), "features.3": (5, 256), "features.5": (5, 128), "penultimate": (5, 128),
        "head": (5, 3)}
    assert all(v.dtype == np.float32 for v in feats.values())
    with torch.no_grad():
        first = (x.flatten(1) @ model.features[1].weight.T).numpy()
        z, logits = model.features(x).numpy(), model(x).numpy()
    # captured before the in-place ReLU that follows the layer
    assert (feats["features.1"] < 0).any()
    np.testing.assert_allclose(feats["features.1"], first, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats["penultimate"], z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats["head"], logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(penultimate_features(model, x), z, rtol=1e-5, atol=1e-6)
    assert _hook_count(model) == 0


def test_layer_features_cnn_order_shapes_and_selection() -> None:
    shape = (1, 8, 8)
    model = build_model("cnn", shape, 4, seed=1)
    x = _inputs(shape, n=6)
    feats = layer_features(model, x)
    assert list(feats) == ["features.0", "features.3", "features.7", "head.0", "penultimate", "head.1"]
    assert [v.shape for v in feats.values()] == [(6, 16 * 8 * 8), (6, 32 * 4 * 4), (6, 256), (6, 128), (6, 128),
                                                (6, 4)]
    np.testing.assert_array_equal(feats["penultimate"], feats["head.0"])  # the head has two Linears
    picked = layer_features(model, x, layers=["head.1", "features.3"], batch_size=4)
    assert list(picked) == ["features.3", "head.1"]  # forward order, not the order asked
    np.testing.assert_allclose(picked["features.3"], feats["features.3"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown layer"):
        layer_features(model, x, layers=["features.1"])  # a ReLU: not hooked
    assert _hook_count(model) == 0


def test_layer_features_leaves_the_model_unchanged() -> None:
    shape = (1, 8, 8)
    model = build_model("allcnn", shape, 3, seed=2)  # batch norm: train mode would update running stats
    x = _inputs(shape, n=4)
    model.train()
    model.features[1].eval()  # a mixed state must come back exactly
    flags = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hooks_before = _hook_count(model)
    layer_features(model, x, batch_size=3)
    assert [m.training for m in model.modules()] == flags
    assert _hook_count(model) == hooks_before == 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    model.eval()
    with torch.no_grad():
        before = model(x)
    feats = layer_features(model, x)
    with torch.no_grad():
        after = model(x)
    assert torch.equal(before, after) and not model.training
    np.testing.assert_allclose(feats["head"], before.numpy(), rtol=1e-5, atol=1e-6)
    # hooks are removed and flags restored on error too
    model.train()
    with pytest.raises(RuntimeError):
        layer_features(model, torch.zeros(2, 5, 8, 8))  # wrong channel count
    assert _hook_count(model) == 0 and model.training
