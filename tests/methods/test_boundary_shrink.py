"""Boundary Shrink (Chen et al. 2023): the new labels are the frozen original's predictions on FGSM neighbours,
the FGSM step is epsilon * sign of the input gradient (no [0, 1] clamp unless asked), and fine-tuning on the
clean inputs moves the forget predictions to those labels."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from engine.methods import METHODS
from engine.methods.boundary_shrink import PAPER_DEFAULTS, BoundaryShrinkConfig, fgsm, neighbour_labels
from tests.methods.conftest import accuracy, cached_problem, view_for

SHRINK = METHODS.get("boundary_shrink")


def test_neighbour_labels_are_the_originals_argmax_on_fgsm_inputs() -> None:
    problem, original = cached_problem()
    data, _ = view_for("boundary_shrink", problem, original)
    model = copy.deepcopy(original).eval()
    eps = 0.4
    x = data.x_forget.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), data.sup_forget.labels), x)
    x_adv = data.x_forget + eps * g.sign()
    expected = model(x_adv).argmax(1)
    original.train()
    got = neighbour_labels(original, data.x_forget, data.sup_forget, data.loss, eps)
    assert torch.equal(got, expected)
    assert float((got != data.sup_forget.labels).float().mean()) > 0.5  # most cross a boundary
    assert float((got == 0).float().mean()) < 1.0  # not a constant relabelling
    assert original.training  # the original's mode is restored


def test_fgsm_clamps_only_in_the_official_mode() -> None:
    problem, original = cached_problem()
    data, _ = view_for("boundary_shrink", problem, original)
    x, sup = data.x_forget[:16], data.sup_forget.take(torch.arange(16))
    free = fgsm(original, x, sup, data.loss, 0.4)
    assert bool(((free - x).abs() <= 0.4 + 1e-6).all())
    assert float(free.min()) < 0.0  # normalised inputs keep their negative values
    official = fgsm(original, x, sup, data.loss, 0.4, clamp="official_unit")
    assert float(official.min()) >= 0.0 and float(official.max()) <= 1.0
    assert torch.allclose(official * 255, (official * 255).round(), atol=1e-4)


def test_unlearning_moves_forget_predictions_to_the_neighbour_labels() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("boundary_shrink", problem, original)
    cfg = BoundaryShrinkConfig()
    targets = neighbour_labels(original, data.x_forget, data.sup_forget, data.loss, cfg.epsilon)
    before = accuracy(original, data.x_forget, targets)
    out = SHRINK.unlearn(copy.deepcopy(original), data, cfg, ctx)
    after = accuracy(out, data.x_forget, targets)
    assert after > before + 0.3
    assert accuracy(out, data.x_forget, data.sup_forget.labels) < 0.3


def test_paper_defaults_convert_the_pixel_bound() -> None:
    assert abs(PAPER_DEFAULTS["digits"]["epsilon"] - 0.1 / 0.376) < 1e-3
    for values in PAPER_DEFAULTS.values():
        assert values["lr"] == 1e-5 and values["epochs"] == 10
