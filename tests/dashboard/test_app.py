"""The dashboard as a user drives it, through Streamlit's AppTest (no browser)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pandas as pd
import pytest

from dashboard import data, labels, results_view, state, url
from engine.data import load_dataset  # test set-up only: the true labels to check the per-sample CSV
from engine.runner.breakdowns import SAMPLE_COLUMNS


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_app_loads_with_default_selection(app):
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "Compare unlearning methods"
    assert at.selectbox(key=state.DATASET).value == "digits"
    assert at.selectbox(key=state.PARADIGM).value == "supervised"
    assert at.selectbox(key=state.SCENARIO).value == "class"
    assert at.selectbox(key=state.MODEL).value == "cnn"
    assert at.multiselect(key=state.METHODS).value == list(data.DEFAULT_METHODS)
    assert at.number_input(key=state.SEEDS).value == 1
    assert at.button(key="compare.run").disabled is False
    assert not at.error
    assert "Not computed yet" in _texts(at.info)
    # the selection is mirrored in the URL
    assert at.query_params["dataset"] == ["digits"] or at.query_params["dataset"] == "digits"


def test_changing_paradigm_lists_not_applicable_methods(app):
    at = app().run()
    at.selectbox(key=state.PARADIGM).select("label_free").run()
    assert not at.exception
    captions = _texts(at.caption)
    assert "`gradient_ascent`: needs forget-set labels" in captions
    assert "`ugradsl`:" in captions
    # a paradigm with a rate shows its rate
    at.selectbox(key=state.PARADIGM).select("noisy_label").run()
    assert not at.exception
    assert at.number_input(key=state.RATE).value > 0


def test_hyperparameter_forms_come_from_the_schema(app):
    at = app().run()
    assert not [w for w in at.number_input if w.key.startswith("sel.hparam.")]  # drawn only when opened
    at.session_state[state.COMPARE_TAB] = "Method hyper-parameters"
    at.run()
    names = {w.label for w in at.number_input if w.key.startswith(state.hparam("finetune", ""))}
    assert names == {labels.param_label(p.name) for p in data.method_schema("finetune")}  # readable titles
    # a value set in the tab survives switching back to the results (and is in the spec / link)
    at.number_input(key=state.hparam("finetune", "epochs")).set_value(3).run()
    at.session_state[state.COMPARE_TAB] = "Results"
    at.run()
    assert not at.exception and not [w for w in at.number_input if w.key.startswith("sel.hparam.")]
    assert _qp(at)["h.finetune.epochs"] == "3"
    at.run()
    assert _qp(at)["h.finetune.epochs"] == "3"


def _summary(at) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "seeds" in d.value.columns)


def _qp(at) -> dict[str, str]:
    out = {}
    for k, v in at.query_params.items():
        out[k] = v[0] if isinstance(v, list) else v
    return out


def test_selection_survives_a_visit_to_another_page(app):
    at = app().run()
    at.selectbox(key=state.MODEL).select("mlp").run()
    at.switch_page("app_pages/methods.py").run()
    assert not at.exception
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert at.selectbox(key=state.MODEL).value == "mlp"


def test_url_round_trip(app):
    at = app()
    q = {"dataset": "digits", "paradigm": "noisy_label", "rate": "0.2", "scenario": "within_class",
         "s.forget_class": "2", "s.fraction": "0.5", "model": "mlp", "methods": "original,retrain,finetune",
         "h.finetune.epochs": "3", "seeds": "2", "device": "cpu", "epochs": "4"}
    for k, v in q.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert at.selectbox(key=state.PARADIGM).value == "noisy_label"
    assert at.number_input(key=state.RATE).value == 0.2
    assert at.selectbox(key=state.SCENARIO).value == "within_class"
    assert at.number_input(key=state.scenario_param("within_class", "forget_class")).value == 2
    assert at.number_input(key=state.scenario_param("within_class", "fraction")).value == 0.5
    assert at.selectbox(key=state.MODEL).value == "mlp"
    assert at.multiselect(key=state.METHODS).value == ["original", "retrain", "finetune"]
    assert at.session_state[state.hparam("finetune", "epochs")] == 3
    assert at.number_input(key=state.SEEDS).value == 2
    assert at.selectbox(key=state.DEVICE).value == "cpu"
    assert at.number_input(key=state.epochs("digits", "mlp")).value == 4
    # the page writes the same selection back: the link reproduces itself
    assert _qp(at) == q


def test_bad_url_value_is_reported_by_name(app):
    at = app()
    at.query_params["dataset"] = "nope"
    at.query_params["h.finetune.lr"] = "-1"
    at.run()
    assert not at.exception
    warnings = _texts(at.warning)
    assert "dataset: unknown value 'nope'" in warnings
    assert "h.finetune.lr" in warnings
    assert at.selectbox(key=state.DATASET).value == "digits"


def test_bad_input_shows_an_error_naming_the_field(app):
    at = app()
    at.query_params["s.forget_class"] = "12"  # digits has classes 0..9
    at.run()
    assert not at.exception
    assert at.error and "forget_class" in at.error[0].value
    assert at.button(key="compare.run").disabled
    # a *_or_none field typed as text that is not a number
    at.selectbox(key=state.SCENARIO).select("incremental").run()
    at.text_input(key=state.scenario_param("incremental", "forget_class")).input("abc").run()
    assert not at.exception
    assert "scenario.forget_class" in at.error[0].value


def _button(at, label: str):
    return next(b for b in at.get("download_button") if b.proto.label == label)


def _chart_keys(at) -> set[str]:
    return {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}


def _frame(at, *columns: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


@pytest.mark.slow
def test_run_tiny_comparison_then_results_and_history(app, cache_dir, downloads):
    at = app()
    at.query_params["methods"] = "original,retrain,finetune,laf"
    at.query_params["epochs"] = "2"
    at.query_params["s.forget_class"] = "1"
    at.run()
    assert not at.exception
    at.button(key="compare.run").click().run()
    assert not at.exception
    deadline = time.monotonic() + 60
    while not at.get("download_button") and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        assert not at.exception
    assert at.get("download_button"), "results did not appear within 60 s"
    progress = next(d.value for d in at.dataframe if "job" in d.value.columns)
    assert set(progress["state"]) <= {"done", "cached"}
    board = _summary(at)  # the leaderboard: numbers (it sorts by value), formatted only in the view
    assert list(board["method"])[:1] == ["retrain"]
    assert {"original", "retrain", "finetune"} <= set(board["method"])
    assert pd.api.types.is_float_dtype(board["test_acc"]) and pd.api.types.is_float_dtype(board["gap_to_retrain"])
    assert "test_acc ±" not in board.columns  # one seed: no std column
    assert list(board["rank"])[:1] == [0] and list(board["rank"])[1:] == list(range(1, len(board)))
    assert board["gap_to_retrain"].iloc[1:].is_monotonic_increasing  # ranked by gap to retrain
    assert "Closest to retrain:" in _texts(at.markdown)
    # the gaps toggle turns values into signed differences to retrain
    at.toggle(key=state.scoped("compare", state.SHOW_GAPS)).set_value(True).run()
    gaps = _summary(at).set_index("method")
    plain = board.set_index("method")
    assert gaps.loc["retrain", "forget_acc"] == 0.0
    assert gaps.loc["finetune", "forget_acc"] == pytest.approx(plain.loc["finetune", "forget_acc"]
                                                               - plain.loc["retrain", "forget_acc"])
    assert gaps.loc["finetune", "gap_to_retrain"] == plain.loc["finetune", "gap_to_retrain"]  # not itself a gap

    # the CSV is exactly the wide table of the stored results
    sel = data.Selection(methods=["original", "retrain", "finetune", "laf"], epochs=2,
                         scenario_params={"forget_class": 1})
    res = data.stored_results(data.plan(data.build_spec(sel)), cache_dir)
    assert res.complete
    csv = pd.read_csv(io.BytesIO(res.csv()))
    assert list(csv.columns) == list(res.wide.columns)
    assert len(csv) == 4
    # ... and exactly the "All runs" table the page shows, downloaded through the button
    downloaded = pd.read_csv(io.BytesIO(downloads(_button(at, results_view.WIDE_CSV_LABEL))))
    shown = _frame(at, "note")
    pd.testing.assert_frame_equal(downloaded, pd.read_csv(io.StringIO(shown.to_csv(index=False))))
    pd.testing.assert_frame_equal(downloaded, csv)
    # the summary CSV holds numbers: every metric's mean and std, in the leaderboard's order
    summary_csv = pd.read_csv(io.BytesIO(downloads(_button(at, results_view.SUMMARY_CSV_LABEL))))
    assert list(summary_csv["method"]) == list(board["method"])
    ref = res.summary.set_index("method")
    for m in ("forget_acc", "test_acc", "mia_efficacy", "gap_to_retrain"):
        assert pd.api.types.is_float_dtype(summary_csv[f"{m}_mean"]) and f"{m}_std" in summary_csv
        assert summary_csv.set_index("method")[f"{m}_mean"].to_dict() == pytest.approx(ref[m].to_dict())

    # the leaderboard draws no chart; every chart is one click away; the other tabs run only when opened
    assert {"Leaderboard", "Charts", "Cost & outputs", "Per class", "Forget set"} <= {t.label for t in at.tabs}
    assert "Paper numbers" not in {t.label for t in at.tabs}  # class 1 is no paper preset's setting
    assert _chart_keys(at) == set()
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Charts"
    at.run()
    assert not at.exception
    assert _chart_keys(at) == {f"compare.chart.{c}" for c in ("tradeoff", "accuracy", "mia")}
    assert _qp(at)["view"] == "charts"  # the link keeps the open tab
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Cost & outputs"
    at.run()
    assert not at.exception
    assert _chart_keys(at) == {f"compare.chart.{c}" for c in ("time", "speedup", "entropy", "closeness")}
    assert _qp(at)["view"] == "cost"
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Leaderboard"
    at.run()
    # the per-sample CSV (built on click): one row per forget sample x method
    samples = pd.read_csv(io.BytesIO(downloads(_button(at, results_view.SAMPLES_CSV_LABEL))))
    n_forget = int((load_dataset("digits", Path("data")).y_train == 1).sum())
    assert len(samples) == 4 * n_forget
    assert list(samples.columns) == SAMPLE_COLUMNS
    assert (samples["true"] == 1).all() and set(samples["method"]) == {"original", "retrain", "finetune", "laf"}
    retrain = samples[samples["method"] == "retrain"]
    assert (retrain["predicted"] != 1).all()  # retrain never saw class 1
    assert retrain["correct"].mean() == res.wide.set_index("method").loc["retrain", "forget_acc"]
    # inspect-driven views: per-class accuracy and where the forget samples go
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Per class"
    at.run()
    assert not at.exception
    assert _chart_keys(at) == {"compare.chart.per_class", "compare.chart.forget_confusion"}
    # the forget set: gallery, its table, and the per-sample table that the CSV holds
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Forget set"
    at.run()
    assert not at.exception
    assert _chart_keys(at) == {"compare.chart.gallery"}
    shown_samples = _frame(at, "p_true")
    pd.testing.assert_frame_equal(samples, pd.read_csv(io.StringIO(shown_samples.to_csv(index=False))))
    again_samples = next(b for b in at.get("download_button") if b.proto.label == results_view.SAMPLES_CSV_LABEL)
    assert downloads(again_samples) == shown_samples.to_csv(index=False).encode()
    gallery = _frame(at, "laf")  # the gallery's table: every method's prediction for the first forget samples
    assert list(gallery.columns[:2]) == ["index", "true"] and len(gallery) == 16
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Leaderboard"

    # a fresh session with the same URL shows the cached results at once, without running anything
    again = app()
    for k, v in _qp(at).items():
        again.query_params[k] = v
    again.run()
    assert not again.exception
    assert again.get("download_button")

    hist = app("app_pages/history.py").run()
    assert not hist.exception
    listed = hist.dataframe[0].value
    assert len(listed) == 1 and listed["rows ok"].iloc[0] == "4/4"
    assert hist.get("download_button")


def test_methods_page_renders(app):
    at = app("app_pages/methods.py").run()
    assert not at.exception
    assert len(at.expander) == len(data.methods())
    metrics = at.dataframe[-1].value
    assert {"key", "title", "direction", "papers"} <= set(metrics.columns)


def test_history_page_empty_store(app):
    at = app("app_pages/history.py").run()
    assert not at.exception
    assert "No comparison recorded yet" in _texts(at.info)


def test_preset_fills_the_form_and_shows_the_papers_numbers(app):
    at = app()
    at.session_state[state.COMPARE_TAB] = "Method hyper-parameters"
    at.run()
    at.number_input(key=state.hparam("finetune", "lr")).set_value(0.5).run()
    at.selectbox(key=state.PRESET).select("ppu_class").run()
    assert not at.exception
    assert at.selectbox(key=state.PRESET).value is None  # the menu resets: the form holds the preset now
    assert at.selectbox(key=state.DATASET).value == "digits"
    assert at.selectbox(key=state.PARADIGM).value == "supervised"
    assert at.selectbox(key=state.SCENARIO).value == "class"
    assert at.number_input(key=state.scenario_param("class", "forget_class")).value == 5
    assert at.selectbox(key=state.MODEL).value == "cnn"
    assert at.multiselect(key=state.METHODS).value == ["original", "retrain", "finetune", "fisher", "neggrad_plus",
                                                       "cf_k", "eu_k", "bad_teacher", "scrub", "ppu_after"]
    assert at.number_input(key=state.SEEDS).value == 3
    assert at.selectbox(key=state.hparam("ppu_after", "base")).value == "scrub"
    assert at.number_input(key=state.hparam("finetune", "lr")).value == data.method_schema("finetune")[1].default
    assert _qp(at)["h.ppu_after.base"] == "scrub" and _qp(at)["s.forget_class"] == "5"
    assert "PPU Table 8" in _texts(at.caption)
    at.session_state[state.COMPARE_TAB] = "Results"
    at.run()
    # nothing run yet: the paper's numbers show, labelled as reported
    assert any("What the paper reports" in e.label for e in at.expander)
    assert "Reported in PPU, Table 8 — not measured here" in _texts(at.markdown)
    reported = _frame(at, "method (paper)")
    assert {"forget_acc", "retain_acc"} <= set(reported.columns)
    assert "scrub_ppu → ppu_after" in set(reported["method (paper)"])
    # a different setting is no preset's any more
    at.number_input(key=state.scenario_param("class", "forget_class")).set_value(6).run()
    assert "PPU Table 8" not in _texts(at.caption)


def test_full_size_preset_says_gpu_recommended(app):
    at = app().run()
    at.selectbox(key=state.PRESET).select("udru_cifar10").run()
    assert not at.exception
    assert at.selectbox(key=state.DATASET).value == "cifar10"
    assert at.selectbox(key=state.MODEL).value == "resnet50"
    assert "GPU recommended" in _texts(at.warning)


def test_history_puts_comparisons_side_by_side(app, cache_dir, downloads):
    keys = []
    for forget_class in (1, 2):
        sel = data.Selection(model="mlp", methods=["original", "retrain", "finetune"], epochs=1,
                             scenario_params={"forget_class": forget_class})
        spec = data.build_spec(sel)
        mgr = data.JobManager(cache_dir)
        keys.append(mgr.start(spec, data.plan(spec)))
        assert mgr.wait(keys[-1], timeout=120) == "done"
    at = app("app_pages/history.py").run()
    assert not at.exception
    at.multiselect(key=state.HISTORY_SIDE_BY_SIDE).set_value(keys).run()
    assert not at.exception
    table = _frame(at, "comparison", "seeds")
    assert list(table.columns[:2]) == ["comparison", "method"]
    assert set(table["comparison"]) == {"scenario=class (forget_class=1)", "scenario=class (forget_class=2)"}
    assert len(table) == 6 and table.groupby("comparison")["method"].first().eq("retrain").all()
    assert "history.chart.combined" in _chart_keys(at)
    combined = pd.read_csv(io.BytesIO(downloads(_button(
        at, "Download combined CSV (one row per comparison × method × seed)"))))
    assert len(combined) == 6 and combined.columns[0] == "comparison"
    assert set(combined.loc[combined["method"] == "retrain", "forget_acc"]) == {0.0}


def test_results_of_a_preset_show_the_papers_numbers_beside_ours(app, cache_dir):
    sel = data.preset_selection("udru_sl")
    sel.methods, sel.seeds = ["original", "retrain"], 1  # the preset's setting, fewer runs
    spec = data.build_spec(sel)
    mgr = data.JobManager(cache_dir)
    assert mgr.wait(mgr.start(spec, data.plan(spec)), timeout=300) == "done"
    at = app()
    for k, v in url.to_params(sel).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert "Paper numbers" in {t.label for t in at.tabs}
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Paper numbers"
    at.run()
    assert not at.exception
    markdown = _texts(at.markdown)
    for table in ("Table 1", "Table 4", "Table 5"):
        assert f"Reported in UDRU, {table} — not measured here" in markdown
    assert "not measured here" in _texts(at.warning) and "MNIST" in _texts(at.warning)
    measured = _frame(at, "method", "forget_acc", "retain_other_classes_acc")
    assert list(measured["method"]) == ["retrain", "original"]
    reported = _frame(at, "method (paper)", "forget_acc")
    assert {"udru", "kpriors", "amnesiac"} <= set(reported["method (paper)"])


def test_no_pages_folder_next_to_the_entry_file():
    """A ``pages/`` folder beside app.py puts Streamlit in its v1 multipage mode: a shared link to /history would
    run that page without the router (no page config, no navigation, no import path)."""
    from tests.dashboard.conftest import DASHBOARD

    assert not (DASHBOARD / "pages").exists()
    assert (DASHBOARD / "app_pages" / "history.py").exists()


def test_imported_rows_show_only_when_asked_and_marked(app, cache_dir, tmp_path):
    """Issue 11 provenance on the Compare page: a bundle's rows are not shown as computed; the toggle shows them
    with a warning and ``source = imported``; History marks the comparison as imported."""
    sel = data.Selection(model="mlp", methods=["original", "retrain", "finetune"], epochs=1,
                         scenario_params={"forget_class": 2})
    spec = data.build_spec(sel)
    src = tmp_path / "src"
    mgr = data.JobManager(src)
    assert mgr.wait(mgr.start(spec, data.plan(spec)), timeout=120) == "done"
    data.import_comparisons(data.export_comparisons([spec.comparison_key()], src), cache_dir)
    at = app()
    for k, v in url.to_params(sel).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert "Not computed yet" in _texts(at.info)
    at.toggle(key=state.SHOW_IMPORTED).set_value(True).run()
    assert not at.exception
    assert "3 row(s) are imported" in _texts(at.warning)
    runs = _frame(at, "method", "source")
    assert set(runs["source"]) == {"imported"}
    hist = app("app_pages/history.py").run()
    assert not hist.exception
    assert _frame(hist, "comparison", "source")["source"].iloc[0].startswith("imported (bundle ")


def test_timing_log_has_a_line_per_script_run(app, tmp_path, monkeypatch):
    """``UNLEARN_DASHBOARD_TIMING``: the server's share of a page's time (bench/bench_dashboard.py)."""
    log = tmp_path / "timing.txt"
    monkeypatch.setenv("UNLEARN_DASHBOARD_TIMING", str(log))
    at = app().run()
    at.run()
    assert not at.exception
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and all(line.split()[1] == "Compare" and float(line.split()[2]) >= 0 for line in lines)
