"""Contract tests run over every registered method (STYLE.md 6): returns a model, leaves inputs untouched,
same seed -> same result, honours its declared needs, config round-trips."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from engine.config import build_config, config_dict, schema
from engine.methods import METHODS
from tests.methods.conftest import cached_problem, view_for

FAST = {"epochs": 1, "steps": 2, "iterations": 2, "fisher_noise": False}


def fast_config(key: str):  # noqa: ANN201
    """The method's config with its epoch-like fields cut to the minimum (keeps the contract suite fast)."""
    cls = METHODS.get(key).config
    names = {p.name for p in schema(cls)}
    return build_config(cls, {k: v for k, v in FAST.items() if k in names}, f"methods.{key}")


@pytest.mark.parametrize("key", METHODS.keys())
def test_method_contract(key: str) -> None:
    method = METHODS.get(key)
    problem, original = cached_problem()
    data, ctx = view_for(key, problem, original)
    cfg = fast_config(key)
    x_before = data.x_forget.clone()
    params_before = [p.detach().clone() for p in original.parameters()]

    torch.manual_seed(123)
    out1 = method.unlearn(copy.deepcopy(original), data, cfg, ctx)
    torch.manual_seed(456)  # a method must not depend on the global RNG state, only on ctx.seed
    out2 = method.unlearn(copy.deepcopy(original), data, cfg, ctx)

    assert isinstance(out1, torch.nn.Module)
    assert torch.equal(data.x_forget, x_before)
    for p, b in zip(original.parameters(), params_before, strict=True):
        assert torch.equal(p, b), "the original model was mutated"
    for a, b in zip(out1.state_dict().values(), out2.state_dict().values(), strict=True):
        assert torch.equal(a, b), "same seed gave different weights"
    logits = out1(problem.data.x_test[:4])
    assert logits.shape == (4, problem.data.num_classes)

    # config round-trip through its plain-dict form, defaults inside their declared ranges
    assert build_config(method.config, config_dict(cfg), "m") == cfg
    assert dataclasses.is_dataclass(method.config)
    for p in schema(method.config):
        assert p.help, f"{key}.{p.name} has no help text"


@pytest.mark.parametrize("key", METHODS.keys())
def test_method_declares_its_needs_and_doc(key: str) -> None:
    method = METHODS.get(key)
    assert method.doc and method.paper and method.title
    problem, original = cached_problem()
    data, _ = view_for(key, problem, original)
    needs = method.needs
    assert (data.sup_forget is not None) == needs.forget_labels
    assert (data.x_retain is not None) == (needs.retain_data or needs.retain_labels or needs.labelled_retain_sample)
    assert set(data.train_state) == set(needs.train_time_state)
