"""Deployment settings on the dashboard: executor choice, hosted demo mode (caps, queue), results bundles."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from dashboard import data, state
from engine.bundle import read_bundle


def _tiny(methods: list[str] | None = None, **kw) -> data.ComparisonSpec:  # noqa: ANN003
    sel = data.Selection(model="mlp", methods=methods or ["original", "retrain", "finetune"], epochs=1,
                         scenario_params={"forget_class": 1}, **kw)
    return data.build_spec(sel)


def test_demo_mode_caps_defaults_and_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNLEARN_DEMO", raising=False)
    assert not data.demo_enabled()
    assert len(data.default_methods()) == len(data.DEFAULT_METHODS)
    data.check_demo(_tiny(seeds=5))  # no caps outside demo mode
    monkeypatch.setenv("UNLEARN_DEMO", "1")
    lim = data.demo_limits()
    assert len(data.default_methods()) == lim["max_methods"]
    assert data.executors() == ("local",)
    with pytest.raises(data.SpecError) as err:
        data.check_demo(_tiny(seeds=lim["max_seeds"] + 1))
    assert err.value.field == "seeds"
    data.check_demo(_tiny(seeds=lim["max_seeds"]))


def test_demo_page_shows_the_caps_and_refuses_too_many_seeds(app, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLEARN_DEMO", "1")
    at = app().run()
    assert not at.exception
    assert "Hosted demo" in "\n".join(str(i.value) for i in at.info)
    assert len(at.multiselect(key=state.METHODS).value) == data.demo_limits()["max_methods"]
    assert at.selectbox(key=state.EXECUTOR).disabled
    at.number_input(key=state.SEEDS).set_value(data.demo_limits()["max_seeds"] + 1).run()
    assert not at.exception
    assert any("seeds" in str(e.value) for e in at.error)
    assert at.button(key="compare.run").disabled


def test_executor_menu_outside_demo(app, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNLEARN_DEMO", raising=False)
    monkeypatch.setenv("UNLEARN_EXECUTOR", "ray")
    at = app().run()
    assert not at.exception
    box = at.selectbox(key=state.EXECUTOR)
    assert box.value == "ray" and set(box.options) == {"local", "ray"}


def test_queue_runs_one_comparison_at_a_time_and_reports_positions(tmp_path: Path) -> None:
    queue = data.RunQueue(1)
    mgr = data.JobManager(tmp_path / "cache", queue=queue)
    blocker = queue.join()  # another user's run holds the only slot
    first = mgr.start(_tiny())
    second = mgr.start(_tiny(["original", "retrain"]))
    deadline = time.monotonic() + 30
    while (mgr.queue_position(first), mgr.queue_position(second)) != (1, 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (mgr.queue_position(first), mgr.queue_position(second)) == (1, 2)
    assert mgr.status(first) == "running" and mgr.progress(first)["state"].eq("queued").all()
    queue.leave(blocker)
    assert mgr.wait(first, 120) == "done" and mgr.wait(second, 120) == "done"
    assert mgr.queue_position(first) is None and queue.snapshot() == (0, 0)
    assert mgr.result(first).complete


def test_cancel_while_queued_leaves_the_queue(tmp_path: Path) -> None:
    queue = data.RunQueue(1)
    mgr = data.JobManager(tmp_path / "cache", queue=queue)
    blocker = queue.join()
    key = mgr.start(_tiny())
    while mgr.queue_position(key) != 1:
        time.sleep(0.05)
    mgr.cancel(key)
    assert mgr.wait(key, 30) == "cancelled"
    assert queue.snapshot() == (1, 0)
    queue.leave(blocker)


def test_bundle_export_import_and_startup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    mgr = data.JobManager(src)
    spec = _tiny()
    key = mgr.start(spec)
    assert mgr.wait(key, 120) == "done"
    blob = data.export_comparisons([key], src)
    assert list(read_bundle(blob).specs()) == [key]
    # a damaged upload is refused and leaves the target cache untouched
    with pytest.raises(data.BundleError):
        data.import_comparisons(blob[:-20], dst)
    assert data.history(dst).empty
    # the start-up bundle of a hosted demo
    path = tmp_path / "demo.zip"
    path.write_bytes(blob)
    monkeypatch.setenv("UNLEARN_BUNDLE", str(path))
    assert data.import_startup_bundle(dst) == f"imported 1 comparison(s) from {path}"
    assert set(data.stored_results(data.plan(spec), dst).wide["status"]) == {"pending"}  # never as computed
    shown = data.stored_results(data.plan(spec), dst, include_imported=True)  # shown when asked, marked
    original = data.stored_results(data.plan(spec), src)
    assert set(shown.wide["source"]) == {"imported"} and shown.n_imported == len(shown.wide)
    pd.testing.assert_frame_equal(shown.wide.drop(columns="source"), original.wide.drop(columns="source"))
    assert data.history(dst)["source"].iloc[0].startswith("imported (bundle ")
    monkeypatch.setenv("UNLEARN_BUNDLE", str(tmp_path / "missing.zip"))
    assert data.import_startup_bundle(dst).startswith("no bundle at")


def test_job_manager_runs_through_the_named_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []
    from engine import api

    real = api.make_executor

    def spy(name: str | None = None, workers: int | None = None):  # noqa: ANN202
        used.append(str(name) if workers is None else f"{name}:{workers}")
        return real("local", workers=1)

    monkeypatch.setattr(api, "make_executor", spy)  # the job manager runs through the engine API
    mgr = data.JobManager(tmp_path / "cache")
    key = mgr.start(_tiny(), executor="ray")
    assert mgr.wait(key, 120) == "done"
    assert used == ["ray"]
    key2 = mgr.start(_tiny(seeds=2), executor="local", workers=2)
    assert mgr.wait(key2, 120) == "done"
    assert used == ["ray", "local:2"]  # the page's worker count reaches the local executor
