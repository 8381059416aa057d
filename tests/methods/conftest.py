"""A tiny, fast unlearning problem on digits for method tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.jobs.method_inputs import make_view
from engine.methods import METHODS, UnlearnContext, UnlearnData
from engine.models import build_model
from engine.problem import Problem, build_problem, resolve
from engine.spec import ComparisonSpec
from engine.training import TrainConfig, fit
from engine.training.recording import RECORDERS

TINY_TRAIN = TrainConfig(epochs=8, batch_size=64, lr=3e-3)


def tiny_problem(paradigm: str = "supervised", scenario: str = "class", params: tuple = (("forget_class", 3),),
                 model: str = "cnn", seed: int = 0, rate: float | None = None) -> tuple[Problem, torch.nn.Module]:
    """Digits, a quickly trained original, and the problem (on CPU)."""
    spec = ComparisonSpec(paradigm=paradigm, scenario=scenario, scenario_params=params, model=model, rate=rate,
                          train=tuple(vars(TINY_TRAIN).items()))
    setting = resolve(spec)
    problem = build_problem(setting, seed, Path("data"))
    _SCENARIO[problem.key] = scenario
    torch.manual_seed(seed)
    net = build_model(model, problem.data.input_shape, problem.data.num_classes, seed=seed)
    fit(net, problem.data.x_train, problem.supervision, problem.paradigm.loss, TINY_TRAIN, seed)
    return problem, net


_CACHE: dict[tuple, tuple[Problem, torch.nn.Module]] = {}
_SCENARIO: dict[str, str] = {}  # problem key -> scenario key (the runner passes it to methods as metadata)


def cached_problem(**kw: object) -> tuple[Problem, torch.nn.Module]:
    """:func:`tiny_problem`, trained once per test session and argument set."""
    key = tuple(sorted(kw.items()))
    if key not in _CACHE:
        _CACHE[key] = tiny_problem(**kw)  # type: ignore[arg-type]
    return _CACHE[key]


def view_for(method_key: str, problem: Problem, model: torch.nn.Module, request: int = 0,
             cfg: object | None = None) -> tuple[UnlearnData, UnlearnContext]:
    """The data view and a context exactly as the runner builds them (training-time state recorded here, with the
    recorder options of ``cfg``, the method's config, when given: e.g. SISA's shards and slices)."""
    method = METHODS.get(method_key)
    forget_idx, retain_idx = problem.step(request)
    state = {}
    for r in method.needs.train_time_state:
        info = RECORDERS.get(r)
        if info.during_training:
            rec = info.make(**(info.options_of(cfg) if cfg is not None else {}))
            torch.manual_seed(problem.seed)
            net = build_model("cnn", problem.data.input_shape, problem.data.num_classes, seed=problem.seed)
            fit(net, problem.data.x_train, problem.supervision, problem.paradigm.loss, TINY_TRAIN, problem.seed,
                hooks=[rec])
            state[r] = rec.finish(net, problem.data.x_train)
        else:
            state[r] = info.make().finish(model, problem.data.x_train)

    class _S:  # the view only reads ``setting.spec.scenario``
        spec = ComparisonSpec(scenario=_SCENARIO.get(problem.key, "class"))

    data = make_view(method, problem, forget_idx, retain_idx, state, _S())  # type: ignore[arg-type]
    ctx = UnlearnContext(seed=problem.seed, device=torch.device("cpu"), train_cfg=TINY_TRAIN, model_key="cnn",
                         input_shape=problem.data.input_shape, request=request)
    return data, ctx


@pytest.fixture(scope="session")
def digits_class3() -> tuple[Problem, torch.nn.Module]:
    """Supervised digits, class 3 forgotten, cnn original."""
    return cached_problem()


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Eval-mode accuracy."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


__all__ = ["TINY_TRAIN", "accuracy", "cached_problem", "replace", "tiny_problem", "view_for"]
