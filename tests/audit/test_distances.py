"""engine.audit.distances: JS divergence, activation distance, ZRF and weight distance on hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from torch import nn

from engine.audit.distances import LN2, activation_distance, js_divergence, weight_distance, zrf


def _logits(probs: list[list[float]]) -> np.ndarray:
    """Logits whose softmax is ``probs`` (log-probabilities)."""
    return np.log(np.asarray(probs, dtype=np.float64))


def test_js_identical_is_zero() -> None:
    z = np.random.default_rng(0).normal(size=(20, 5)) * 3
    res = js_divergence(z, z)
    np.testing.assert_allclose(res.per_example, 0.0, atol=1e-15)
    assert res.mean == pytest.approx(0.0, abs=1e-15)
    # a shift of the logits is the same distribution
    assert js_divergence(z, z + 7.0).mean == pytest.approx(0.0, abs=1e-12)


def test_js_disjoint_is_ln2() -> None:
    p = np.array([[50.0, -50.0, -50.0], [-50.0, 50.0, -50.0]])
    q = np.array([[-50.0, 50.0, -50.0], [-50.0, -50.0, 50.0]])
    res = js_divergence(p, q)
    np.testing.assert_allclose(res.per_example, math.log(2), atol=1e-9)
    assert res.mean == pytest.approx(LN2, abs=1e-9)


def test_js_symmetric_bounded_and_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    p, q = rng.normal(size=(30, 4)) * 2, rng.normal(size=(30, 4)) * 2
    a, b = js_divergence(p, q), js_divergence(q, p)
    np.testing.assert_allclose(a.per_example, b.per_example, rtol=0, atol=1e-15)
    assert np.all((a.per_example > 0) & (a.per_example < LN2))
    assert a.mean == pytest.approx(a.per_example.mean())

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    ref = jensenshannon(softmax(p), softmax(q), axis=1) ** 2  # scipy returns the JS *distance* (square root), nats
    np.testing.assert_allclose(a.per_example, ref, rtol=1e-9)


def test_js_hand_example() -> None:
    # P = (0.5, 0.5), Q = (0.9, 0.1), M = (0.7, 0.3)
    kl_pm = 0.5 * math.log(0.5 / 0.7) + 0.5 * math.log(0.5 / 0.3)
    kl_qm = 0.9 * math.log(0.9 / 0.7) + 0.1 * math.log(0.1 / 0.3)
    expected = 0.5 * (kl_pm + kl_qm)
    assert expected == pytest.approx(0.101749, abs=1e-6)
    res = js_divergence(_logits([[0.5, 0.5], [0.2, 0.8]]), _logits([[0.9, 0.1], [0.2, 0.8]]))
    np.testing.assert_allclose(res.per_example, [expected, 0.0], atol=1e-12)
    assert res.mean == pytest.approx(expected / 2, abs=1e-12)


def test_js_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        js_divergence(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="logits_q"):
        js_divergence(np.zeros((3, 2)), np.full((3, 2), np.nan))


def test_activation_distance_hand_example() -> None:
    # row 0: (0.5, 0.5) vs (0.9, 0.1): difference (-0.4, 0.4), L2 = 0.4 * sqrt(2); row 1 identical
    d = activation_distance(_logits([[0.5, 0.5], [0.2, 0.8]]), _logits([[0.9, 0.1], [0.2, 0.8]]))
    assert d == pytest.approx(0.4 * math.sqrt(2) / 2, abs=1e-12)
    one_hot = activation_distance(np.array([[60.0, 0.0]]), np.array([[0.0, 60.0]]))
    assert one_hot == pytest.approx(math.sqrt(2), abs=1e-9)


def test_zrf_direction_and_range() -> None:
    rng = np.random.default_rng(2)
    random_model = rng.normal(size=(50, 10)) * 0.1  # an incompetent model: near-uniform outputs
    assert zrf(random_model, random_model) == pytest.approx(1.0, abs=1e-15)  # behaves exactly like random
    confident = random_model.copy()
    confident[np.arange(50), rng.integers(0, 10, 50)] += 20.0  # still remembers: confident predictions
    halfway = random_model.copy()
    halfway[np.arange(50), rng.integers(0, 10, 50)] += 2.0
    z_conf, z_half = zrf(confident, random_model), zrf(halfway, random_model)
    assert 1 - LN2 <= z_conf < z_half < 1.0  # closer to the random model -> higher ZRF
    assert z_conf == pytest.approx(1 - js_divergence(confident, random_model).mean)
    # disjoint one-hots: the floor is 1 - ln 2 in nats, 0 when normalised by ln 2
    p, q = np.array([[60.0, 0.0]]), np.array([[0.0, 60.0]])
    assert zrf(p, q) == pytest.approx(1 - LN2, abs=1e-9)
    assert zrf(p, q, normalise=True) == pytest.approx(0.0, abs=1e-9)
    assert zrf(confident, random_model, normalise=True) == pytest.approx(1 - (1 - z_conf) / LN2)


def test_weight_distance_hand_example() -> None:
    a = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.zeros(2), "steps": np.array(5)}
    b = {"w": np.array([[1.0, 2.0], [3.0, 0.0]]), "b": np.zeros(2), "steps": np.array(3)}
    res = weight_distance(a, b)
    assert [name for name, _, _ in res.per_tensor] == ["w", "b"]  # state order, the integer entry skipped
    (_, l2_w, rel_w), (_, l2_b, rel_b) = res.per_tensor
    assert l2_w == pytest.approx(4.0) and rel_w == pytest.approx(4.0 / math.sqrt(14.0))
    assert l2_b == 0.0 and rel_b == 0.0
    assert res.total_l2 == pytest.approx(4.0)
    assert res.total_relative == pytest.approx(4.0 / math.sqrt(14.0))
    # relative to an all-zero reference that differs: infinite
    assert weight_distance({"v": np.ones(3)}, {"v": np.zeros(3)}).per_tensor[0][2] == math.inf


def test_weight_distance_on_torch_state_dicts() -> None:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    sa = {k: v.clone() for k, v in net.state_dict().items()}
    sb = {k: v.clone() for k, v in sa.items()}
    sb["2.bias"] = sb["2.bias"] + torch.tensor([3.0, 4.0])
    res = weight_distance(sa, sb)
    names = [name for name, _, _ in res.per_tensor]
    assert names == [k for k in sa if k != "1.num_batches_tracked"]  # int64 buffer skipped
    by_name = {name: (l2, rel) for name, l2, rel in res.per_tensor}
    assert by_name["2.bias"][0] == pytest.approx(5.0, rel=1e-6)
    assert by_name["2.bias"][1] == pytest.approx(5.0 / float(sb["2.bias"].norm()), rel=1e-6)
    assert all(l2 == 0.0 for name, (l2, _) in by_name.items() if name != "2.bias")
    assert res.total_l2 == pytest.approx(5.0, rel=1e-6)
    assert weight_distance(sa, sa).total_l2 == 0.0


def test_weight_distance_key_and_shape_mismatch() -> None:
    a = {"w": np.ones(2), "extra": np.ones(1)}
    with pytest.raises(ValueError, match="'extra'"):
        weight_distance(a, {"w": np.ones(2)})
    with pytest.raises(ValueError, match="'other'"):
        weight_distance({"w": np.ones(2)}, {"w": np.ones(2), "other": np.ones(1)})
    with pytest.raises(ValueError, match="'w'.*shape"):
        weight_distance({"w": np.ones(2)}, {"w": np.ones(3)})
    with pytest.raises(ValueError, match="'w'.*floating"):
        weight_distance({"w": np.ones(2)}, {"w": np.ones(2, dtype=np.int64)})
