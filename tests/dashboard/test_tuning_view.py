"""The Tuning tab (issue 15): the studies table, default vs tuned, the robustness and Optuna figures, and the button
that puts a study's tuned hyper-parameters into the Compare form. Synthetic studies: nothing is trained."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import data, state
from dashboard import tuning_view as tv
from engine.tuning import MethodStudy, Trial, search_space

SEEDS = (100, 101)


def _trial(number: int, params: dict, state_: str = "complete", value: float | None = None) -> Trial:
    seed_values = {s: value + 0.01 * (-1) ** i for i, s in enumerate(SEEDS)} if value is not None else {}
    return Trial(number, params, state_, value if state_ == "complete" else None, seed_values, "", 1.5)


def finetune_study(key: str = "study-finetune-test") -> MethodStudy:
    """8 trials of finetune: 0 the default, 2 failed, 4 pruned, the best (0.12) is trial 3."""
    space = search_space("finetune")
    d = space.defaults()
    trials = (
        _trial(0, dict(d), value=0.30),
        _trial(1, {**d, "epochs": 3, "lr": 0.05}, value=0.20),
        _trial(2, {**d, "lr": 0.9, "batch_size": 200}, "failed"),
        _trial(3, {**d, "epochs": 3, "lr": 0.0013116}, value=0.12),
        _trial(4, {**d, "epochs": 9, "lr": 1e-5}, "pruned"),
        _trial(5, {**d, "epochs": 7, "lr": 0.002, "batch_size": 128}, value=0.25),
        _trial(6, {**d, "epochs": 4, "lr": 0.02, "batch_size": 96}, value=0.15),
        _trial(7, {**d, "epochs": 2, "lr": 1e-4, "batch_size": 40}, value=0.40),
    )
    return MethodStudy("finetune", key, space, {}, trials, SEEDS)


def single_study(key: str = "study-ga-test") -> MethodStudy:
    """gradient_ascent: only trial 0 (the default), complete."""
    space = search_space("gradient_ascent")
    return MethodStudy("gradient_ascent", key, space, {}, (_trial(0, space.defaults(), value=0.31),), SEEDS)


def studies() -> dict[str, MethodStudy]:
    return {"finetune": finetune_study(), "gradient_ascent": single_study()}


def _summary(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    out = []
    for method, values in rows.items():
        row: dict[str, object] = {"method": method, "seeds": 2}
        for k, v in values.items():
            row[k] = v
            row[f"{k}_std"] = 0.01
        out.append(row)
    return pd.DataFrame(out)


DEFAULT_SUMMARY = _summary({
    "original": {"gap_to_retrain": 0.5, "forget_acc": 1.0, "retain_acc": 1.0, "test_acc": 0.97, "mia_efficacy": 0.0},
    "retrain": {"gap_to_retrain": 0.0, "forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.88, "mia_efficacy": 1.0},
    "finetune": {"gap_to_retrain": 0.30, "forget_acc": 0.8, "retain_acc": 0.99, "test_acc": 0.95,
                 "mia_efficacy": 0.2},
    "gradient_ascent": {"gap_to_retrain": 0.31, "forget_acc": 0.5, "retain_acc": 0.9, "test_acc": 0.85,
                        "mia_efficacy": 0.5},
})
TUNED_SUMMARY = _summary({
    "finetune": {"gap_to_retrain": 0.10, "forget_acc": 0.2, "retain_acc": 0.98, "test_acc": 0.90,
                 "mia_efficacy": 0.8},
})


# -- tables ------------------------------------------------------------------------------------------------------
def test_studies_frame_counts_objectives_and_what_changed():
    f = tv.studies_frame(studies()).set_index("method")
    ft = f.loc["finetune"]
    assert (ft["trials"], ft["complete"], ft["failed"], ft["pruned"]) == (8, 6, 1, 1)
    assert ft["default_objective"] == pytest.approx(0.30)
    assert ft["tuned_objective"] == pytest.approx(0.12)
    assert ft["improvement"] == pytest.approx(0.18)
    assert ft["best_trial"] == 3
    assert ft["seconds"] == pytest.approx(8 * 1.5)
    assert ft["changed"] == "epochs=3, lr=0.00131"  # batch_size stayed at its default
    ga = f.loc["gradient_ascent"]
    assert ga["changed"] == tv.UNCHANGED and ga["improvement"] == 0.0 and ga["best_trial"] == 0
    for c in ("trials", "complete", "failed", "pruned", "default_objective", "tuned_objective", "improvement",
              "best_trial", "seconds"):
        assert pd.api.types.is_numeric_dtype(f[c]), c


def test_a_default_that_did_not_complete_has_no_objective():
    s = finetune_study()
    failed_default = MethodStudy(s.method, s.key, s.space, s.base, (_trial(0, s.space.defaults(), "failed"),
                                                                     *s.trials[1:]), SEEDS)
    nothing = MethodStudy(s.method, s.key, s.space, s.base, (_trial(0, s.space.defaults(), "failed"),), SEEDS)
    f = tv.studies_frame({"a": failed_default, "b": nothing}).set_index("method")
    assert math.isnan(f.loc["a", "default_objective"]) and f.loc["a", "tuned_objective"] == pytest.approx(0.12)
    assert math.isnan(f.loc["a", "improvement"])
    assert pd.isna(f.loc["b", "best_trial"]) and f.loc["b", "changed"] == tv.NO_TRIAL
    assert tv.studies_frame({}).columns.tolist() == tv.STUDIES_COLUMNS


def test_changed_is_measured_from_the_comparisons_own_configuration():
    s = finetune_study()
    own = MethodStudy(s.method, s.key, s.space, {"lr": 0.0013116}, s.trials, SEEDS)  # the comparison set lr
    assert tv.changed_text(own) == "epochs=3"


def test_default_vs_tuned_on_the_reported_seeds():
    t = tv.default_vs_tuned(DEFAULT_SUMMARY, TUNED_SUMMARY, studies()).set_index("method")
    assert list(t.index) == ["finetune", "gradient_ascent"]  # the studied methods only
    assert list(t.reset_index().columns) == tv.default_vs_tuned_columns()
    ft = t.loc["finetune"]
    assert ft["gap_default"] == pytest.approx(0.30) and ft["gap_tuned"] == pytest.approx(0.10)
    assert ft["gap_change"] == pytest.approx(-0.20)
    assert ft["gap_default_std"] == pytest.approx(0.01) and ft["gap_tuned_std"] == pytest.approx(0.01)
    assert ft["forget_acc_default"] == pytest.approx(0.8) and ft["forget_acc_tuned"] == pytest.approx(0.2)
    assert ft["mia_efficacy_tuned"] == pytest.approx(0.8) and ft["test_acc_default"] == pytest.approx(0.95)
    ga = t.loc["gradient_ascent"]  # not in the tuned summary
    assert ga["gap_default"] == pytest.approx(0.31)
    assert math.isnan(ga["gap_tuned"]) and math.isnan(ga["gap_change"]) and math.isnan(ga["retain_acc_tuned"])
    none = tv.default_vs_tuned(DEFAULT_SUMMARY, None, studies())
    assert none["gap_tuned"].isna().all() and none["gap_default"].notna().all()
    assert all(pd.api.types.is_float_dtype(none[c]) for c in none.columns if c != "method")


def test_default_vs_tuned_display_colours_the_change():
    t = tv.default_vs_tuned(DEFAULT_SUMMARY, TUNED_SUMMARY, studies())
    html = tv.default_vs_tuned_styled(t).to_html()
    assert "-0.200" in html and "#1a7f37" in html  # tuning helped: green
    assert tv.change_colour(0.05) == "color: #cf222e" and tv.change_colour(math.nan) == ""


# -- figures -----------------------------------------------------------------------------------------------------
def test_robustness_figure_one_strip_per_method_and_the_default_marked():
    fig = tv.robustness_figure(studies(), k=5)
    strips = [t for t in fig.data if t.legendgroup != "default"]
    assert [t.name for t in strips] == ["finetune", "gradient_ascent"]
    assert sorted(strips[0].x) == pytest.approx([0.12, 0.15, 0.20, 0.25, 0.30])  # the 5 best complete trials
    assert [c[0] for c in strips[0].customdata] == [0, 1, 3, 5, 6]  # in trial order
    assert all(-0.3 < y < 0.3 for y in strips[0].y) and all(0.7 < y < 1.3 for y in strips[1].y)  # one row each
    defaults = [t for t in fig.data if t.legendgroup == "default"]
    assert len(defaults) == 1 and defaults[0].marker.symbol == "diamond-open"
    assert list(defaults[0].customdata) == ["finetune", "gradient_ascent"]
    assert list(defaults[0].x) == pytest.approx([0.30, 0.31])
    assert defaults[0].y[0] == strips[0].y[0]  # around trial 0's own point
    assert strips[0].marker.symbol != defaults[0].marker.symbol
    assert strips[0].marker.color != strips[1].marker.color  # the house palette: one colour per method
    assert "lower is better" in fig.layout.xaxis.title.text
    assert "Robustness" in fig.layout.title.text
    assert "5 best within 0.180" in fig.layout.yaxis.ticktext[0]


def test_strip_offsets_are_fixed_and_centred():
    assert tv.strip_offsets(0) == [] and tv.strip_offsets(1) == [0.0]
    assert tv.strip_offsets(3) == pytest.approx([-0.25, 0.0, 0.25])


def test_robustness_figure_without_complete_trials_says_so():
    s = finetune_study()
    nothing = MethodStudy(s.method, s.key, s.space, s.base, (_trial(0, s.space.defaults(), "failed"),), SEEDS)
    fig = tv.robustness_figure({"finetune": nothing})
    assert not fig.data and "no complete trial" in fig.layout.annotations[0].text


def test_optuna_figures_of_a_study_with_trials():
    figs = tv.optuna_figures(finetune_study("study-figs-1"))
    assert list(figs) == list(tv.FIGURES)
    for name in tv.FIGURES:
        assert isinstance(figs[name], go.Figure), (name, figs[name])
    assert figs["history"].layout.title.text.startswith("finetune: ")
    assert figs["history"].layout.yaxis.title.text == tv.TARGET_NAME
    order = tv.importance_order(figs["importances"])
    assert set(order) == {"epochs", "lr", "batch_size"}
    again = tv.optuna_figures(finetune_study("study-figs-1"))  # a seeded fANOVA: the same bars every time
    assert tv.importance_order(again["importances"]) == order


def test_optuna_figures_give_reasons_for_a_single_trial():
    figs = tv.optuna_figures(single_study())
    assert isinstance(figs["history"], go.Figure) and isinstance(figs["slice"], go.Figure)
    assert isinstance(figs["importances"], str) and "two complete trials" in figs["importances"]
    assert isinstance(figs["contour"], str) and "two most important" in figs["contour"]
    s = single_study()
    failed = MethodStudy(s.method, s.key, s.space, s.base, (_trial(0, s.space.defaults(), "failed"),), SEEDS)
    assert all(isinstance(v, str) and "completed" in v for v in tv.optuna_figures(failed).values())


def test_optuna_figures_with_a_constant_objective_do_not_crash():
    s = finetune_study()
    flat = MethodStudy(s.method, s.key, s.space, s.base,
                       tuple(Trial(t.number, t.params, t.state, 0.5 if t.state == "complete" else None)
                             for t in s.trials), SEEDS)
    figs = tv.optuna_figures(flat)
    assert isinstance(figs["importances"], str) and "same objective" in figs["importances"]
    assert isinstance(figs["contour"], str)
    assert isinstance(figs["history"], go.Figure)


# -- the form ----------------------------------------------------------------------------------------------------
def test_apply_values_are_the_best_configuration_as_widget_values():
    s = finetune_study()
    values = tv.apply_values(s)
    best = s.best_hparams()
    assert set(values) == {state.hparam("finetune", n) for n in best}
    assert values[state.hparam("finetune", "epochs")] == 3
    assert values[state.hparam("finetune", "lr")] == pytest.approx(0.0013116)
    assert values[state.hparam("finetune", "batch_size")] == 64
    schema = {p.name: p for p in data.method_schema("finetune")}
    for name, v in best.items():  # every field as its widget holds it: numbers as numbers, nullable ones as text
        w = values[state.hparam("finetune", name)]
        if schema[name].type.endswith("_or_none") or schema[name].type == "str":
            assert w == ("" if v is None else str(v))
        else:
            assert w == v


def test_widget_value_follows_the_form():
    p = SimpleNamespace
    assert tv.widget_value(p(type="float"), 1) == 1.0 and isinstance(tv.widget_value(p(type="float"), 1), float)
    assert tv.widget_value(p(type="int_or_none"), None) == ""
    assert tv.widget_value(p(type="int_or_none"), 5) == "5"
    assert tv.widget_value(p(type="bool"), True) is True


# -- the tab -----------------------------------------------------------------------------------------------------
def _tab_script(default_summary, prefix):  # noqa: ANN001 - an AppTest script: its own imports
    from dashboard import data, tuning_view

    spec = data.build_spec(data.Selection(methods=["original", "retrain", "finetune", "gradient_ascent"]))
    tuning_view.tab(spec, default_summary, prefix)


def _app(monkeypatch: pytest.MonkeyPatch, found: dict, tuned) -> AppTest:  # noqa: ANN001
    monkeypatch.setattr(data, "tuning_studies", lambda spec, cache_dir=None: found)
    monkeypatch.setattr(data, "tuned_results", lambda spec, st_, cache_dir=None: tuned)
    return AppTest.from_function(_tab_script, args=(DEFAULT_SUMMARY, "t"), default_timeout=60)


def test_tab_without_studies_explains_how_to_tune(cache_dir, monkeypatch):
    at = _app(monkeypatch, {}, None).run()
    assert not at.exception
    text = at.info[0].value
    assert "Tuning budget" in text and "--tune N" in text and "100, 101" in text and "Trial 0" in text


def test_tab_shows_the_studies_and_applies_the_tuned_hyperparameters(cache_dir, monkeypatch):
    found = {"finetune": finetune_study("study-tab-1"), "gradient_ascent": single_study("study-tab-2")}
    at = _app(monkeypatch, found, SimpleNamespace(summary=TUNED_SUMMARY)).run()
    assert not at.exception, at.exception
    assert len(at.dataframe) == 2
    assert "Protocol" in at.caption[0].value
    button = at.button(key=state.scoped("t", "tuning.apply"))
    assert button.label == "Use the tuned hyper-parameters of finetune in the form" and not button.disabled
    button.click().run()
    assert not at.exception, at.exception
    assert at.session_state[state.hparam("finetune", "epochs")] == 3
    assert at.session_state[state.hparam("finetune", "lr")] == pytest.approx(0.0013116)
    assert any("finetune" in s.value for s in at.success)
    at.run()  # the note lasts while the form holds the values
    assert any("finetune" in s.value for s in at.success)
    at.session_state[state.hparam("finetune", "epochs")] = 4  # the user changed the form: the note goes
    at.run()
    assert not at.success
    # the other study: its best is the default, nothing to apply; a single trial: reasons instead of figures
    at.selectbox(key=state.scoped("t", "tuning.method")).set_value("gradient_ascent").run()
    assert not at.exception, at.exception
    assert at.button(key=state.scoped("t", "tuning.apply")).disabled
    assert any("two complete trials" in c.value for c in at.caption)


def test_tab_without_tuned_results_says_they_are_missing(cache_dir, monkeypatch):
    at = _app(monkeypatch, {"finetune": finetune_study("study-tab-3")}, None).run()
    assert not at.exception, at.exception
    assert any("no results on the reported seeds yet" in c.value for c in at.caption)
