"""PPU (seed 004): the refinement meets Eq. 2-4, pseudo-probabilities, the KL fit, checkpoint selection, plug-in."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from engine.config import build_config
from engine.errors import NotApplicable
from engine.jobs.method_inputs import not_applicable_reason
from engine.methods import METHODS
from engine.methods.ppu import (
    PAPER_DEFAULTS,
    class_target,
    kl_to_targets,
    pseudo_probabilities,
    refine,
    refined_targets,
    select_checkpoint,
)
from engine.methods.ppu_after import BASES
from engine.paradigms import PARADIGMS
from tests.methods.conftest import accuracy, cached_problem, view_for


def _random_problem(seed: int, n: int = 80, k: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, k, generator=g, dtype=torch.float64) ** 3  # peaked rows, some tiny entries
    a = a / a.sum(1, keepdim=True)
    c = torch.rand(k, generator=g, dtype=torch.float64) + 0.3
    return a, c / c.sum() * n, torch.rand(n, generator=g, dtype=torch.float64) * 3 + 0.25


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_refine_meets_every_constraint(seed: int, weighted: bool) -> None:
    a, c, w = _random_problem(seed)
    m = refine(a, c, w if weighted else None, iters=3000, tol=1e-7)
    assert m.shape == a.shape and m.dtype == torch.float64
    assert bool((m >= 0).all()) and bool((m <= 1).all())  # Eq. 4
    torch.testing.assert_close(m.sum(1), torch.ones(a.shape[0], dtype=torch.float64), atol=1e-10, rtol=0)  # Eq. 3
    torch.testing.assert_close(m.sum(0), c, atol=1e-6, rtol=0)  # Eq. 2


def test_refine_is_the_dual_form_of_eq6() -> None:
    """With equal weights M_ij = A_ij * exp(u_i - nu_j): log(M/A) is a row term plus a column term."""
    a, c, _ = _random_problem(3)
    d = torch.log(refine(a, c, None, iters=3000, tol=1e-9) / a)
    centred = d - d.mean(1, keepdim=True) - d.mean(0, keepdim=True) + d.mean()
    assert float(centred.abs().max()) < 1e-6
    # and the solution is the KL projection: it is closer to A than another feasible matrix (c_j / N everywhere)
    m = refine(a, c, None, iters=3000, tol=1e-9)
    other = (c / a.shape[0]).expand_as(a)
    kl = lambda p: float((p * torch.log(p / a)).sum())  # noqa: E731
    assert kl(m) < kl(other)


def test_refine_keeps_a_feasible_matrix_unchanged() -> None:
    """The official script's target (column sums of [A_r; pseudo]) makes the refinement the identity."""
    a, _, w = _random_problem(4)
    torch.testing.assert_close(refine(a, a.sum(0), w, iters=10, tol=1e-9), a, atol=1e-9, rtol=0)


def test_refine_rejects_an_infeasible_target() -> None:
    a, c, _ = _random_problem(5)
    with pytest.raises(ValueError, match="sum to the number of rows"):
        refine(a, c * 2, None)


def test_pseudo_probabilities_uniform_and_random() -> None:
    uni = pseudo_probabilities(7, 4, "uniform", torch.Generator().manual_seed(0))
    torch.testing.assert_close(uni, torch.full((7, 4), 0.25, dtype=torch.float64))
    r1 = pseudo_probabilities(7, 4, "random", torch.Generator().manual_seed(0))
    r2 = pseudo_probabilities(7, 4, "random", torch.Generator().manual_seed(0))
    r3 = pseudo_probabilities(7, 4, "random", torch.Generator().manual_seed(1))
    torch.testing.assert_close(r1.sum(1), torch.ones(7, dtype=torch.float64))
    assert bool((r1 > 0).all()) and torch.equal(r1, r2) and not torch.equal(r1, r3)
    assert float((r1 - 0.25).abs().max()) > 0.05  # not uniform


def test_select_checkpoint_picks_the_epoch_closest_to_the_reference() -> None:
    errors = [0.0, 0.1, 0.3, 0.6, 0.9]
    assert select_checkpoint(errors, 0.35) == 2
    assert select_checkpoint(errors, 1.0) == 4
    assert select_checkpoint(errors, 0.0) == 0
    assert select_checkpoint([0.2, 0.4, 0.2], 0.3) == 0  # ties: the earliest
    with pytest.raises(ValueError):
        select_checkpoint([], 0.5)


def _forget_kl_to_uniform(model: torch.nn.Module, x: torch.Tensor, k: int) -> float:
    model.eval()
    with torch.no_grad():
        return float(kl_to_targets(model(x), torch.full((x.shape[0], k), 1.0 / k)).mean())


@pytest.mark.parametrize("pseudo", ["uniform", "random"])
def test_ppu_end_to_end_forgets_the_class(pseudo: str) -> None:
    problem, original = cached_problem()
    data, ctx = view_for("ppu", problem, original)
    assert data.sup_forget is None and data.sup_retain is None  # outputs only: the label-free view
    fi, ri = problem.step(0)
    y = problem.data.y_train
    cfg = build_config(METHODS.get("ppu").config, {"pseudo": pseudo}, "ppu")
    before = _forget_kl_to_uniform(original, data.x_forget, data.num_classes)
    out = METHODS.get("ppu").unlearn(copy.deepcopy(original), data, cfg, ctx)
    after = _forget_kl_to_uniform(out, data.x_forget, data.num_classes)
    assert after < 0.25 * before  # the KL fit moved the forget outputs to the (near-)uniform targets
    with torch.no_grad():
        p = torch.softmax(out(data.x_forget), 1)
    entropy = float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())
    assert entropy > 0.8 * math.log(data.num_classes)
    assert accuracy(out, problem.data.x_train[fi], y[fi]) < 0.3
    assert accuracy(out, problem.data.x_train[ri], y[ri]) > 0.95


def test_ppu_privacy_mode_keeps_a_forgetting_epoch_for_a_class() -> None:
    """A whole class: held-out samples of the class are forgotten too, so the reference is high. (With the
    privacy mode's own class masses, ``original``, a whole class gets its mass back: see the method doc.)"""
    problem, original = cached_problem()
    data, ctx = view_for("ppu", problem, original)
    assert data.x_val is not None
    fi, _ = problem.step(0)
    cfg = build_config(METHODS.get("ppu").config, {"mode": "privacy", "target": "pseudo", "epochs": 3}, "ppu")
    out = METHODS.get("ppu").unlearn(copy.deepcopy(original), data, cfg, ctx)
    assert accuracy(out, problem.data.x_train[fi], problem.data.y_train[fi]) < 0.5


def test_ppu_runs_without_labels_and_ppu_after_needs_them() -> None:
    label_free = PARADIGMS.get("label_free")
    assert not_applicable_reason(METHODS.get("ppu"), label_free) is None
    assert "label" in (not_applicable_reason(METHODS.get("ppu_after"), label_free) or "")


def test_ppu_after_finetune_runs_and_forgets() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("ppu_after", problem, original)
    fi, ri = problem.step(0)
    y = problem.data.y_train
    cfg = build_config(METHODS.get("ppu_after").config, {"base": "finetune", "epochs": 3}, "ppu_after")
    out = METHODS.get("ppu_after").unlearn(copy.deepcopy(original), data, cfg, ctx)
    assert accuracy(out, problem.data.x_train[fi], y[fi]) < 0.3
    assert accuracy(out, problem.data.x_train[ri], y[ri]) > 0.95


def test_ppu_after_unregistered_base_is_not_applicable(monkeypatch: pytest.MonkeyPatch) -> None:
    # as if the base were not registered (a filtered copy: the registry's own dict and order stay intact)
    monkeypatch.setattr(METHODS, "_items", {k: v for k, v in METHODS._items.items() if k != "finetune"})
    missing = [b for b in BASES if b not in METHODS]
    problem, original = cached_problem()
    data, ctx = view_for("ppu_after", problem, original)
    cfg = build_config(METHODS.get("ppu_after").config, {"base": missing[0]}, "ppu_after")
    with pytest.raises(NotApplicable, match=missing[0]):
        METHODS.get("ppu_after").unlearn(copy.deepcopy(original), data, cfg, ctx)


SELECTIVE = {"scenario": "selective", "params": (("forget_class", 5), ("count", 25))}  # PPU Table 3 on digits


def _outputs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(x).double(), 1)


def test_target_auto_is_the_modes_and_the_papers_privacy_setting_refines() -> None:
    config = METHODS.get("ppu").config
    assert class_target(build_config(config, {}, "ppu")) == "pseudo"  # bias removal: Sec. 5.4, no optimisation
    assert class_target(build_config(config, {"mode": "privacy"}, "ppu")) == "original"  # Sec. 4.1 / 5.5
    assert class_target(build_config(config, {"mode": "privacy", "target": "pseudo"}, "ppu")) == "pseudo"
    assert PAPER_DEFAULTS["cifar10"]["privacy"]["target"] == "original"
    assert PAPER_DEFAULTS["cifar10"]["bias_removal"]["target"] == "pseudo"


def test_privacy_refinement_moves_the_forget_rows_towards_the_original_class_masses() -> None:
    """Eq. 1-7 are not the identity in privacy mode: the refined targets differ from [A_r; pseudo], meet the
    original model's class masses, and give the forget rows back mass of their class; ``pseudo`` is the identity."""
    problem, original = cached_problem(**SELECTIVE)
    data, ctx = view_for("ppu", problem, original)
    fi, _ = problem.step(0)
    a_r, a_f = _outputs(original, data.x_retain), _outputs(original, data.x_forget)
    n_r, k = a_r.shape[0], data.num_classes
    cfg = build_config(METHODS.get("ppu").config, {"mode": "privacy", "refine_iters": 1000}, "ppu")
    stacked, refined = refined_targets(a_r, a_f, cfg, ctx.generator(1))
    torch.testing.assert_close(stacked[n_r:], torch.full((a_f.shape[0], k), 1.0 / k, dtype=torch.float64))
    assert float((refined - stacked).abs().max()) > 0.1  # the refinement changed the targets
    torch.testing.assert_close(refined.sum(0), torch.cat([a_r, a_f]).sum(0), atol=1e-5, rtol=0)  # Eq. 2: M_k
    torch.testing.assert_close(refined.sum(1), torch.ones(refined.shape[0], dtype=torch.float64))  # Eq. 3
    own = refined[n_r:].gather(1, problem.data.y_train[fi].cpu().long()[:, None])
    assert float(own.mean()) > 0.3 > 1.0 / k  # forget rows moved from uniform towards the forgotten class
    pseudo_cfg = build_config(METHODS.get("ppu").config, {"mode": "privacy", "target": "pseudo"}, "ppu")
    stacked, refined = refined_targets(a_r, a_f, pseudo_cfg, ctx.generator(1))
    torch.testing.assert_close(refined, stacked, atol=1e-9, rtol=0)  # pseudo: the documented identity
