"""Ray executor on a real local runtime: same numbers and store contents as in process, dependencies and
failures, cache reuse, cancellation, and the CLI's ``--executor ray``.

One runtime per module (``ray.init(num_cpus=2)``, token auth and usage stats off so it works offline) whose
workers cannot open a store (:func:`forbid_store_hook`): every Ray run here is detached (the default), so each
test also proves that no worker touched the driver's cache directory. A small digits comparison (mlp, one epoch,
one seed) is run once by each executor and shared by the tests; ``test_ray_shared.py`` covers shared storage.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from engine.cli import main
from engine.executors import LocalExecutor, RayExecutor
from engine.runner import make_plan, run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store, arrays_from_bytes
from tests.executors.recorder import Recorder, cancelled_run

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

DATA = Path("data")
TIMING = ["unlearn_seconds", "speedup_vs_retrain"]


def spec(*extra: MethodSpec, epochs: int = 1) -> ComparisonSpec:
    return ComparisonSpec(model="mlp", scenario_params=(("forget_class", 3),), train=(("epochs", epochs),),
                          methods=(MethodSpec("original"), MethodSpec("retrain"),
                                   MethodSpec("finetune", (("epochs", 1),)), *extra))


def forbid_store_hook():
    """A Ray ``worker_process_setup_hook`` (pickled by value: workers need not import the tests): every ``Store(...)``
    in the worker raises, and ``$UNLEARN_CACHE_DIR`` points nowhere, so a worker that opens a store fails its job."""
    root = str(Path(__file__).resolve().parents[2])  # the hook runs before Ray gives the worker the driver's sys.path

    def forbid_store() -> None:
        import os
        import sys

        if root not in sys.path:
            sys.path.insert(0, root)

        from engine.store import store

        def refuse(self, directory) -> None:
            raise RuntimeError(f"a Ray worker opened a store ({directory}); detached workers must not")

        store.Store.__init__ = refuse
        os.environ["UNLEARN_CACHE_DIR"] = "/nonexistent/unlearn-worker-cache"

    return forbid_store


@pytest.fixture(scope="module")
def ray_runtime():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")  # Ray 2.60 turns token auth on by default
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.delenv("RAY_ADDRESS", raising=False)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"worker_process_setup_hook": forbid_store_hook()})
        try:
            yield
        finally:
            ray.shutdown()




@pytest.fixture(scope="module")
def runs(ray_runtime, tmp_path_factory):
    """The same spec run by Ray (cache ``ray``) and in process (cache ``local``)."""
    root = tmp_path_factory.mktemp("exec")
    rec = Recorder()
    by_ray = run_comparison(spec(), cache_dir=root / "ray", data_dir=DATA, executor=RayExecutor(), on_event=rec)
    by_local = run_comparison(spec(), cache_dir=root / "local", data_dir=DATA, executor=LocalExecutor())
    return {"root": root, "ray": by_ray, "local": by_local, "events": rec}


def test_same_numbers_and_store_contents_as_local(runs):
    r, lo = runs["ray"], runs["local"]
    assert set(r.wide["status"]) == {"ok"}
    assert {o.status for o in r.outcomes.values()} == {"done"}
    pd.testing.assert_frame_equal(r.wide.drop(columns=TIMING), lo.wide.drop(columns=TIMING))
    a, b = Store(runs["root"] / "ray"), Store(runs["root"] / "local")
    for job in r.plan.jobs:
        ma, mb = a.result(job.key).meta, b.result(job.key).meta
        skip = {"seconds", "cpu_seconds", "finished_at", "metrics", "run"}
        assert {k: v for k, v in ma.items() if k not in skip} == {k: v for k, v in mb.items() if k not in skip}
        # the run record: same but for clocks and for how many jobs ran beside (not tracked on Ray: null)
        timing = {"wall_seconds", "cpu_seconds", "thread_cpu_seconds", "concurrent"}
        assert ma["run"]["concurrent"] is None and mb["run"]["concurrent"] >= 1
        assert {k: v for k, v in ma["run"].items() if k not in timing} == \
               {k: v for k, v in mb["run"].items() if k not in timing}
        if "metrics" in ma:
            assert {k: v for k, v in ma["metrics"].items() if k not in TIMING} == \
                   {k: v for k, v in mb["metrics"].items() if k not in TIMING}
        for name in ma["blobs"]:
            if name.endswith(".npz"):
                xa, xb = arrays_from_bytes(a.blob(job.key, name)), arrays_from_bytes(b.blob(job.key, name))
                assert xa.keys() == xb.keys() and all(np.array_equal(xa[k], xb[k]) for k in xa)
            else:
                sa, sb = (torch.load(io.BytesIO(s.blob(job.key, name)), weights_only=True) for s in (a, b))
                assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_progress_from_workers_reaches_on_event(runs):
    rec = runs["events"]
    done = rec.states("done")
    assert sorted(done) == sorted(j.key for j in runs["ray"].plan.jobs)  # one terminal event per job
    assert all(e["label"] and e["kind"] for _, e in rec.events)


def test_cached_jobs_are_not_recomputed(runs):
    rec = Recorder()
    again = run_comparison(spec(), cache_dir=runs["root"] / "ray", data_dir=DATA, executor=RayExecutor(),
                           on_event=rec)
    assert {o.status for o in again.outcomes.values()} == {"cached"}
    assert {e["state"] for _, e in rec.events} == {"cached"}
    pd.testing.assert_frame_equal(again.wide, runs["ray"].wide)
    # one new method: only its unlearn and evaluate jobs run, the shared models come from the cache
    rec = Recorder()
    more = run_comparison(spec(MethodSpec("gradient_ascent", (("epochs", 1),))), cache_dir=runs["root"] / "ray",
                          data_dir=DATA, executor=RayExecutor(), on_event=rec)
    ran = {j.kind for j in more.plan.jobs if more.outcomes[j.key].status == "done"}
    assert ran == {"unlearn", "evaluate"} and len(rec.states("done")) == 2
    assert set(more.wide["status"]) == {"ok"}


def test_failed_job_skips_its_dependents_and_others_finish_like_local(runs):
    s = spec(MethodSpec("gradient_ascent", (("lr", 1.0), ("epochs", 5))), MethodSpec("random_label", (("epochs", 1),)))
    by_ray = run_comparison(s, cache_dir=runs["root"] / "ray", data_dir=DATA, executor=RayExecutor())
    by_local = run_comparison(s, cache_dir=runs["root"] / "local", data_dir=DATA, executor=LocalExecutor())
    w = by_ray.wide.set_index("method")
    assert w.loc["gradient_ascent", "status"] == "failed" and "nan" in w.loc["gradient_ascent", "note"]
    assert w.loc["random_label", "status"] == "ok"
    assert by_ray.outcomes == by_local.outcomes  # same statuses and messages, job by job
    assert sorted(o.status for o in by_ray.outcomes.values()).count("skipped") == 1
    pd.testing.assert_frame_equal(by_ray.wide.drop(columns=TIMING), by_local.wide.drop(columns=TIMING))


def test_cancel_stops_running_jobs_which_write_nothing(ray_runtime, tmp_path):
    s = spec(epochs=1000)  # long trainings, cancelled after their first epoch
    plan = make_plan(s, DATA)
    res, training = cancelled_run(s, plan, tmp_path, DATA, RayExecutor())
    store = Store(tmp_path)
    by_kind = {j.key: j.kind for j in plan.jobs}
    assert {res.outcomes[k].status for k in training} == {"cancelled"}
    assert {res.outcomes[k].status for k, kind in by_kind.items() if kind in ("unlearn", "evaluate")} == {"cancelled"}
    assert not any(store.has(k) for k in training)
    assert not any(k.startswith(tuple(f"blob/{t}" for t in training)) for k in store.keys("blob/"))
    assert not any(store.claimed(k) for k in training)
    assert list(store.keys("flag/")) == []  # the run's cancellation and start markers are cleared
    assert set(res.wide["status"]) == {"cancelled"}


def test_cli_executor_ray(runs, tmp_path):
    out = tmp_path / "r.csv"
    rc = main(["compare", "--model", "mlp", "--forget-class", "3", "--methods", "original,retrain,finetune",
               "--hparam", "finetune.epochs=1", "--train", "epochs=1", "--executor", "ray",
               "--cache-dir", str(runs["root"] / "ray"), "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    expected = pd.read_csv(io.StringIO(runs["ray"].wide.to_csv(index=False, na_rep="NA")))
    pd.testing.assert_frame_equal(df, expected)


def test_dashboard_run_through_ray_shows_like_a_local_one(ray_runtime, runs, tmp_path):
    """The dashboard's job manager with the ``ray`` executor: live progress, then the same tables as local."""
    from dashboard import data

    mgr = data.JobManager(tmp_path / "cache", data_dir=DATA)
    key = mgr.start(spec(), executor="ray")
    assert mgr.wait(key, 300) == "done", mgr.error(key)
    progress = mgr.progress(key)
    assert set(progress["state"]) <= {"done", "cached"} and len(progress) == len(runs["local"].plan.jobs)
    shown = mgr.result(key)
    assert shown.complete
    pd.testing.assert_frame_equal(shown.wide.drop(columns=TIMING), runs["local"].wide.drop(columns=TIMING))
    assert key in set(data.history(tmp_path / "cache")["key"])


def test_shared_storage_mode_opens_the_store_in_workers(ray_runtime, tmp_path, monkeypatch):
    """The guard bites: with ``shared_storage=True`` (or ``$UNLEARN_RAY_SHARED=1``) workers open the store, so here
    every computed job fails with the guard's message -- the detached runs above never did."""
    monkeypatch.setenv("UNLEARN_RAY_SHARED", "1")
    assert RayExecutor().shared_storage and not RayExecutor(shared_storage=False).shared_storage
    res = run_comparison(spec(), cache_dir=tmp_path, data_dir=DATA, executor=RayExecutor())
    problem = next(j.key for j in res.plan.jobs if j.kind == "problem")
    assert res.outcomes[problem].status == "failed" and "opened a store" in res.outcomes[problem].error


def test_the_audits_run_on_detached_workers_like_in_process(ray_runtime, tmp_path):
    """Issue 16: U-LiRA's shadows, the per-row jobs (the method applied to the shadows, the feature audit) and the
    per-metric records, run by Ray workers that never open a store, give the local numbers."""
    import dataclasses

    s = dataclasses.replace(spec(), ulira_shadows=4, feature_audit=True)
    by_ray = run_comparison(s, cache_dir=tmp_path / "ray", data_dir=DATA, executor=RayExecutor())
    by_local = run_comparison(s, cache_dir=tmp_path / "local", data_dir=DATA, executor=LocalExecutor(workers=1))
    assert set(by_ray.wide["status"]) == {"ok"}
    cols = ["mia_ulira", "mia_rmia", "cka_retrain", "probe_forget_acc", "zrf", "js_to_retrain"]
    assert by_ray.wide[cols].notna().all().all()
    pd.testing.assert_frame_equal(by_ray.wide[cols], by_local.wide[cols])
    a = Store(tmp_path / "ray")
    try:
        assert sum(1 for _ in a.keys("result/metric-")) > 0  # the per-metric records reached the driver's store
    finally:
        a.close()
