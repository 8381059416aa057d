"""Contract tests run over every registered method (STYLE.md 6): returns a model, leaves inputs untouched,
same seed -> same result, honours its declared needs, config round-trips."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import pytest
import torch

from engine.config import COST_LINEAR, ParamSchema, build_config, config_dict, schema
from engine.jobs.method_inputs import ViewLeak, audit_view, not_applicable_reason
from engine.methods import METHODS
from engine.methods.base import UnlearnData
from engine.paradigms import PARADIGMS
from engine.paradigms.base import Supervision, one_hot_supervision
from tests.methods.conftest import cached_problem, view_for

PARADIGM_KEYS = ("supervised", "partial_label", "noisy_label", "label_free")

def least_work(p: ParamSchema) -> Any:
    """The value of a ``cost="linear"`` field that makes the least work: the smallest allowed positive value
    (1 for an integer field whose range starts at 0), never above the default (``None`` = the whole set)."""
    lo = p.range[0] if p.range is not None else 1
    if p.type.startswith("int"):
        small: Any = max(math.ceil(lo), 1)
    elif lo > 0:
        small = lo
    else:
        return p.default  # a float whose range starts at 0: no smaller value that still does work
    return small if p.default is None else min(p.default, small)


def shrunk_values(cls: type) -> dict[str, Any]:
    """Every field of config ``cls`` whose schema says it multiplies the work (``cost="linear"``: epochs, steps,
    samples, models) at :func:`least_work`; batch and chunk sizes (``"inverse"``) and every other field keep their
    defaults. Driven by the schema, so a new method's expensive knobs are shrunk without editing this test."""
    return {p.name: least_work(p) for p in schema(cls) if p.cost == COST_LINEAR}


def fast_config(key: str):  # noqa: ANN201
    """The method's config with its work-multiplying fields cut to the least work (keeps the contract suite fast)."""
    cls = METHODS.get(key).config
    return build_config(cls, shrunk_values(cls), f"methods.{key}")


SLOW_CONTRACT = frozenset({"ntk"})  # over 5 s per run even shrunk (the NTK Gram matrix): marked slow


def contract_params() -> list:  # noqa: ANN201
    """Every registered method as a parameter; the few slow ones marked ``slow`` (``make test-fast`` skips them)."""
    return [pytest.param(k, marks=pytest.mark.slow) if k in SLOW_CONTRACT else k for k in METHODS.keys()]


def test_shrinking_follows_the_cost_annotations() -> None:
    """Every linear-cost field is shrunk, none above its default; nothing else changes."""
    for key, m in METHODS.items():
        defaults = {p.name: p.default for p in schema(m.config)}
        fast = config_dict(fast_config(key))
        for p in schema(m.config):
            if p.cost == COST_LINEAR:
                assert fast[p.name] is not None and (p.default is None or fast[p.name] <= p.default), (key, p.name)
            else:
                assert fast[p.name] == defaults[p.name], (key, p.name)
    assert config_dict(fast_config("finetune"))["epochs"] == 1
    assert config_dict(fast_config("amnesiac"))["finetune_epochs"] == 1  # range starts at 0: 1 keeps the repair
    assert config_dict(fast_config("fisher"))["max_samples"] == 1  # None (the whole set) is the most work


@pytest.mark.parametrize("key", contract_params())
def test_method_contract(key: str) -> None:
    method = METHODS.get(key)
    problem, original = cached_problem()
    cfg = fast_config(key)
    data, ctx = view_for(key, problem, original, cfg=cfg)  # recorded state follows cfg's recorder options
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


def _snapshot(data: UnlearnData) -> dict[str, torch.Tensor]:
    """Clones of every tensor a view holds (inputs, supervision, validation, training-time state)."""
    out: dict[str, torch.Tensor] = {}
    for f in dataclasses.fields(data):
        v = getattr(data, f.name)
        if isinstance(v, torch.Tensor):
            out[f.name] = v.clone()
        elif isinstance(v, Supervision):
            for part in ("labels", "candidates", "labelled"):
                out[f"{f.name}.{part}"] = getattr(v, part).clone()
    for k, v in data.train_state.items():
        tensors = v.items() if isinstance(v, dict) else [("", v)]
        for name, t in tensors:
            if isinstance(t, torch.Tensor):
                out[f"train_state.{k}.{name}"] = t.clone()
    return out


def _current(data: UnlearnData, key: str) -> torch.Tensor:
    name, _, rest = key.partition(".")
    if name == "train_state":
        rec, _, sub = rest.partition(".")
        v = data.train_state[rec]
        return v[sub] if sub else v
    v = getattr(data, name)
    return getattr(v, rest) if rest else v


@pytest.mark.parametrize("paradigm", PARADIGM_KEYS)
@pytest.mark.parametrize("key", contract_params())
def test_label_contract_every_method_every_paradigm(key: str, paradigm: str) -> None:
    """The sealed label contract (DESIGN.md evaluation protocol), for every method under all four paradigms:
    the view holds only what the method declares and the paradigm allows, never the test split, and the
    method modifies none of its inputs in place."""
    method = METHODS.get(key)
    reason = not_applicable_reason(method, PARADIGMS.get(paradigm))
    if reason is not None:  # a method the paradigm cannot serve is reported as not applicable, never run
        assert method.needs.forget_labels or method.needs.retain_labels or method.needs.val_labels \
            or method.paradigms is not None
        return
    problem, original = cached_problem(paradigm=paradigm)
    cfg = fast_config(key)
    data, ctx = view_for(key, problem, original, cfg=cfg)  # make_view audits the view; a leak raises ViewLeak
    needs = method.needs
    assert data.x_val is None or (needs.val_data or needs.val_labels)
    if paradigm == "label_free":
        assert data.sup_forget is None and data.sup_val is None
        if data.sup_retain is not None:
            assert needs.labelled_retain_sample and data.retain_sample_idx is not None
            assert int(data.sup_retain.labelled.sum()) <= int(data.retain_sample_idx.numel())
    if data.sup_val is not None:  # the paradigm's supervision of val: noisy stays noisy, candidate sets stay sets
        assert torch.equal(data.sup_val.labels, problem.val_supervision.labels)
    before = _snapshot(data)
    method.unlearn(copy.deepcopy(original), data, cfg, ctx)
    for name, t in before.items():
        assert torch.equal(_current(data, name), t), f"{key} modified {name} in place"


def test_a_leaking_view_is_caught() -> None:
    """Deliberately leaking views (test inputs, labels under label-free, true labels in place of noisy ones,
    undeclared data) are refused by the audit every view goes through."""
    method = METHODS.get("pgu")
    problem, original = cached_problem()
    data, _ = view_for("pgu", problem, original)
    f, r = problem.step(0)
    audit_view(data, method, problem, f, r)  # the honest view passes
    leaks = {
        "test inputs as validation": dataclasses.replace(data, x_val=problem.data.x_test),
        "test inputs mixed into the forget set": dataclasses.replace(
            data, x_forget=torch.cat([data.x_forget, problem.data.x_test[:1]])),
        "undeclared retain inputs": dataclasses.replace(data, x_retain=problem.data.x_train[r]),
        "validation labels that are not the paradigm's": dataclasses.replace(
            data, sup_val=one_hot_supervision((problem.data.y_val + 1) % 10, 10)),
    }
    for what, view in leaks.items():
        with pytest.raises(ViewLeak):
            audit_view(view, method, problem, f, r)
        assert what

    lf, lf_model = cached_problem(paradigm="label_free")
    ppu = METHODS.get("ppu")
    view, _ = view_for("ppu", lf, lf_model)
    f, r = lf.step(0)
    with pytest.raises(ViewLeak, match="label-free"):
        audit_view(dataclasses.replace(view, sup_forget=lf.supervision.take(f)), ppu, lf, f, r)

    noisy, noisy_model = cached_problem(paradigm="noisy_label")
    view, _ = view_for("pgu", noisy, noisy_model)
    f, r = noisy.step(0)
    true = one_hot_supervision(noisy.data.y_train[f], 10)
    assert not torch.equal(true.labels, noisy.supervision.labels[f])  # some forget labels are noisy
    with pytest.raises(ViewLeak, match="observed supervision"):
        audit_view(dataclasses.replace(view, sup_forget=true), method, noisy, f, r)
