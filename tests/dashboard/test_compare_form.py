"""The Compare page's form (issue 14's bugs): out-of-range values, label_free, the view in the link, notes."""

from __future__ import annotations

import pytest

from dashboard import state, url


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _qp(at) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


@pytest.mark.parametrize(("where", "value", "field"), [
    ("epochs", 0, "train.epochs"),
    ("epochs", 100000, "train.epochs"),
    ("lr", 1e9, "methods.gradient_ascent.lr"),
    ("fraction", 0.0, "scenario.fraction"),
    ("seeds", 0, "seeds"),
    ("seeds", 21, "seeds"),
    ("shadow", 1, "shadow_models"),
])
def test_out_of_range_value_names_the_field_and_disables_run(app, where, value, field):
    """A value the engine refuses is kept in the widget (not silently replaced by the previous one): the page
    shows the engine's message naming the field, and Run is disabled."""
    at = app()
    at.query_params["methods"] = "original,retrain,gradient_ascent"
    if where == "fraction":
        at.query_params["scenario"] = "random"
    at.run()
    key = {"epochs": state.epochs("digits", "cnn"), "lr": state.hparam("gradient_ascent", "lr"),
           "fraction": state.scenario_param("random", "fraction"), "seeds": state.SEEDS,
           "shadow": state.SHADOW}[where]
    if where == "lr":  # the hyper-parameter tab draws the widget
        at.session_state[state.COMPARE_TAB] = "Method hyper-parameters"
        at.run()
    at.number_input(key=key).set_value(value).run()
    assert not at.exception
    assert at.number_input(key=key).value == value  # kept as typed
    errors = _texts(at.error)
    assert f"**{field}**" in errors, errors
    assert at.button(key="compare.run").disabled
    # back in range: the message goes and Run is enabled again
    good = {"epochs": 5, "lr": 1e-3, "fraction": 0.1, "seeds": 1, "shadow": 0}[where]
    at.number_input(key=key).set_value(good).run()
    assert not at.error and not at.button(key="compare.run").disabled


def test_label_free_has_a_labelled_fraction_and_drops_inapplicable_methods(app):
    at = app().run()
    assert not [w for w in at.number_input if w.key == state.LABELLED]
    at.selectbox(key=state.PARADIGM).select("label_free").run()
    assert not at.exception
    chosen = at.multiselect(key=state.METHODS).value
    assert "gradient_ascent" not in chosen and "laf" in chosen and "retrain" in chosen  # only what can run
    assert "taken out of the selection" in _texts(at.caption) and "gradient_ascent" in _texts(at.caption)
    notes = [e for e in at.expander if "not applicable under label_free" in e.label]
    assert len(notes) == 1  # collapsed: the seeds and device stay in view
    summary = _texts(at.caption)
    assert f"{len(chosen)} methods" in summary and "of 12" not in summary
    # the labelled fraction reaches the spec and the link; out of range names the field
    at.number_input(key=state.LABELLED).set_value(0.5).run()
    assert _qp(at)["lf"] == "0.5"
    at.number_input(key=state.LABELLED).set_value(0.0).run()
    assert "**labelled_fraction**" in _texts(at.error) and at.button(key="compare.run").disabled
    # a method added back by hand is flagged, not silently counted
    at.number_input(key=state.LABELLED).set_value(1.0).run()
    at.multiselect(key=state.METHODS).select("gradient_ascent").run()
    assert "gradient_ascent" in _texts(at.warning)
    assert f"{len(chosen)} of {len(chosen) + 1} methods applicable" in _texts(at.caption)


def test_labelled_fraction_link_round_trip(app):
    at = app()
    at.query_params.update({"paradigm": "label_free", "methods": "original,retrain,laf", "lf": "0.25"})
    at.run()
    assert not at.exception and "Link parameter" not in _texts(at.warning)
    assert at.number_input(key=state.LABELLED).value == 0.25
    bad = app()
    bad.query_params.update({"paradigm": "supervised", "lf": "0.5"})
    bad.run()
    assert "lf: only the label_free paradigm" in _texts(bad.warning)


def test_a_bad_seeds_value_in_the_link_is_a_message_not_a_python_error(app):
    """The issue saw a raw Python error for ``seeds=abc``; AppTest shows the link notice (kept as a regression
    test of both the notice and the absence of an exception box)."""
    at = app()
    at.query_params["seeds"] = "abc"
    at.run()
    assert not at.exception
    assert "seeds: expected a whole number from 1 to 20, got 'abc'" in _texts(at.warning)
    assert at.number_input(key=state.SEEDS).value == 1


def test_no_preset_note_without_a_valid_selection(app):
    at = app().run()
    assert "also LAF's setting" in _texts(at.caption)  # the default digits setting is LAF Table 2's
    at.multiselect(key=state.METHODS).set_value([]).run()
    assert not at.exception
    assert "select at least one method" in _texts(at.error)
    assert "also LAF's setting" not in _texts(at.caption)


def test_the_link_keeps_the_view(app):
    at = app()
    at.query_params.update({"view": "per-class", "gaps": "true", "split": "train_forget"})
    at.run()
    assert not at.exception and "Link parameter" not in _texts(at.warning)
    assert at.session_state[state.scoped("compare", state.RESULTS_TAB)] == "Per class"
    assert at.session_state[state.scoped("compare", state.SHOW_GAPS)] is True
    assert at.session_state[state.scoped("compare", state.PER_CLASS_SPLIT)] == "train_forget"
    q = _qp(at)
    assert (q["view"], q["gaps"], q["split"]) == ("per-class", "true", "train_forget")
    bad = app()
    bad.query_params.update({"view": "nope", "gaps": "maybe", "split": "x"})
    bad.run()
    warnings = _texts(bad.warning)
    assert "view: unknown results tab 'nope'" in warnings and "gaps: expected true/false" in warnings
    assert "split: unknown split 'x'" in warnings


def test_view_params_leave_defaults_out():
    assert url.view_params({}) == {}
    keys = url.view_keys()
    assert url.view_params({keys["view"]: "Leaderboard", keys["gaps"]: False, keys["split"]: "test"}) == {}
    assert url.view_params({keys["view"]: "Charts"}) == {"view": "charts"}


@pytest.mark.slow
def test_a_finished_runs_progress_does_not_stay_under_a_new_error(app):
    """The issue saw the last run's progress table under the message of a new, invalid selection."""
    import time

    at = app()
    at.query_params.update({"methods": "original,retrain", "epochs": "2"})
    at.run()
    at.button(key="compare.run").click().run()
    deadline = time.monotonic() + 60
    while "Run done" not in _texts(at.markdown) + _texts(at.caption) and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    shown = [p for p in at.get("progress") if "jobs finished" in str(p.proto.text)]
    assert shown, "the run's progress bar"
    at.number_input(key=state.epochs("digits", "cnn")).set_value(0).run()
    assert "**train.epochs**" in _texts(at.error)
    assert not [p for p in at.get("progress") if "jobs finished" in str(p.proto.text)]  # the old run is not news
    assert not [e for e in at.expander if e.label.startswith("All jobs")]
