"""Executor selection (name, $UNLEARN_EXECUTOR), skip semantics, GPU shares and the Ray worker's cancel flag.

None of these start Ray: the Ray runtime tests are in ``test_ray_executor.py``.
"""

from __future__ import annotations

import sys

import pytest

from engine.errors import SpecError
from engine.executors import (
    EXECUTOR_ENV,
    ExecSettings,
    JobOutcome,
    LocalExecutor,
    RayExecutor,
    default_executor_name,
    executor_names,
    make_executor,
)
from engine.executors.base import blocked_reason
from engine.executors.ray_executor import run_job
from engine.jobs.model import SMALL_JOB_GPU, Job, ProblemPayload, Resources, model_resources
from engine.store import Store


def test_names_and_default(monkeypatch):
    assert executor_names() == ("local", "ray")
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert default_executor_name() == "local"
    assert isinstance(make_executor(), LocalExecutor)
    monkeypatch.setenv(EXECUTOR_ENV, "ray")
    assert isinstance(make_executor(), RayExecutor)
    assert isinstance(make_executor("local"), LocalExecutor)  # an explicit name wins over the environment


def test_importing_the_executors_does_not_import_ray():
    import subprocess

    code = "import sys, engine.executors, engine.runner; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("where", ["name", "env"])
def test_unknown_executor_names_the_field(monkeypatch, where):
    if where == "env":
        monkeypatch.setenv(EXECUTOR_ENV, "dask")
        with pytest.raises(SpecError) as e:
            make_executor()
        assert EXECUTOR_ENV in e.value.message
    else:
        with pytest.raises(SpecError) as e:
            make_executor("dask")
    assert e.value.field == "executor" and "local, ray" in e.value.message


def test_blocked_reason_matches_local_semantics():
    job = Job("evaluate-x", "evaluate", "evaluate x", {}, deps=("unlearn-a", "problem-b", "elsewhere-c"))
    assert blocked_reason(job, {"unlearn-a": JobOutcome("done"), "problem-b": JobOutcome("cached")}) is None
    assert blocked_reason(job, {}) is None  # dependencies outside this execution count as satisfied
    reason = blocked_reason(job, {"unlearn-a": JobOutcome("failed", "diverged")})
    assert reason == "depends on a job that did not finish: diverged"
    assert blocked_reason(job, {"unlearn-a": JobOutcome("cancelled")}).endswith("cancelled")


def _job(model: str) -> Job:
    return Job("original-0", "original", "original", ProblemPayload({"model": model}, 0),
               resources=model_resources(model))


def test_gpu_share_only_when_the_cluster_has_gpus():
    ex = RayExecutor()
    assert ex._gpu_share(_job("mlp"), 0.0, "auto") == 0.0  # CPU-only cluster: never ask for a GPU
    assert ex._gpu_share(_job("mlp"), 2.0, "auto") == SMALL_JOB_GPU
    assert ex._gpu_share(_job("resnet18"), 2.0, "auto") == 1.0  # large models get a whole GPU
    assert ex._gpu_share(_job("mlp"), 2.0, "cpu") == 0.0  # the spec asked for CPU
    assert RayExecutor(num_gpus=0.5)._gpu_share(_job("resnet18"), 0.0, "auto") == 0.5  # explicit override
    cpu_only = Job("x-0", "x", "x", None, resources=Resources(gpu=0.0))  # what the job declares is what it gets
    assert ex._gpu_share(cpu_only, 2.0, "auto") == 0.0


def test_the_planner_declares_each_jobs_resources():
    from pathlib import Path

    from engine.runner import make_plan
    from engine.spec import ComparisonSpec, MethodSpec

    for model, gpu in (("mlp", SMALL_JOB_GPU), ("resnet18", 1.0)):
        plan = make_plan(ComparisonSpec(model=model, methods=(MethodSpec("original"),)), Path("data"))
        assert {j.resources for j in plan.jobs} == {Resources(cpus=1.0, gpu=gpu)}


def test_worker_honours_a_raised_cancel_flag_and_writes_nothing(tmp_path):
    store = Store(tmp_path)
    store.set_flag("run1/cancel")
    job = Job("problem-abc", "problem", "problem seed 0", ProblemPayload({}, 0))
    assert run_job(job, ExecSettings(tmp_path, tmp_path / "data"), "run1") == ("cancelled", "")
    assert not store.has(job.key) and store.progress(job.key) is None
    assert store.has_flag("run1/started/problem-abc")  # the driver knows it reached a worker
    store.clear_flag("run1/cancel")
    store.clear_flag("run1/started/problem-abc")
    assert list(store.keys("flag/")) == []


def test_connect_uses_ray_address_and_passes_engine_settings(monkeypatch):
    ray = pytest.importorskip("ray")
    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setenv("UNLEARN_VERIFY_CHECKSUMS", "0")
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    RayExecutor().connect()
    assert calls[-1]["address"] == "ray://head:10001"
    assert calls[-1]["runtime_env"]["env_vars"]["UNLEARN_VERIFY_CHECKSUMS"] == "0"
    RayExecutor(address="auto").connect()  # an explicit address wins
    assert calls[-1]["address"] == "auto"
    monkeypatch.delenv("RAY_ADDRESS")
    RayExecutor(num_cpus=2).connect()  # no address: a local runtime
    assert "address" not in calls[-1] and calls[-1]["num_cpus"] == 2 and not calls[-1]["include_dashboard"]
