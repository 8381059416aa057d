"""EU-k's defining mechanism: the last k blocks + head are re-initialised (differ from the original before any
training), the rest stays identical, and the reset part is then trained on the retain set."""

from __future__ import annotations

import copy

import torch

from engine.config import build_config
from engine.methods import METHODS
from engine.methods.eu_k import EUkConfig, reinitialise
from engine.methods.shared.blocks import last_k_blocks
from tests.methods.conftest import accuracy, cached_problem, view_for


def _owner(key: str, names: list[str]) -> bool:
    return any(key.startswith(n + ".") for n in names)


def test_reinitialise_resets_the_last_blocks_and_leaves_the_rest() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("eu_k", problem, original)
    names = last_k_blocks(original, 1)
    torch.manual_seed(9)
    state = torch.get_rng_state()
    reset = reinitialise(copy.deepcopy(original), names, ctx, data.num_classes)
    assert torch.equal(torch.get_rng_state(), state)  # seeded from the run, not the global RNG
    before, after = original.state_dict(), reset.state_dict()
    for key in before:
        if _owner(key, names):
            assert not torch.equal(before[key], after[key]), f"{key} was not re-initialised"
        else:
            assert torch.equal(before[key], after[key]), f"{key} changed"
    again = reinitialise(copy.deepcopy(original), names, ctx, data.num_classes).state_dict()
    assert all(torch.equal(after[k], again[k]) for k in after)


def test_eu_k_trains_only_the_reset_part_and_forgets_the_class() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("eu_k", problem, original)
    cfg = build_config(EUkConfig, {"epochs": 3}, "m")
    out = METHODS.get("eu_k").unlearn(copy.deepcopy(original), data, cfg, ctx)
    names = last_k_blocks(original, cfg.k)
    before, after = original.state_dict(), out.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not _owner(k, names))
    y_f = problem.supervision.take(problem.step(0)[0]).labels
    assert accuracy(out, data.x_forget, y_f) < 0.2
    assert accuracy(out, data.x_retain, data.sup_retain.labels) > 0.9
