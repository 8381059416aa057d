"""Runner: content-keyed caching, determinism, single computation under concurrency, interrupted runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.runner import make_plan, run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store
from tests.runner.conftest import SETTINGS, model_job_keys

FAST_TRAIN = (("epochs", 4),)
DATA = Path("data")


def spec(**kw) -> ComparisonSpec:  # noqa: ANN003
    base = dict(scenario_params=(("forget_class", 3),), train=FAST_TRAIN,
                methods=(MethodSpec("original"), MethodSpec("retrain"), MethodSpec("finetune", (("epochs", 1),))))
    base.update(kw)
    return ComparisonSpec(**base)


@pytest.fixture(scope="module")
def finished(trained_caches, tmp_path_factory):  # noqa: ANN001, ANN201
    """``spec()`` run once, from a copy of the shared cnn models: its cache and result."""
    assert spec().setting_key() == SETTINGS["cnn"].setting_key()  # the shared models are this setting's
    cache = trained_caches("cnn", tmp_path_factory.mktemp("runner") / "cache")
    return cache, run_comparison(spec(), cache_dir=cache, data_dir=DATA)


def metric_matrix(res) -> np.ndarray:  # noqa: ANN001
    cols = [c for c in res.wide.columns if c not in ("dataset", "paradigm", "scenario", "model", "method", "seed",
                                                     "status", "source", "note", "unlearn_seconds",
                                                     "speedup_vs_retrain")]
    return res.wide[cols].to_numpy(dtype=float)


def test_plan_is_content_keyed_and_shares_jobs_between_comparisons():
    a = make_plan(spec(), DATA)
    b = make_plan(spec(methods=(MethodSpec("gradient_ascent"),)), DATA)
    ka = {j.kind: j.key for j in a.jobs if j.kind in ("problem", "original", "retrain")}
    kb = {j.kind: j.key for j in b.jobs if j.kind in ("problem", "original", "retrain")}
    assert ka == kb  # the same setting reuses its original and retrain
    c = make_plan(spec(train=(("epochs", 5),)), DATA)
    assert {j.key for j in c.jobs if j.kind == "original"} != {ka["original"]}
    d = make_plan(spec(methods=(MethodSpec("finetune", (("epochs", 2),)),)), DATA)
    assert not ({j.key for j in d.jobs if j.kind == "unlearn"} & {j.key for j in a.jobs if j.kind == "unlearn"})


def test_second_run_is_all_cached_and_identical(finished):
    cache, first = finished
    assert set(first.wide["status"]) == {"ok"}
    shared = model_job_keys(first.plan)  # the models came trained; everything else ran
    assert {k: o.status for k, o in first.outcomes.items()} == {
        j.key: "cached" if j.key in shared else "done" for j in first.plan.jobs}
    second = run_comparison(spec(), cache_dir=cache, data_dir=DATA)
    assert {o.status for o in second.outcomes.values()} == {"cached"}
    np.testing.assert_array_equal(metric_matrix(first), metric_matrix(second))


def test_same_spec_same_numbers_in_a_fresh_cache(finished, tmp_path):
    fresh = run_comparison(spec(), cache_dir=tmp_path / "fresh", data_dir=DATA)
    assert {o.status for o in fresh.outcomes.values()} == {"done"}  # every model trained again here
    np.testing.assert_array_equal(metric_matrix(finished[1]), metric_matrix(fresh))


def test_class_scenario_reference_rows(finished):
    res = finished[1]
    w = res.wide.set_index("method")
    assert w.loc["retrain", "forget_acc"] == 0.0  # a class never seen cannot be predicted
    assert w.loc["retrain", "gap_to_retrain"] == 0.0
    assert w.loc["original", "forget_acc"] > 0.9
    assert np.isnan(w.loc["original", "unlearn_seconds"])  # no unlearning happened
    assert w.loc["retrain", "speedup_vs_retrain"] == 1.0


def test_not_applicable_under_label_free(tmp_path):
    res = run_comparison(spec(paradigm="label_free"), cache_dir=tmp_path, data_dir=DATA)
    w = res.wide.set_index("method")
    assert w.loc["finetune", "status"] == "not_applicable"
    assert "label" in w.loc["finetune", "note"]
    assert w.loc["original", "status"] == "ok"
    assert w.loc["retrain", "status"] == "ok"  # the reference is trained by the engine, with training labels


def test_two_identical_requests_compute_once(tmp_path):
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(key, e):  # noqa: ANN001
        with lock:
            events.append((e["label"], e["state"]))

    results = []
    threads = [threading.Thread(target=lambda: results.append(
        run_comparison(spec(), cache_dir=tmp_path, data_dir=DATA, on_event=record))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [label for label, state in events if state == "done"]
    assert done.count("original seed 0") == 1 and done.count("retrain seed 0") == 1
    assert all(set(r.wide["status"]) == {"ok"} for r in results)
    np.testing.assert_array_equal(metric_matrix(results[0]), metric_matrix(results[1]))


CHILD = textwrap.dedent("""
    import sys
    from engine.runner import run_comparison
    from engine.spec import ComparisonSpec, MethodSpec
    spec = ComparisonSpec(scenario_params=(("forget_class", 3),), train=(("epochs", 200),),
                          methods=(MethodSpec("original"),))
    run_comparison(spec, cache_dir=sys.argv[1], data_dir="data")
""")


def test_killed_run_leaves_no_partial_result_and_resumes(tmp_path):
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cache)], cwd=os.getcwd())
    killed_spec = ComparisonSpec(scenario_params=(("forget_class", 3),), train=(("epochs", 200),),
                                 methods=(MethodSpec("original"),))
    plan = make_plan(killed_spec, DATA)
    original = next(j for j in plan.jobs if j.kind == "original")
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the original's training is under way, then kill -9
        if cache.exists():
            ev = Store(cache).progress(original.key)
            if ev and ev["state"] == "running" and ev.get("done", 0) >= 1:
                break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the child never started training")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(cache)
    assert not store.has(original.key)
    assert not any(k.startswith(f"blob/{original.key}") for k in store.cache.iterkeys())
    assert store.claimed(original.key)  # the dead process's claim is left behind ...
    assert store.claim(original.key)  # ... and broken by the next one who asks
    store.release(original.key)


def test_diverged_run_is_failed_with_reason_and_others_go_on(trained_caches, tmp_path):
    from engine.runner import collect

    s = spec(methods=(MethodSpec("original"), MethodSpec("gradient_ascent", (("lr", 1.0), ("epochs", 20)))))
    cache = trained_caches("cnn", tmp_path / "cache")
    res = run_comparison(s, cache_dir=cache, data_dir=DATA)
    w = res.wide.set_index("method")
    assert w.loc["original", "status"] == "ok"
    assert w.loc["gradient_ascent", "status"] == "failed"
    assert "nan" in w.loc["gradient_ascent", "note"].lower() or "finite" in w.loc["gradient_ascent", "note"]
    # reopened later from the store alone (e.g. the History page), the row is still failed with its reason
    store = Store(cache)
    again = collect(make_plan(s, DATA), store).wide.set_index("method")
    assert again.loc["gradient_ascent", "status"] == "failed"
    assert again.loc["gradient_ascent", "note"]
