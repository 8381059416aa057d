"""UDRU (seed 000): the formulated targets are the KL(uniform || softmax) minimisers, computed stably; the delta
penalty anchors the weights; the filter drops exactly the misclassified forget samples; it forgets end to end."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import logsumexp
from torch import nn

from engine.config import build_config
from engine.methods import METHODS
from engine.methods.udru import (
    PAPER_DEFAULTS,
    UDRUConfig,
    correctly_classified,
    positive_mask,
    udru_targets,
)
from engine.paradigms.base import Supervision, one_hot_supervision
from tests.methods.conftest import accuracy, cached_problem, view_for

UDRU = METHODS.get("udru")


def _kl_argmin_over_s(z: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Numerically minimise KL(uniform || softmax(t)) over t[S], t[not S] = z[not S] (Eq. 4)."""
    k = z.shape[0]

    def kl(free: np.ndarray) -> float:
        t = z.copy()
        t[s] = free
        return float(-np.log(k) - np.mean(t - logsumexp(t)))

    res = minimize(kl, z[s].copy(), method="BFGS", options={"gtol": 1e-10})
    t = z.copy()
    t[s] = res.x
    return t


@pytest.mark.parametrize("sizes", [(1,) * 6, (2, 3, 2, 3, 4, 1)], ids=["supervised", "partial_label"])
def test_targets_minimise_kl_to_uniform(sizes: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(0)
    k = 7
    z = torch.randn(len(sizes), k, generator=gen, dtype=torch.float64) * 3
    mask = torch.zeros(len(sizes), k, dtype=torch.bool)
    for i, m in enumerate(sizes):
        mask[i, torch.randperm(k, generator=gen)[:m]] = True
    t = udru_targets(z, mask, beta=1.0)
    for i in range(len(sizes)):
        ref = _kl_argmin_over_s(z[i].numpy(), mask[i].numpy())
        np.testing.assert_allclose(t[i].numpy(), ref, atol=1e-3)
        # the optimum puts exactly 1/K on every positive class, the other logits untouched
        p = torch.softmax(t[i], 0)
        torch.testing.assert_close(p[mask[i]], torch.full((sizes[i],), 1.0 / k, dtype=torch.float64))
        torch.testing.assert_close(t[i][~mask[i]], z[i][~mask[i]])


def test_targets_beta_and_degenerate_rows() -> None:
    z = torch.tensor([[2.0, 0.0, 1.0, -1.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    mask = torch.tensor([[True, False, False, False], [True, True, True, True], [False, False, False, False]])
    t1, t01 = udru_targets(z, mask, 1.0), udru_targets(z, mask, 0.1)
    expected = float(np.log(np.mean(np.exp([0.0, 1.0, -1.0]))))
    assert t1[0, 0].item() == pytest.approx(expected, abs=1e-6)
    assert (t1[0, 0] - t01[0, 0]).item() == pytest.approx(np.log(10.0), abs=1e-6)
    torch.testing.assert_close(torch.softmax(t1[1], 0), torch.full((4,), 0.25))  # S = all classes: uniform
    torch.testing.assert_close(t1[2], z[2])  # empty S: unchanged


def test_targets_stable_for_huge_logits() -> None:
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(5, 10, generator=gen)
    mask = torch.zeros(5, 10, dtype=torch.bool)
    mask[torch.arange(5), torch.tensor([0, 3, 5, 7, 9])] = True
    mask[1, 4] = True
    big = z + 1000.0
    assert not torch.isfinite(torch.exp(big)).any()  # what exp-then-log would overflow on (float32)
    t = udru_targets(big, mask, beta=0.2)
    assert torch.isfinite(t).all()
    torch.testing.assert_close(t, udru_targets(z, mask, beta=0.2) + 1000.0)  # shift-equivariant


def test_positive_sets_per_paradigm() -> None:
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    sl = one_hot_supervision(torch.tensor([0, 0, 2]), 3)
    torch.testing.assert_close(positive_mask(sl, logits, "supervised"), torch.eye(3, dtype=torch.bool)[[0, 0, 2]])
    cand = torch.tensor([[True, True, False], [False, False, True], [True, False, True]])
    pll = Supervision("candidates", torch.full((3,), -1), cand, torch.ones(3, dtype=torch.bool))
    torch.testing.assert_close(positive_mask(pll, logits, "partial_label"), cand)
    nll = positive_mask(sl, logits, "noisy_label")  # noisy label + argmax (Eq. 10)
    torch.testing.assert_close(nll, torch.tensor([[True, False, False], [True, True, False], [False, False, True]]))
    assert correctly_classified(logits, nll).all()  # under NLL the filter never drops anything
    with pytest.raises(ValueError, match="paradigm"):
        positive_mask(sl, logits, "label_free")


def _distance(a: nn.Module, b: nn.Module) -> float:
    with torch.no_grad():
        return float(sum((p - q).pow(2).sum() for p, q in zip(a.parameters(), b.parameters(), strict=True)))


def test_delta_pulls_towards_theta_star() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("udru", problem, original)
    cfg = UDRUConfig(steps=20, lr=1e-3)
    free = UDRU.unlearn(copy.deepcopy(original), data, dataclasses.replace(cfg, delta=0.0), ctx)
    anchored = UDRU.unlearn(copy.deepcopy(original), data, dataclasses.replace(cfg, delta=100.0), ctx)
    d_free, d_anchored = _distance(free, original), _distance(anchored, original)
    assert d_free > 0
    assert d_anchored < 0.2 * d_free


class _Recorder(nn.Module):
    """Wraps a model and records the inputs of every gradient-enabled forward."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.seen.append(x.detach().clone())
        return self.net(x)


def test_filter_drops_exactly_the_misclassified() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("udru", problem, original)
    with torch.no_grad():
        pred = original.eval()(data.x_forget).argmax(1)
    # relabel a few forget samples away from the model's prediction: those become "misclassified"
    labels = data.sup_forget.labels.clone()
    flip = torch.tensor([0, 5, 17, 40])
    labels[flip] = (pred[flip] + 1) % data.num_classes
    sup = one_hot_supervision(labels, data.num_classes)
    data = dataclasses.replace(data, sup_forget=sup)
    keep = pred == labels
    assert int((~keep).sum()) >= len(flip)

    for on, expected in ((True, data.x_forget[keep]), (False, data.x_forget)):
        rec = _Recorder(copy.deepcopy(original))
        UDRU.unlearn(rec, data, UDRUConfig(steps=1, filter_misclassified=on), ctx)
        assert len(rec.seen) == 1
        torch.testing.assert_close(rec.seen[0], expected, rtol=0, atol=0)


def test_chunking_is_exact_full_batch() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("udru", problem, original)
    cfg = UDRUConfig(steps=3, lr=1e-3, delta=1e-2)
    full = UDRU.unlearn(copy.deepcopy(original), data, cfg, ctx)
    chunked = UDRU.unlearn(copy.deepcopy(original), data, dataclasses.replace(cfg, chunk_size=16), ctx)
    for a, b in zip(full.parameters(), chunked.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("paradigm", ["supervised", "partial_label", "noisy_label"])
def test_forgets_end_to_end(paradigm: str) -> None:
    kw = {} if paradigm == "supervised" else {"paradigm": paradigm, "rate": 0.2}
    problem, original = cached_problem(**kw)
    data, ctx = view_for("udru", problem, original)
    forget_idx, retain_idx = problem.step(0)
    x, y = problem.data.x_train, problem.data.y_train
    before_f = accuracy(original, x[forget_idx], y[forget_idx])
    out = UDRU.unlearn(copy.deepcopy(original), data, UDRUConfig(), ctx)
    after_f = accuracy(out, x[forget_idx], y[forget_idx])
    after_r = accuracy(out, x[retain_idx], y[retain_idx])
    assert before_f > 0.9
    assert after_f < 0.1, (paradigm, after_f)
    assert after_r > 0.9, (paradigm, after_r)
    assert after_r > accuracy(original, x[retain_idx], y[retain_idx]) - 0.05


def test_registration_and_paper_table() -> None:
    assert UDRU.family == "seed" and UDRU.needs.forget_labels and not UDRU.needs.retain_data
    assert UDRU.paradigms == ("supervised", "partial_label", "noisy_label")
    fields = {f.name for f in dataclasses.fields(UDRUConfig)}
    for per_paradigm in PAPER_DEFAULTS.values():
        for paradigm, values in per_paradigm.items():
            assert paradigm in UDRU.paradigms
            build_config(UDRUConfig, values, "udru")  # every preset: real fields, inside their ranges
            assert set(values) <= fields
    assert PAPER_DEFAULTS["mnist"]["supervised"] == {"lr": 1e-3, "beta": 1.0, "steps": 1024, "delta": 1e-4}
