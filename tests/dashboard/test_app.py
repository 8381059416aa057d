"""The dashboard as a user drives it, through Streamlit's AppTest (no browser)."""

from __future__ import annotations

import io
import time

import pandas as pd

from dashboard import data, state


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
    names = {w.label for w in at.number_input if w.key.startswith(state.hparam("finetune", ""))}
    assert names == {p.name for p in data.method_schema("finetune")}


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
    at.switch_page("pages/methods.py").run()
    assert not at.exception
    at.switch_page("pages/compare.py").run()
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
    assert at.number_input(key=state.hparam("finetune", "epochs")).value == 3
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


def test_run_tiny_comparison_then_results_and_history(app, cache_dir):
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
    summary = _summary(at)
    assert list(summary["method"])[:1] == ["retrain"]
    assert {"original", "retrain", "finetune"} <= set(summary["method"])
    assert "±" not in summary["test_acc"].iloc[0]  # one seed: no std
    # the gaps toggle turns values into signed differences to retrain
    at.toggle(key=state.scoped("compare", state.SHOW_GAPS)).set_value(True).run()
    gaps = _summary(at)
    assert gaps.set_index("method").loc["finetune", "forget_acc"].startswith(("+", "-"))

    # the CSV is exactly the wide table of the stored results
    sel = data.Selection(methods=["original", "retrain", "finetune", "laf"], epochs=2,
                         scenario_params={"forget_class": 1})
    res = data.stored_results(data.plan(data.build_spec(sel)), cache_dir)
    assert res.complete
    csv = pd.read_csv(io.BytesIO(res.csv()))
    assert list(csv.columns) == list(res.wide.columns)
    assert len(csv) == 4

    # a fresh session with the same URL shows the cached results at once, without running anything
    again = app()
    for k, v in _qp(at).items():
        again.query_params[k] = v
    again.run()
    assert not again.exception
    assert again.get("download_button")

    hist = app("pages/history.py").run()
    assert not hist.exception
    listed = hist.dataframe[0].value
    assert len(listed) == 1 and listed["rows ok"].iloc[0] == "4/4"
    assert hist.get("download_button")


def test_methods_page_renders(app):
    at = app("pages/methods.py").run()
    assert not at.exception
    assert len(at.expander) == len(data.methods())
    metrics = at.dataframe[-1].value
    assert {"key", "title", "direction", "papers"} <= set(metrics.columns)


def test_history_page_empty_store(app):
    at = app("pages/history.py").run()
    assert not at.exception
    assert "No comparison recorded yet" in _texts(at.info)
