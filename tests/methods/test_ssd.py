"""SSD: only parameters whose forget importance exceeds alpha x full importance are dampened, by min(lambda D/f, 1)."""

from __future__ import annotations

import copy

import torch

from engine.methods import METHODS
from engine.methods.ssd import SSDConfig, dampening_factors, importances
from tests.methods.conftest import accuracy, cached_problem, view_for


def test_dampening_factors_select_and_scale() -> None:
    imp_f = torch.tensor([1.0, 5.0, 30.0, 100.0, 0.0])
    imp_d = torch.tensor([1.0, 1.0, 2.0, 50.0, 0.0])
    f = dampening_factors(imp_f, imp_d, alpha=10.0, lambda_=1.0)
    # selected: 30 > 20 only (5 <= 10, 100 <= 500, 0 <= 0); factor = 1 * 2 / 30
    assert torch.allclose(f, torch.tensor([1.0, 1.0, 2.0 / 30.0, 1.0, 1.0]))
    # lambda large: the factor is capped at 1 (never amplifies)
    assert torch.equal(dampening_factors(imp_f, imp_d, 10.0, 100.0), torch.ones(5))


def test_ssd_changes_only_selected_parameters_by_the_stated_factor() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("ssd", problem, original)
    cfg = SSDConfig()
    net = copy.deepcopy(original).eval()
    imp_f = importances(net, data.x_forget, data.sup_forget, data.loss, cfg.batch_size)
    x_full = torch.cat([data.x_forget, data.x_retain])
    from engine.methods.ssd import _cat
    imp_d = importances(net, x_full, _cat(data.sup_forget, data.sup_retain), data.loss, cfg.batch_size)
    out = METHODS.get("ssd").unlearn(copy.deepcopy(original), data, cfg, ctx)
    n_sel = 0
    for p0, p1, f, d in zip(original.parameters(), out.parameters(), imp_f, imp_d, strict=True):
        sel = f > cfg.alpha * d
        n_sel += int(sel.sum())
        assert torch.equal(p1[~sel], p0.detach()[~sel])
        expect = p0.detach()[sel] * (cfg.lambda_ * d[sel] / f[sel]).clamp(max=1.0)
        assert torch.allclose(p1[sel], expect, rtol=1e-5, atol=1e-7)
    assert n_sel > 0
    forget_y, test_y = problem.data.y_train[problem.step(0)[0]], problem.data.y_test
    assert accuracy(out, data.x_forget, forget_y) < 0.5 * accuracy(original, data.x_forget, forget_y)
    assert accuracy(out, problem.data.x_test[test_y != 3], test_y[test_y != 3]) > 0.8
