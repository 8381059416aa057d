"""Each method's search space from its schema (issue 15's first step)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import pytest

from engine.config import param, schema
from engine.errors import SpecError
from engine.methods import METHODS
from engine.tuning import search_space
from engine.tuning.space import dimension


@dataclass(frozen=True)
class Toy:
    lr: float = param(1e-3, "step size", range=(1e-6, 1.0), log=True)
    weight: float = param(0.5, "mixing weight", range=(0.0, 1.0))
    epochs: int = param(10, "epochs", range=(1, 1000), cost="linear")
    batch_size: int = param(64, "batch", range=(1, 4096), cost="inverse")
    mode: str = param("a", "variant", choices=("a", "b"))
    official: bool = param(False, "official variant")
    subset: int | None = param(None, "samples (None: all)", range=(1, 10_000), cost="linear")
    note: str = param("", "free text")


def _dims() -> dict[str, object]:
    return {p.name: dimension(p) for p in schema(Toy)}


def test_fields_become_dimensions_by_type():
    d = _dims()
    assert (d["lr"].kind, d["lr"].low, d["lr"].high, d["lr"].log) == ("float", 1e-6, 1.0, True)
    assert (d["weight"].kind, d["weight"].log) == ("float", False)
    assert d["mode"].choices == ("a", "b") and d["official"].choices == (False, True)
    # work-scaling fields: a window around the default, not the accepted range (epochs up to 1000)
    assert (d["epochs"].kind, d["epochs"].low, d["epochs"].high) == ("int", 3, 20)
    assert (d["batch_size"].low, d["batch_size"].high) == (32, 256)
    # nullable and text fields stay at their default, with the reason
    assert isinstance(d["subset"], str) and "None stands for" in d["subset"]
    assert isinstance(d["note"], str)


@pytest.mark.parametrize("method", sorted(METHODS.keys()))
def test_every_methods_space_is_valid_and_holds_its_default(method):
    space = search_space(method)
    dists = space.distributions()  # optuna validates each (e.g. log needs a positive low)
    assert set(dists) == {d.name for d in space.dimensions}
    for dim in space.dimensions:
        assert dim.contains(dim.default), (method, dim)
        assert dists[dim.name]._contains(dists[dim.name].to_internal_repr(dim.default)), (method, dim)
    assert not set(space.fixed) & set(dists)


def test_a_seeded_sampler_draws_the_same_points():
    space = search_space("gradient_ascent")

    def draws(seed: int) -> list[dict[str, object]]:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        out = []
        for _ in range(5):
            trial = study.ask(space.distributions())
            out.append(dict(trial.params))
            study.tell(trial, 0.0)
        return out

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert all(space.dimensions[0].contains(p[space.dimensions[0].name]) for p in draws(7))


def test_unknown_method_names_the_field():
    with pytest.raises(SpecError) as e:
        search_space("nope")
    assert e.value.field == "methods"
