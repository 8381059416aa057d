"""Cost annotations: every int field that scales the work declares it, and the demo caps every annotated field.

The demo caps (:mod:`engine.demo`) are derived from ``param(cost=...)``, not from field names, so a field that
multiplies the work but declares no cost would bypass them. :data:`UNCOSTED` lists the int fields that change
no work, each with the reason; a new int field must either declare its cost or be added there, reasoned.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import pytest

from engine.config import COST_INVERSE, COST_LINEAR, COSTS, ParamSchema, param, schema
from engine.demo import LIMITS, DemoLimits, check_spec, cost_bound
from engine.errors import SpecError
from engine.methods import METHODS
from engine.paradigms import PARADIGMS
from engine.scenarios import SCENARIOS
from engine.spec import ComparisonSpec, MethodSpec
from engine.training.config import TrainConfig, default_train_config

# int fields without a cost annotation, and why they change no work (keys as ``where.field`` of the demo check,
# with the registry key for scenarios and paradigms)
UNCOSTED: dict[str, str] = {
    "methods.l1_sparse.no_l1_epochs": "splits `epochs` (capped) into epochs with and without the penalty; "
                                      "the loop always runs `epochs` passes",
    "methods.pgu.k_offset": "adds at most 64 columns to each layer's core-gradient basis: one small projection "
                            "per step, negligible next to the forward and backward pass",
    "scenario.class.forget_class": "a class label, not a size",
    "scenario.selective.forget_class": "a class label, not a size",
    "scenario.within_class.forget_class": "a class label, not a size",
    "scenario.incremental.forget_class": "a class label, not a size",
    "scenario.subclass.forget_group": "a fine-class label, not a size",
}


def configs() -> Iterator[tuple[str, type]]:
    """``(where, config class)`` of every registered method, scenario and paradigm config, and TrainConfig."""
    for key, m in METHODS.items():
        yield f"methods.{key}", m.config
    for key, s in SCENARIOS.items():
        yield f"scenario.{key}", s.config
    for key, p in PARADIGMS.items():
        if p.config is not None:
            yield f"paradigm.{key}", p.config
    yield "train", TrainConfig


def fields() -> Iterator[tuple[str, ParamSchema]]:
    for where, cls in configs():
        for p in schema(cls):
            yield f"{where}.{p.name}", p


def is_int(p: ParamSchema) -> bool:
    return p.type in ("int", "int_or_none")


def test_every_int_field_declares_its_cost_or_says_why_not() -> None:
    missing = [key for key, p in fields() if is_int(p) and p.cost is None and key not in UNCOSTED]
    assert not missing, (f"int fields without a cost annotation: {missing}. If the value multiplies the work "
                         f"(epochs, steps, samples, models), declare param(..., cost='linear'); if it divides it "
                         f"(a batch or chunk size), cost='inverse'; otherwise add it to UNCOSTED with the reason")


def test_the_allow_list_has_no_stale_entries() -> None:
    by_key = dict(fields())
    for key, why in UNCOSTED.items():
        assert key in by_key, f"{key} is no config field any more: remove it from UNCOSTED"
        assert is_int(by_key[key]) and by_key[key].cost is None, f"{key} needs no UNCOSTED entry"
        assert why.strip()


def test_annotations_are_known_costs_on_numeric_fields() -> None:
    costed = [(key, p) for key, p in fields() if p.cost is not None]
    assert len(costed) > 50
    for key, p in costed:
        assert p.cost in COSTS, key
        assert p.type.removesuffix("_or_none") in ("int", "float"), key


def test_the_schema_exposes_the_cost() -> None:
    by_name = {p.name: p for p in schema(TrainConfig)}
    assert by_name["epochs"].cost == COST_LINEAR and by_name["batch_size"].cost == COST_INVERSE
    assert by_name["lr"].cost is None


def test_a_bad_annotation_is_refused_where_it_is_declared() -> None:
    with pytest.raises(ValueError, match="cost"):
        param(1, "steps", cost="quadratic")

    @dataclasses.dataclass(frozen=True)
    class Bad:
        mode: str = param("a", "a text field", cost=COST_LINEAR)

    with pytest.raises(TypeError, match="Bad.mode"):
        schema(Bad)


@pytest.mark.parametrize(("cost", "default", "factor", "bound"), [
    (COST_LINEAR, 5, 1.0, 5.0), (COST_LINEAR, 5, 2.0, 10.0), (COST_INVERSE, 64, 1.0, 64.0),
    (COST_INVERSE, 64, 2.0, 32.0), (COST_LINEAR, None, 1.0, math.inf), (COST_INVERSE, None, 2.0, math.inf),
])
def test_cost_bound(cost, default, factor, bound) -> None:
    assert cost_bound(cost, default, factor) == bound


def _spec(key: str, value: object) -> ComparisonSpec:
    where, name = key.rsplit(".", 1)
    if where == "train":
        return ComparisonSpec(train=((name, value),))
    kind, comp = where.split(".", 1)
    if kind == "methods":
        return ComparisonSpec(methods=(MethodSpec(comp, ((name, value),)),))
    return ComparisonSpec(scenario=comp, scenario_params=((name, value),))


def _reference(key: str, p: ParamSchema) -> object:
    if key.startswith("train."):
        return getattr(default_train_config("digits", "cnn"), p.name)
    return p.default


def _error_field(key: str) -> str:  # scenario fields are named "scenario.<field>", as in engine.problem
    where, name = key.rsplit(".", 1)
    return f"scenario.{name}" if where.startswith("scenario.") else key


COSTED = sorted((key, p) for key, p in fields() if p.cost is not None and not key.startswith("paradigm."))


@pytest.mark.parametrize(("key", "p"), COSTED, ids=[k for k, _ in COSTED])
@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_every_annotated_field_is_capped_at_its_default(tmp_path, key, p, factor) -> None:
    """The default passes; one step past the cap is refused naming the field (where the range allows it)."""
    limits = DemoLimits(max_cost_factor=factor)
    default = _reference(key, p)
    lo, hi = p.range if p.range is not None else (-math.inf, math.inf)
    check_spec(_spec(key, default), tmp_path, limits)
    bound = cost_bound(p.cost, default, factor)
    integer = is_int(p)
    if p.cost == COST_LINEAR:
        if bound == math.inf:  # none = the whole set: every value is a subset
            check_spec(_spec(key, hi), tmp_path, limits)
            return
        over = math.floor(bound) + 1 if integer else bound * 1.01
        ok = math.floor(bound) if integer else bound
    else:
        over = lo if bound == math.inf else (math.ceil(bound) - 1 if integer else bound / 1.01)
        ok = None if bound == math.inf else (math.ceil(bound) if integer else bound)
    if ok is not None and lo <= ok <= hi:
        check_spec(_spec(key, ok), tmp_path, limits)
    if not lo <= over <= hi:
        pytest.skip(f"the range {p.range} already keeps {key} within its cap")
    with pytest.raises(SpecError) as e:
        check_spec(_spec(key, over), tmp_path, limits)
    assert e.value.field == _error_field(key) and "demo mode" in e.value.message


def test_the_caps_are_the_module_limits() -> None:
    assert LIMITS.max_cost_factor == 1.0  # the hosted demo: no annotated field above its default's work
