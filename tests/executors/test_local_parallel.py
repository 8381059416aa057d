"""The local executor's worker processes: same store contents as in process, cancel, failures, progress, the
worker count, how jobs share cores and the GPU, and the run record (threads, ``concurrent``).

A small digits comparison (mlp, one epoch, one seed, several methods) runs once in process (``workers=1``) and once
in two worker processes; the tests share both caches.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.errors import SpecError
from engine.executors import WORKERS_ENV, ExecSettings, LocalExecutor, make_executor
from engine.executors.capacity import Capacity, usable_cores
from engine.jobs.model import SMALL_JOB_GPU, Job, ProblemPayload, Resources
from engine.rng import THREADS_ENV
from engine.runner import make_plan, run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store
from tests.executors.recorder import Recorder, cancelled_run

DATA = Path("data")
TIMING = ["unlearn_seconds", "speedup_vs_retrain"]
CLOCKS = {"seconds", "cpu_seconds"}  # a job's own timers (meta)
RUN_CLOCKS = {"wall_seconds", "cpu_seconds", "thread_cpu_seconds", "concurrent"}  # meta["run"]: how it ran
METHODS = (MethodSpec("original"), MethodSpec("retrain"), MethodSpec("finetune", (("epochs", 1),)),
           MethodSpec("gradient_ascent", (("epochs", 1),)), MethodSpec("random_label", (("epochs", 1),)))


def spec(*methods: MethodSpec, epochs: int = 1) -> ComparisonSpec:
    return ComparisonSpec(model="mlp", scenario_params=(("forget_class", 3),), train=(("epochs", epochs),),
                          methods=methods or METHODS)




@pytest.fixture(autouse=True)
def _unpinned(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv(WORKERS_ENV, raising=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same spec in process (cache ``seq``) and in two worker processes (cache ``par``)."""
    root = tmp_path_factory.mktemp("parallel")
    rec = Recorder()
    seq = run_comparison(spec(), cache_dir=root / "seq", data_dir=DATA, executor=LocalExecutor(workers=1))
    par = run_comparison(spec(), cache_dir=root / "par", data_dir=DATA, executor=LocalExecutor(workers=2),
                         on_event=rec)
    return {"root": root, "seq": seq, "par": par, "events": rec}


@pytest.mark.slow
def test_parallel_stores_what_a_sequential_run_stores(runs):
    seq, par = runs["seq"], runs["par"]
    assert set(par.wide["status"]) == {"ok"} and {o.status for o in par.outcomes.values()} == {"done"}
    assert par.outcomes == seq.outcomes
    pd.testing.assert_frame_equal(par.wide.drop(columns=TIMING), seq.wide.drop(columns=TIMING))
    a, b = Store(runs["root"] / "par"), Store(runs["root"] / "seq")
    assert sorted(a.keys("result/")) == sorted(b.keys("result/"))
    assert sorted(a.keys("blob/")) == sorted(b.keys("blob/"))
    for key in (k.removeprefix("result/") for k in b.keys("result/")):
        ma, mb = a.result(key).meta, b.result(key).meta
        drop = CLOCKS | {"run", "finished_at", "metrics"}
        if mb.get("metric") in TIMING:  # a time metric's per-metric record: its value is a clock
            drop = drop | {"value"}
        assert {k: v for k, v in ma.items() if k not in drop} == {k: v for k, v in mb.items() if k not in drop}
        assert {k: v for k, v in ma["run"].items() if k not in RUN_CLOCKS} == \
               {k: v for k, v in mb["run"].items() if k not in RUN_CLOCKS}
        if "metrics" in mb:
            assert {k: v for k, v in ma["metrics"].items() if k not in TIMING} == \
                   {k: v for k, v in mb["metrics"].items() if k not in TIMING}
        for name in mb["blobs"]:
            assert a.blob(key, name) == b.blob(key, name), f"{key}/{name} differs"  # byte for byte
    assert list(a.keys("lock/")) == [] and list(a.keys("flag/")) == []


@pytest.mark.slow
def test_run_record_says_how_each_job_ran(runs):
    a, b = Store(runs["root"] / "par"), Store(runs["root"] / "seq")
    par = [a.result(j.key).meta for j in runs["par"].plan.jobs]
    seq = [b.result(j.key).meta for j in runs["seq"].plan.jobs]
    assert {m["run"]["concurrent"] for m in seq} == {1}
    assert {m["run"]["concurrent"] for m in par} <= {1, 2} and max(m["run"]["concurrent"] for m in par) == 2
    assert {m["run"]["threads"] for m in par} == {1} and {m["run"]["device"] for m in par} == {"cpu"}
    for m in par + seq:  # the training and the method record CPU seconds beside their wall seconds
        if "seconds" in m and "recorder" not in m:
            assert m["cpu_seconds"] >= 0 and m["seconds"] >= 0
    # on the CPU the time metrics are the CPU seconds of the method and of the retrain (not inflated by neighbours)
    res = runs["par"]
    for row in res.plan.rows:
        if row.method not in ("finetune", "gradient_ascent"):
            continue
        unlearn, evaluation = a.result(row.model_job).meta, a.result(row.eval_job).meta
        retrain = a.result(next(j.key for j in res.plan.jobs if j.kind == "retrain")).meta
        assert evaluation["metrics"]["unlearn_seconds"] == unlearn["cpu_seconds"]
        assert evaluation["metrics"]["speedup_vs_retrain"] == pytest.approx(retrain["cpu_seconds"]
                                                                            / unlearn["cpu_seconds"])


@pytest.mark.slow
def test_progress_from_workers_reaches_on_event(runs):
    rec = runs["events"]
    assert sorted(rec.states("done")) == sorted(j.key for j in runs["par"].plan.jobs)  # one terminal event each
    assert rec.states("running")  # live progress while the workers train
    assert all(e["label"] and e["kind"] for _, e in rec.events)


@pytest.mark.slow
def test_cached_jobs_are_answered_without_workers(runs):
    rec = Recorder()
    again = run_comparison(spec(), cache_dir=runs["root"] / "par", data_dir=DATA, executor=LocalExecutor(workers=2),
                           on_event=rec)
    assert {o.status for o in again.outcomes.values()} == {"cached"}
    assert {e["state"] for _, e in rec.events} == {"cached"}
    pd.testing.assert_frame_equal(again.wide, runs["par"].wide)


@pytest.mark.slow
def test_failed_job_skips_its_dependents_and_others_finish(runs):
    s = spec(MethodSpec("original"), MethodSpec("retrain"),
             MethodSpec("gradient_ascent", (("lr", 1.0), ("epochs", 5))), MethodSpec("random_label", (("epochs", 1),)))
    rec = Recorder()
    par = run_comparison(s, cache_dir=runs["root"] / "par", data_dir=DATA, executor=LocalExecutor(workers=2),
                         on_event=rec)
    seq = run_comparison(s, cache_dir=runs["root"] / "seq", data_dir=DATA, executor=LocalExecutor(workers=1))
    w = par.wide.set_index("method")
    assert w.loc["gradient_ascent", "status"] == "failed" and "nan" in w.loc["gradient_ascent", "note"]
    assert w.loc["random_label", "status"] == "ok"
    assert par.outcomes == seq.outcomes  # same statuses and messages, job by job
    assert sorted(o.status for o in par.outcomes.values()).count("skipped") == 1
    failed = [k for k, o in par.outcomes.items() if o.status == "failed"]
    assert rec.states("failed") == failed  # the failure reached the callback too
    pd.testing.assert_frame_equal(par.wide.drop(columns=TIMING), seq.wide.drop(columns=TIMING))


@pytest.mark.slow
def test_cancel_stops_running_jobs_which_write_nothing(tmp_path):
    s = spec(epochs=1000)  # long trainings, cancelled after their first epoch
    plan = make_plan(s, DATA)
    res, training = cancelled_run(s, plan, tmp_path, DATA, LocalExecutor(workers=2))
    store = Store(tmp_path)
    assert {res.outcomes[k].status for k in training} == {"cancelled"}
    later = {j.key for j in plan.jobs if j.kind in ("unlearn", "evaluate")}
    assert {res.outcomes[k].status for k in later} == {"cancelled"}
    assert not any(store.has(k) for k in training | later)
    assert not any(k.startswith(tuple(f"blob/{t}" for t in training | later)) for k in store.keys("blob/"))
    assert not any(store.claimed(k) for k in training)
    assert set(res.wide["status"]) == {"cancelled"}


class _Exit:
    """A payload whose unpickling ends the worker process (as if it were killed)."""

    def __reduce__(self):
        return (os._exit, (3,))


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_job_and_the_next_jobs_run(tmp_path):
    from engine.jobs.model import PROBLEM

    plan = make_plan(spec(MethodSpec("original")), DATA)
    problem = next(j for j in plan.jobs if j.kind == PROBLEM)
    doomed = Job("problem-doomed", PROBLEM, "doomed", _Exit())
    out = LocalExecutor(workers=2).run([doomed, problem], ExecSettings(tmp_path, DATA, "cpu"))
    assert out[doomed.key].status == "failed" and "exit code 3" in out[doomed.key].error
    assert out[problem.key].status == "done" and Store(tmp_path).has(problem.key)


# -- worker count ----------------------------------------------------------------------------------------------------
def test_default_worker_count_is_one_per_usable_core(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)  # tests/conftest.py runs the suite in process
    assert usable_cores() == len(os.sched_getaffinity(0))
    assert LocalExecutor().workers == len(os.sched_getaffinity(0))
    assert make_executor("local").workers == len(os.sched_getaffinity(0))
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert LocalExecutor().workers == 3 and make_executor().workers == 3
    assert make_executor("local", workers=2).workers == 2  # an explicit count wins over the environment
    assert make_executor("local", workers="1").workers == 1


@pytest.mark.parametrize("bad", [0, -1, "x", "1.5", "", 10_000, True])
def test_a_bad_worker_count_names_the_field(bad, monkeypatch):
    with pytest.raises(SpecError) as e:
        make_executor("local", workers=bad)
    assert e.value.field == "workers"
    monkeypatch.setenv(WORKERS_ENV, "many")
    with pytest.raises(SpecError) as e:
        make_executor("local")
    assert e.value.field == "workers" and WORKERS_ENV in e.value.message


def test_workers_are_for_the_local_executor_only():
    with pytest.raises(SpecError) as e:
        make_executor("ray", workers=2)
    assert e.value.field == "workers"


def test_cli_rejects_a_bad_worker_count(tmp_path, capsys):
    assert main(["compare", "--workers", "zero", "--cache-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: workers:")
    assert main(["compare", "--workers", "0", "--cache-dir", str(tmp_path)]) == 2


@pytest.mark.slow
def test_cli_workers_runs_like_in_process(runs, tmp_path):
    out = tmp_path / "r.csv"
    args = ["compare", "--model", "mlp", "--forget-class", "3", "--methods", "original,retrain,finetune",
            "--hparam", "finetune.epochs=1", "--train", "epochs=1"]
    assert main([*args, "--workers", "2", "--cache-dir", str(tmp_path / "c"), "--out", str(out)]) == 0
    seq = run_comparison(spec(*METHODS[:3]), cache_dir=runs["root"] / "seq", data_dir=DATA,
                         executor=LocalExecutor(workers=1))
    expected = pd.read_csv(io.StringIO(seq.wide.to_csv(index=False, na_rep="NA")))
    pd.testing.assert_frame_equal(pd.read_csv(out).drop(columns=TIMING), expected.drop(columns=TIMING))


# -- capacity: cores, threads and GPU shares -------------------------------------------------------------------------
def _job(key: str, model: str = "mlp", resources: Resources | None = None) -> Job:
    return Job(key, "original", key, ProblemPayload({"model": model}, 0), resources=resources or Resources())


def test_small_jobs_take_one_thread_each_up_to_the_worker_count():
    cap = Capacity(workers=4, cores=4, base=1, widen=True, gpu=False)
    jobs = [_job(f"j{i}") for i in range(6)]
    assert cap.admit(jobs, []) == [(j, 1) for j in jobs[:4]]
    assert cap.admit(jobs[4:], [(jobs[0], 1), (jobs[1], 1), (jobs[2], 1)]) == [(jobs[4], 1)]
    assert cap.admit(jobs[:1], []) == [(jobs[0], 1)]  # small models are never widened: same numbers as in process


def test_big_jobs_get_the_idle_cores_only_when_every_ready_job_started():
    cap = Capacity(workers=8, cores=8, base=1, widen=True, gpu=False)
    big, small = _job("resnet", "resnet18"), _job("mlp")
    assert cap.admit([big], []) == [(big, 8)]
    assert cap.admit([big, small], []) == [(big, 7), (small, 1)]
    assert cap.admit([big], [(small, 1), (small, 1)]) == [(big, 6)]
    declared = _job("cpus", resources=Resources(cpus=2.0))  # a job declaring several CPUs counts as big
    assert cap.admit([declared], []) == [(declared, 8)]
    assert cap.admit([small], [(big, 8)]) == []  # a widened job's threads are taken: the next one waits for them
    many = [big] + [_job(f"s{i}") for i in range(9)]  # more ready jobs than room: nobody is widened
    assert [t for _, t in cap.admit(many, [])] == [1] * 8


def test_pinned_threads_turn_widening_off(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "2")
    cap = Capacity.for_run(workers=4, device_type="cpu", cores=4)
    assert (cap.base, cap.widen) == (2, False)
    big = _job("resnet", "resnet18")
    assert cap.admit([big, _job("a"), _job("b")], []) == [(big, 2), (_job("a"), 2)]  # 2 + 2 threads fill 4 cores
    monkeypatch.delenv(THREADS_ENV)
    monkeypatch.delenv("UNLEARN_WIDEN", raising=False)
    assert not Capacity.for_run(workers=4, device_type="cpu", cores=4).widen  # off by default: same numbers always
    monkeypatch.setenv("UNLEARN_WIDEN", "1")
    assert Capacity.for_run(workers=4, device_type="cpu", cores=4).widen
    monkeypatch.setenv(THREADS_ENV, "1")
    assert not Capacity.for_run(workers=4, device_type="cpu", cores=4).widen  # pinned threads win


def test_jobs_share_one_gpu_by_their_declared_shares():
    cap = Capacity.for_run(workers=16, device_type="cuda", cores=16)
    assert cap.gpu and not cap.widen
    small = [_job(f"s{i}", resources=Resources(gpu=SMALL_JOB_GPU)) for i in range(6)]
    assert [j for j, _ in cap.admit(small, [])] == small[:4]  # four quarters fill the GPU
    whole = _job("big", "resnet18", Resources(gpu=1.0))
    assert cap.admit([whole], [(small[0], 1)]) == []  # a whole-GPU job waits for the GPU to be free
    assert cap.admit([whole, small[1]], []) == [(whole, 1)]  # ... and is not overtaken
    cpu_only = _job("cpu", resources=Resources(gpu=0.0))
    assert cap.admit([cpu_only], [(whole, 1)]) == [(cpu_only, 1)]
