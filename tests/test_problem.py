"""engine.problem: resolve() validates a spec field by field; build_problem() draws supervision and forget set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from engine.data import ImageData, load_dataset
from engine.errors import SpecError
from engine.problem import Problem, build_problem, resolve
from engine.spec import ComparisonSpec

DATA_DIR = Path("data")


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits", DATA_DIR)


def spec(**kw: object) -> ComparisonSpec:
    return ComparisonSpec(**kw)  # type: ignore[arg-type]


def problem(data: ImageData, seed: int = 0, **kw: object) -> Problem:
    return build_problem(resolve(spec(**kw)), seed, DATA_DIR, data=data)


def spec_error(fn: Callable[..., object], *args: object, **kw: object) -> SpecError:
    with pytest.raises(SpecError) as e:
        fn(*args, **kw)
    return e.value


# --- resolve: unknown keys and incompatible combinations ----------------------------------------------------------

@pytest.mark.parametrize("field,bad,valid", [
    ("dataset", "imagenet", ["digits", "mnist", "cifar10"]),
    ("paradigm", "semi", ["supervised", "partial_label", "noisy_label", "label_free"]),
    ("scenario", "everything", ["class", "random", "within_class", "subclass", "noisy_labels", "selective",
                                "incremental"]),
    ("model", "transformer", ["cnn", "mlp", "resnet18"]),
])
def test_unknown_key(field: str, bad: str, valid: list[str]) -> None:
    e = spec_error(resolve, spec(**{field: bad}))
    assert e.field == field
    assert repr(bad) in e.message and "valid:" in e.message
    for key in valid:
        assert key in e.message


@pytest.mark.parametrize("paradigm", ["supervised", "label_free"])
def test_rate_on_a_paradigm_without_rate(paradigm: str) -> None:
    assert spec_error(resolve, spec(paradigm=paradigm, rate=0.2)).field == "rate"


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1])
def test_rate_outside_unit_interval(rate: float) -> None:
    e = spec_error(ComparisonSpec, paradigm="noisy_label", rate=rate)
    assert e.field == "rate"


def test_rate_zero_is_allowed() -> None:
    assert resolve(spec(paradigm="noisy_label", rate=0.0)).spec.rate == 0.0


@pytest.mark.parametrize("paradigm", ["supervised", "partial_label", "label_free"])
def test_noisy_labels_scenario_needs_noisy_paradigm(paradigm: str) -> None:
    e = spec_error(resolve, spec(paradigm=paradigm, scenario="noisy_labels"))
    assert e.field == "scenario" and "noisy_label" in e.message


def test_subclass_on_digits() -> None:
    assert spec_error(resolve, spec(scenario="subclass")).field == "scenario"


def test_coarse_on_digits() -> None:
    assert spec_error(resolve, spec(coarse=True)).field == "coarse"


def test_labelled_fraction_only_for_label_free() -> None:
    assert spec_error(resolve, spec(labelled_fraction=0.5)).field == "labelled_fraction"
    assert resolve(spec(paradigm="label_free", labelled_fraction=0.5)).spec.labelled_fraction == 0.5


def test_bad_scenario_parameters() -> None:
    assert spec_error(resolve, spec(scenario_params=(("bogus", 1),))).field == "scenario.bogus"
    assert spec_error(resolve, spec(scenario_params=(("forget_class", -1),))).field == "scenario.forget_class"
    assert spec_error(resolve, spec(scenario_params=(("forget_class", "x"),))).field == "scenario.forget_class"


def test_bad_train_override() -> None:
    assert spec_error(resolve, spec(train=(("epochs", 0),))).field == "train.epochs"


def test_resolve_types_the_configs() -> None:
    setting = resolve(spec(scenario="within_class", scenario_params=(("forget_class", "4"), ("fraction", "0.4"))))
    assert setting.scenario.key == "within_class" and setting.paradigm.key == "supervised"
    assert (setting.scenario_cfg.forget_class, setting.scenario_cfg.fraction) == (4, 0.4)
    assert setting.train_cfg.epochs >= 1


def test_random_scenario_resolves_with_defaults() -> None:
    assert resolve(spec(scenario="random", scenario_params=(("fraction", 0.1),))).scenario_cfg.fraction == 0.1


# --- build_problem ------------------------------------------------------------------------------------------------

def test_empty_forget_set(digits: ImageData) -> None:
    e = spec_error(problem, digits, scenario="within_class", scenario_params=(("fraction", 0.001),))
    assert e.field == "fraction" and "empty" in e.message


def test_forget_set_may_not_be_everything() -> None:
    y = torch.zeros(20, dtype=torch.long)
    tiny = ImageData("digits", torch.zeros(20, 1, 8, 8), y, torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]),
                     2, ("0", "1"), (0.0,), (1.0,))
    e = spec_error(problem, tiny)
    assert "whole training set" in e.message


@pytest.mark.parametrize("scenario", ["class", "within_class", "selective", "incremental"])
def test_forget_class_out_of_range_on_digits(digits: ImageData, scenario: str) -> None:
    e = spec_error(problem, digits, scenario=scenario, scenario_params=(("forget_class", 10),))
    assert e.field == "forget_class"


@pytest.mark.parametrize("scenario,params", [
    ("class", (("forget_class", 3),)),
    ("within_class", (("forget_class", 5), ("fraction", 0.4))),
    ("selective", (("forget_class", 1), ("count", 25))),
    ("random", (("fraction", 0.2), ("classes", "5,6,7,8,9"))),
    ("incremental", (("count", 20), ("steps", 3))),
])
def test_forget_and_retain_partition_the_training_set(digits: ImageData, scenario: str, params: tuple) -> None:
    p = problem(digits, scenario=scenario, scenario_params=params)
    n = digits.y_train.numel()
    f, r = p.forget_idx, p.retain_idx
    assert f.numel() > 0 and r.numel() > 0
    assert f.numel() + r.numel() == n
    assert torch.equal(torch.cat([f, r]).sort().values, torch.arange(n))
    assert not set(f.tolist()) & set(r.tolist())
    assert torch.equal(f, torch.cat(p.requests).unique().sort().values)
    assert torch.equal(f, f.sort().values) and torch.equal(r, r.sort().values)


def test_class_problem_contents(digits: ImageData) -> None:
    p = problem(digits, scenario_params=(("forget_class", 3),))
    assert torch.equal(p.forget_idx, torch.nonzero(digits.y_train == 3).flatten())
    assert p.forget_classes == (3,) and p.touched_classes == (3,)
    assert torch.equal(p.test_forget_mask, p.data.y_test == 3)
    assert torch.equal(p.supervision.labels, digits.y_train)
    assert p.paradigm.key == "supervised" and p.seed == 0


def test_incremental_steps(digits: ImageData) -> None:
    p = problem(digits, scenario="incremental", scenario_params=(("count", 30), ("steps", 3)))
    gone: set[int] = set()
    for i, req in enumerate(p.requests):
        f, r = p.step(i)
        assert torch.equal(f, req)
        gone |= set(req.tolist())
        assert set(r.tolist()) == set(range(digits.y_train.numel())) - gone


def test_noisy_label_supervision_keeps_true_labels(digits: ImageData) -> None:
    truth = digits.y_train.clone()
    r = 0.3
    p = problem(digits, paradigm="noisy_label", rate=r, scenario="noisy_labels")
    share = (p.supervision.labels != p.data.y_train).float().mean().item()
    assert abs(share - r) < 0.05  # 1 437 samples: std ~ 0.012
    assert torch.equal(p.data.y_train, truth)  # the data keeps the true labels
    assert torch.equal(digits.y_train, truth)
    assert torch.equal(p.forget_idx, torch.nonzero(p.supervision.labels != truth).flatten())


def test_default_noise_rate(digits: ImageData) -> None:
    p = problem(digits, paradigm="noisy_label")
    share = (p.supervision.labels != digits.y_train).float().mean().item()
    assert abs(share - 0.2) < 0.05


def test_partial_label_problem(digits: ImageData) -> None:
    p = problem(digits, paradigm="partial_label", rate=0.3)
    n = digits.y_train.numel()
    assert bool(p.supervision.candidates[torch.arange(n), digits.y_train].all())
    assert bool((p.supervision.labels == -1).all())


def test_label_free_problem(digits: ImageData) -> None:
    p = problem(digits, paradigm="label_free", labelled_fraction=0.5)
    assert p.supervision.kind == "none"
    assert int(p.supervision.labelled.sum()) == round(0.5 * digits.y_train.numel())


@pytest.mark.parametrize("kw", [
    {"paradigm": "noisy_label", "rate": 0.3, "scenario": "within_class", "scenario_params": (("fraction", 0.3),)},
    {"paradigm": "partial_label", "scenario": "selective", "scenario_params": (("count", 20),)},
    {"paradigm": "label_free", "labelled_fraction": 0.4, "scenario": "incremental",
     "scenario_params": (("count", 10), ("steps", 2))},
])
def test_same_seed_same_problem_different_seed_different(digits: ImageData, kw: dict) -> None:
    a, b, c = problem(digits, 1, **kw), problem(digits, 1, **kw), problem(digits, 2, **kw)
    assert torch.equal(a.forget_idx, b.forget_idx)
    assert all(torch.equal(x, y) for x, y in zip(a.requests, b.requests, strict=True))
    for name in ("labels", "candidates", "labelled"):
        assert torch.equal(getattr(a.supervision, name), getattr(b.supervision, name))
    assert a.key == b.key
    assert not torch.equal(a.forget_idx, c.forget_idx)
    assert not torch.equal(a.supervision.candidates, c.supervision.candidates)
    assert a.key != c.key


def test_problem_loads_digits_itself() -> None:
    p = build_problem(resolve(spec(scenario_params=(("forget_class", 0),))), 0, DATA_DIR)
    assert p.data.name == "digits" and p.device.type == "cpu"
