"""Shared trained models for the runner tests: each setting's problem, original and retrain are trained once per
session, and a test that only needs them starts from its own copy of that cache (so what it runs stays its own)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.executors import ExecSettings, LocalExecutor
from engine.jobs.model import ORIGINAL, PROBLEM, RETRAIN
from engine.runner import make_plan
from engine.spec import ComparisonSpec, MethodSpec

DATA = Path("data")
# the settings the runner tests share (digits, class 3 forgotten, 4 epochs): cnn (test_runner) and mlp (shadow, sisa)
SETTINGS = {
    "cnn": ComparisonSpec(scenario_params=(("forget_class", 3),), train=(("epochs", 4),)),
    "mlp": ComparisonSpec(scenario_params=(("forget_class", 3),), model="mlp", train=(("epochs", 4),)),
}
MODEL_JOBS = (PROBLEM, ORIGINAL, RETRAIN)  # what the shared caches hold (no unlearning, no evaluation)


@pytest.fixture(scope="session")
def trained_caches(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Path], Path]:
    """``trained_caches(name, dest)``: a fresh copy at ``dest`` of a cache holding setting ``name``'s problem,
    original and retrain (:data:`MODEL_JOBS`), trained once per session."""
    root = tmp_path_factory.mktemp("trained")
    for name, base in SETTINGS.items():
        plan = make_plan(dataclasses.replace(base, methods=(MethodSpec("original"), MethodSpec("retrain"))), DATA)
        jobs = [j for j in plan.jobs if j.kind in MODEL_JOBS]
        outcomes = LocalExecutor().run(jobs, ExecSettings(root / name, DATA, base.device))
        if {o.status for o in outcomes.values()} != {"done"}:
            raise RuntimeError(f"the shared {name} models did not train: {outcomes}")

    def copy(name: str, dest: Path) -> Path:
        return Path(shutil.copytree(root / name, dest))

    return copy


def model_job_keys(plan) -> set[str]:  # noqa: ANN001
    """The keys of ``plan``'s jobs that a shared cache already holds."""
    return {j.key for j in plan.jobs if j.kind in MODEL_JOBS}
