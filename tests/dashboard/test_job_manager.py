"""The job manager's live view of a run: job states when jobs fail, real elapsed seconds, overall progress and
ETA, the running jobs, per-epoch curves; and the progress panel's pure pieces (texts, the curve figure)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from dashboard import progress_view
from dashboard.job_manager import ACTIVE, FINISHED, JobManager, Overall, _record, _Run
from engine import api

FAILING = api.make_spec(methods=["original", "retrain", "gradient_ascent"], hparams={"gradient_ascent": {"lr": 0.3}})


def _row(table: pd.DataFrame, label: str) -> pd.Series:
    return table.set_index("job").loc[label]


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[JobManager, str, list[Overall], list[list[dict]]]:
    """The default digits setting with a gradient ascent that diverges (lr 0.3), run once in process; with what
    ``overall`` and ``running_jobs`` said while it ran."""
    mgr = JobManager(tmp_path_factory.mktemp("jm") / "cache")
    key = mgr.start(FAILING, workers=1)
    seen: list[Overall] = []
    running: list[list[dict]] = []
    while mgr.status(key) == "running":
        seen.append(mgr.overall(key))
        running.append(mgr.running_jobs(key))
        time.sleep(0.05)
    assert mgr.wait(key, timeout=300) == "done"
    return mgr, key, seen, running


def test_a_failed_job_shows_failed_and_its_dependent_skipped(failed_run) -> None:
    mgr, key, _, _ = failed_run
    table = mgr.progress(key)
    ga = _row(table, "gradient_ascent seed 0")
    assert ga["state"] == "failed", table.to_string()
    assert "loss became" in ga["message"]
    skipped = _row(table, "evaluate gradient_ascent seed 0")
    assert skipped["state"] == "skipped" and "did not finish" in skipped["message"]
    assert not table["state"].isin([*ACTIVE, "queued"]).any()  # nothing of an ended run is still going
    assert table["state"].isin(FINISHED).all()
    time.sleep(0.3)
    assert mgr.progress(key)["elapsed (s)"].tolist() == table["elapsed (s)"].tolist()  # no clock still climbing


def test_finished_jobs_show_their_real_seconds(failed_run) -> None:
    mgr, key, _, _ = failed_run
    table = mgr.progress(key)
    for label in ("original seed 0", "retrain seed 0", "evaluate original seed 0"):
        assert _row(table, label)["elapsed (s)"] > 0, table.to_string()
    stored = api.stored_seconds([j.key for j in api.plan(FAILING).jobs], mgr.cache_dir)
    original = next(j for j in api.plan(FAILING).jobs if j.label == "original seed 0")
    assert _row(table, "original seed 0")["elapsed (s)"] == round(stored[original.key], 1)


def test_cached_jobs_show_the_seconds_they_took_when_computed(failed_run, tmp_path: Path) -> None:
    mgr, key, _, _ = failed_run
    first = mgr.progress(key)
    again = JobManager(mgr.cache_dir)  # a new server on the same cache: everything but the failure is cached
    key2 = again.start(FAILING, workers=1)
    assert again.wait(key2, timeout=300) == "done"
    table = again.progress(key2)
    original = _row(table, "original seed 0")
    assert original["state"] == "cached"
    assert original["elapsed (s)"] == _row(first, "original seed 0")["elapsed (s)"] > 0
    assert _row(table, "gradient_ascent seed 0")["state"] == "failed"


def test_overall_progress_and_eta_while_running_and_after(failed_run) -> None:
    mgr, key, seen, running = failed_run
    running_states = [o for o in seen if o.state == "running"]
    assert running_states, "the run ended before it was observed"
    fractions = [o.fraction for o in running_states]
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert max(fractions) > 0.3  # training moved the bar
    assert any(o.eta is not None and o.eta > 0 for o in running_states)
    assert all(o.jobs in (0, 7) and sum(o.counts.values()) == o.jobs for o in seen)  # 0: still planning
    end = mgr.overall(key)
    assert end.state == "done" and end.fraction == 1.0 and end.eta is None and end.elapsed > 0
    assert end.counts == {"done": 5, "failed": 1, "skipped": 1} and end.finished == 7
    labels = {r["job"] for now in running for r in now}
    assert {"original seed 0", "retrain seed 0"} <= labels
    assert all(r["state"] in ACTIVE and r["step"] for now in running for r in now if r["kind"] == "original")
    assert mgr.running_jobs(key) == []


def test_curves_have_a_point_per_epoch_of_training_and_unlearning(failed_run) -> None:
    mgr, key, _, _ = failed_run
    points = mgr.curves(key)
    assert list(points.columns) == ["job", "kind", "epoch", "loss", "acc"]
    original = points[points["job"] == "original seed 0"]
    epochs = api.default_epochs("digits", "cnn")
    assert original["epoch"].tolist() == list(range(1, epochs + 1))
    assert original["loss"].iloc[-1] < original["loss"].iloc[0]
    assert original["acc"].between(0, 1).all() and original["acc"].iloc[-1] > 0.9
    ga = points[points["job"] == "gradient_ascent seed 0"]
    assert len(ga) >= 1 and ga["acc"].isna().all()  # the descent loop reports its loss only


def test_points_are_placed_by_epoch_and_stale_events_ignored() -> None:
    run = _Run(FAILING, None, threading.Event(), time.time())
    ev = {"state": "running", "done": 3, "total": 5, "elapsed": 2.0}
    _record(run, "j", {**ev, "epoch": 3, "loss": 0.5, "acc": 0.8}, 10.0)  # epochs 1 and 2 were never relayed
    _record(run, "j", {**ev, "epoch": 1, "loss": 0.9}, 11.0)
    _record(run, "j", {**ev, "epoch": 3, "loss": 0.4, "acc": 0.9}, 12.0)  # the same epoch again: replaced
    assert run.points["j"] == {3: (0.4, 0.9), 1: (0.9, None)}
    assert run.began["j"] == 8.0  # started ``elapsed`` seconds before its first event
    _record(run, "j", {"state": "failed", "message": "boom", "elapsed": 4.0}, 13.0)
    _record(run, "j", {**ev, "epoch": 4, "loss": 0.3}, 14.0)  # a late relayed event of the ended job
    assert run.events["j"]["state"] == "failed" and 4 not in run.points["j"]


def test_an_unknown_run_has_empty_views(tmp_path: Path) -> None:
    mgr = JobManager(tmp_path / "cache")
    assert mgr.overall("nope") == Overall("idle", 0.0, 0.0, None, {}, 0)
    assert mgr.running_jobs("nope") == [] and mgr.progress("nope").empty and mgr.curves("nope").empty


# -- the panel's pure pieces -------------------------------------------------------------------------------------
def test_format_seconds() -> None:
    assert progress_view.format_seconds(4.4) == "4 s"
    assert progress_view.format_seconds(185) == "3 min 05 s"
    assert progress_view.format_seconds(3725) == "1 h 02 min"
    assert progress_view.format_seconds(None) == progress_view.format_seconds(math.nan) == "?"


def test_overall_text_says_state_jobs_time_and_what_went_wrong() -> None:
    running = Overall("running", 0.5, 12.0, 30.0, {"done": 2, "running": 1, "queued": 3}, 6)
    assert progress_view.overall_text(running) == "Run running — 2/6 jobs finished · 12 s elapsed · about 30 s left"
    ended = Overall("done", 1.0, 70.0, None, {"done": 5, "failed": 1, "skipped": 1}, 7)
    assert progress_view.overall_text(ended) == "Run done — 7/7 jobs finished in 1 min 10 s (1 failed, 1 skipped)"


def test_running_text() -> None:
    job = {"job": "original seed 0", "state": "running", "step": "4/30", "message": "epoch 4/30 loss 0.1",
           "elapsed (s)": 3.2}
    assert progress_view.running_text(job) == "original seed 0 · 4/30 · epoch 4/30 loss 0.1 · 3 s"
    assert progress_view.running_text({**job, "state": "waiting", "step": ""}).startswith("waiting: original")


def test_curve_figure_draws_loss_per_job_and_accuracy_where_reported() -> None:
    points = pd.DataFrame({"job": ["original seed 0"] * 3 + ["finetune seed 0"] * 2, "kind": "x",
                           "epoch": [1, 2, 3, 1, 2], "loss": [1.0, 0.5, 0.2, 0.3, 0.25],
                           "acc": [0.5, 0.8, 0.9, math.nan, math.nan]})
    fig = progress_view.curve_figure(points)
    names = [t.name for t in fig.data]
    assert names == ["original seed 0 · loss", "original seed 0 · acc", "finetune seed 0 · loss"]
    assert list(fig.data[0].y) == [1.0, 0.5, 0.2] and fig.data[1].yaxis == "y2"
    one = progress_view.curve_figure(points, "finetune seed 0")
    assert [t.name for t in one.data] == ["finetune seed 0 · loss"]
    assert "finetune seed 0" in one.layout.title.text and "accuracy" not in one.layout.title.text
    assert not one.layout.yaxis2.visible  # no accuracy axis without accuracy
    assert fig.layout.yaxis.type == "log"  # positive losses fall by decades
    ascent = points.assign(loss=[-1.0, -5.0, -20.0, 0.3, 0.2])  # gradient ascent: a negative objective
    assert progress_view.curve_figure(ascent).layout.yaxis.type == "linear"
    assert progress_view.curve_figure(points.iloc[:0]).data == ()


def test_the_curve_menu_follows_the_latest_job() -> None:
    points = pd.DataFrame({"job": ["original seed 0", "retrain seed 0"], "kind": "x", "epoch": [1, 1],
                           "loss": [1.0, 1.0], "acc": [0.5, 0.5]})
    latest = progress_view.LATEST_JOB
    assert progress_view.curve_job(latest, points, ["retrain seed 0"]) == "retrain seed 0"
    assert progress_view.curve_job(latest, points, ["evaluate original seed 0"]) == "retrain seed 0"  # no points
    assert progress_view.curve_job(latest, points, []) == "retrain seed 0"
    assert progress_view.curve_job(progress_view.ALL_JOBS, points, []) is None
    assert progress_view.curve_job("original seed 0", points, []) == "original seed 0"


def test_a_tuned_run_shows_its_phase_trials_and_the_trial_jobs(tmp_path: Path) -> None:
    """``start(..., tune=TuneOptions)`` (issue 15): the run goes comparison -> tuning -> tuned comparison, the bar
    counts the trials, the progress table lists the trials' jobs, and the tuned comparison ends up in the store."""
    spec = api.make_spec(methods=["original", "retrain", "finetune"], model="mlp", epochs=2)
    options = api.TuneOptions(trials=2, seeds=(100,))
    mgr = JobManager(tmp_path / "cache")
    key = mgr.start(spec, workers=1, tune=options)
    phases = set()
    while mgr.status(key) == "running":
        phases.add(mgr.overall(key).phase)
        time.sleep(0.05)
    assert mgr.wait(key, timeout=300) == "done", mgr.error(key)
    ov = mgr.overall(key)
    assert ov.trials == (2, 2) and ov.fraction == 1.0
    assert phases & {"tuning", "tuned comparison"}
    table = mgr.progress(key)
    assert table["job"].str.startswith("tune finetune trial 1:").any(), table["job"].tolist()
    assert table["state"].isin(FINISHED).all()
    studies = api.studies(spec, options, tmp_path / "cache")
    assert [t.number for t in studies["finetune"].trials] == [0, 1]
    with pytest.raises(api.SpecError) as e:  # tuning seeds that are reported seeds are refused before anything
        mgr.start(spec, workers=1, tune=api.TuneOptions(trials=2, seeds=(0,)))
    assert e.value.field == "tune_seeds"
