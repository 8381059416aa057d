"""The *Tuning* tab of the results (issue 15): default and tuned configurations side by side, and the studies.

The engine's tuner (``data.tuning_studies``) runs one Optuna study per method on the validation split (objective:
SalUn's average gap to retrain, ``data.OBJECTIVE``; trial 0 = the default configuration; the tuning seeds are never
reported). This view shows, for the tuned methods:

- **default vs tuned** on the *reported* seeds and the test split (:func:`default_vs_tuned`): what tuning buys;
- **the studies** (:func:`studies_frame`): trials, how they ended, the default's and the best objective on val and
  which hyper-parameters the best trial changed;
- **robustness** (:func:`robustness_figure`): the objective of each method's best few trials -- a tight cluster
  means the method does well over a range of settings, one low point far above the rest a lucky setting;
- Optuna's own figures of one study (:func:`optuna_figures`: history, importances, slice, contour);
- a button that writes the tuned hyper-parameters of a method into the Compare form (:func:`apply_values`).

Everything but :func:`tab` is pure (dataframes and figures out, no Streamlit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import charts, data, labels, leaderboard, state

# a trial's states, as the engine's tuner names them (engine.tuning.study; the dashboard imports only engine.api)
COMPLETE, FAILED, PRUNED = "complete", "failed", "pruned"
GAP = "gap_to_retrain"
METRICS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy")  # the parts of the gap, shown for both variants
DEFAULT, TUNED = "default", "tuned"
TOP_K = 5
OBJECTIVE_AXIS = "Gap to retrain on validation (lower is better)"
TARGET_NAME = "Gap to retrain (val)"  # Optuna's name for the objective in its figures
UNCHANGED = "(the defaults)"
NO_TRIAL = "(no complete trial)"
STUDIES_COLUMNS = ["method", "trials", "complete", "failed", "pruned", "default_objective", "tuned_objective",
                   "improvement", "best_trial", "seconds", "changed"]
FIGURES = ("history", "importances", "slice", "contour")
APPLY_LABEL = "Use the tuned hyper-parameters of {method} in the form"
HOW_TO_TUNE = (
    "This comparison has not been tuned. To tune every method under one protocol, set **Tuning budget** (trials "
    "per method) in the sidebar's *Run* section and press **Run**, or from the command line: "
    "`python -m engine compare ... --tune N`.")


# -- pure: tables ------------------------------------------------------------------------------------------------
def start_point(study: data.MethodStudy) -> dict[str, Any]:
    """The configuration trial 0 tries: every searched field at the comparison's value (``study.base``), else at
    its schema default (the space's defaults when the comparison set nothing)."""
    return {d.name: study.base.get(d.name, d.default) for d in study.space.dimensions}


def default_trial(study: data.MethodStudy) -> Any | None:
    """Trial 0 (the default configuration), ``None`` when the study has none."""
    return next((t for t in study.trials if t.number == 0), None)


def _value_text(v: Any) -> str:
    if isinstance(v, float) and not isinstance(v, bool):
        return f"{v:.3g}"
    return str(v)


def changed_text(study: data.MethodStudy, params: Mapping[str, Any] | None = None) -> str:
    """``"lr=0.00131, epochs=3"``: the searched hyper-parameters of ``params`` (default: the best trial's) that
    differ from the default configuration (:func:`start_point`), in the space's order; ``"(the defaults)"`` when
    none does, ``"(no complete trial)"`` when there is no best trial."""
    if params is None:
        best = study.best
        if best is None:
            return NO_TRIAL
        params = best.params
    start = start_point(study)
    diff = [f"{name}={_value_text(params[name])}" for name in start if name in params and params[name] != start[name]]
    return ", ".join(diff) if diff else UNCHANGED


def studies_frame(studies: Mapping[str, data.MethodStudy]) -> pd.DataFrame:
    """One row per studied method: ``trials`` (all), ``complete`` / ``failed`` / ``pruned`` counts,
    ``default_objective`` (trial 0's objective on val; NaN unless it completed), ``tuned_objective`` (the best
    complete trial's), ``improvement`` (default - tuned; >= 0), ``best_trial`` (its number), ``seconds`` (the
    study's wall time) and ``changed`` (:func:`changed_text`)."""
    rows = []
    for method, s in studies.items():
        states = [t.state for t in s.trials]
        first = default_trial(s)
        default = float(first.value) if first is not None and first.state == COMPLETE and first.value is not None \
            else math.nan
        best = s.best
        tuned = float(best.value) if best is not None else math.nan
        rows.append({"method": method, "trials": len(s.trials), "complete": states.count(COMPLETE),
                     "failed": states.count(FAILED), "pruned": states.count(PRUNED), "default_objective": default,
                     "tuned_objective": tuned, "improvement": default - tuned,
                     "best_trial": best.number if best is not None else pd.NA, "seconds": float(s.seconds()),
                     "changed": changed_text(s)})
    out = pd.DataFrame(rows, columns=STUDIES_COLUMNS)
    for c in ("trials", "complete", "failed", "pruned"):
        out[c] = out[c].astype(int)
    for c in ("default_objective", "tuned_objective", "improvement", "seconds"):
        out[c] = out[c].astype(float)
    out["best_trial"] = out["best_trial"].astype("Int64")
    return out


def _metric(summary: pd.DataFrame | None, method: str, column: str) -> float:
    if summary is None or summary.empty or column not in summary.columns or "method" not in summary.columns:
        return math.nan
    rows = summary.loc[summary["method"] == method, column]
    return float(rows.iloc[0]) if len(rows) and pd.notna(rows.iloc[0]) else math.nan


def default_vs_tuned_columns() -> list[str]:
    """The columns of :func:`default_vs_tuned`, in order."""
    cols = ["method", "gap_default", "gap_default_std", "gap_tuned", "gap_tuned_std", "gap_change"]
    for m in METRICS:
        cols += [f"{m}_{DEFAULT}", f"{m}_{TUNED}"]
    return cols


def default_vs_tuned(default_summary: pd.DataFrame | None, tuned_summary: pd.DataFrame | None,
                     studies: Mapping[str, data.MethodStudy]) -> pd.DataFrame:
    """Per studied method, on the reported seeds (test split): the gap to retrain of the default and of the tuned
    configuration (mean, ``_std`` over seeds), ``gap_change`` (tuned - default; < 0 = tuning helped) and
    forget / retain / test accuracy and MIA efficacy of both (``<metric>_default``, ``<metric>_tuned``).

    ``default_summary`` / ``tuned_summary``: the summaries (``method, seeds, <metric>, <metric>_std``) of the
    comparison and of its tuned configurations; a method missing from one (not run yet) gets NaN there."""
    rows = []
    for method in studies:
        row: dict[str, Any] = {"method": method}
        for variant, summary in ((DEFAULT, default_summary), (TUNED, tuned_summary)):
            row[f"gap_{variant}"] = _metric(summary, method, GAP)
            row[f"gap_{variant}_std"] = _metric(summary, method, f"{GAP}_std")
        row["gap_change"] = row["gap_tuned"] - row["gap_default"]
        for m in METRICS:
            for variant, summary in ((DEFAULT, default_summary), (TUNED, tuned_summary)):
                row[f"{m}_{variant}"] = _metric(summary, method, m)
        rows.append(row)
    out = pd.DataFrame(rows, columns=default_vs_tuned_columns())
    num = [c for c in out.columns if c != "method"]
    out[num] = out[num].astype(float)
    return out


def change_colour(change: float) -> str:
    """Text colour of a ``gap_change`` cell: green when tuning brought the method closer to retrain on the
    reported seeds, red when it moved it away (the val objective does not promise the test split)."""
    if pd.isna(change) or change == 0:
        return ""
    return "color: #1a7f37" if change < 0 else "color: #cf222e"


def default_vs_tuned_styled(table: pd.DataFrame) -> pd.io.formats.style.Styler:
    """:func:`default_vs_tuned` for ``st.dataframe``: 3 decimals (the numbers stay numbers, so columns sort),
    the gaps on the leaderboard's green-to-red scale, the change green (better) or red (worse); a std column with
    no value (one reported seed) is left out."""
    empty = [c for c in ("gap_default_std", "gap_tuned_std") if c in table and table[c].isna().all()]
    table = table.drop(columns=empty)
    fmt: dict[str, object] = {c: "{:.3f}" for c in table.columns if c != "method"}
    fmt.update({c: "± {:.3f}" for c in ("gap_default_std", "gap_tuned_std") if c in table})
    fmt["gap_change"] = "{:+.3f}"
    sty = table.style.format(fmt, na_rep=leaderboard.NA)
    gaps = [c for c in ("gap_default", "gap_tuned") if c in table]
    values = table[gaps].to_numpy(dtype=float) if gaps else np.array([])
    worst = float(np.nanmax(values)) if values.size and not np.isnan(values).all() else 0.0
    if gaps:
        sty = sty.map(lambda v: leaderboard.gap_colour(v, worst), subset=gaps)
    if "gap_change" in table:
        sty = sty.map(change_colour, subset=["gap_change"])
    return sty


# -- pure: figures -----------------------------------------------------------------------------------------------
def _empty(title: str, text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, height=charts.HEIGHT, xaxis_visible=False, yaxis_visible=False)
    return fig


def strip_offsets(n: int, width: float = 0.5) -> list[float]:
    """Horizontal offsets of ``n`` points of one strip, evenly over ``width`` around the method's position (fixed,
    not random: the figure is the same on every draw)."""
    if n <= 1:
        return [0.0] * n
    return [width * (i / (n - 1) - 0.5) for i in range(n)]


def robustness_figure(studies: Mapping[str, data.MethodStudy], k: int = TOP_K) -> go.Figure:
    """Per method (a row), the validation objective of its ``k`` best complete trials (a strip of points in the
    method's colour and symbol, in trial order; hover: trial number and what it changed) and the default
    configuration's (trial 0: an open black diamond, around its point when it is among the best). A tight cluster
    on the left = the method does well over a range of settings; one point far left of the others = it wins at
    one lucky setting. Each row's label says how far apart its best trials are. Horizontal, so that 30 methods
    stay readable."""
    title = f"Robustness: the {k} best trials of each method (validation split)"
    methods = [m for m, s in studies.items() if s.top(k)]
    if not methods:
        return _empty(title, "no complete trial yet")
    styles = charts.method_styles(list(studies))
    fig = go.Figure()
    ticks, dx, dy, names = [], [], [], []
    for i, m in enumerate(methods):
        s = studies[m]
        top = sorted(s.top(k), key=lambda t: t.number)
        ys = [i + o for o in strip_offsets(len(top))]
        colour, symbol = styles[m]
        fig.add_trace(go.Scatter(
            y=ys, x=[float(t.value) for t in top], mode="markers", name=m, legendgroup=m, showlegend=False,
            marker={"color": colour, "symbol": symbol, "size": 10, "opacity": 0.9,
                    "line": {"width": 1, "color": "white"}},
            customdata=[[t.number, changed_text(s, t.params)] for t in top],
            hovertemplate=(f"<b>{m}</b><br>trial %{{customdata[0]}}: %{{x:.4f}}<br>%{{customdata[1]}}"
                           "<extra></extra>")))
        values = [float(t.value) for t in top]
        ticks.append(f"{m} <span style='font-size:10px;color:#666'>({len(top)} best within "
                     f"{max(values) - min(values):.3f})</span>")
        first = default_trial(s)
        if first is not None and first.state == COMPLETE and first.value is not None:
            at = next((y for y, t in zip(ys, top, strict=True) if t.number == first.number), float(i))
            dy.append(at)
            dx.append(float(first.value))
            names.append(m)
    if dx:
        fig.add_trace(go.Scatter(
            x=dx, y=dy, mode="markers", name="default configuration (trial 0)", legendgroup="default",
            marker={"symbol": "diamond-open", "size": 16, "color": "#000000", "line": {"width": 2}},
            customdata=names, hovertemplate="<b>%{customdata}</b><br>default (trial 0): %{x:.4f}<extra></extra>"))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(methods))), ticktext=ticks, automargin=True,
                     range=[len(methods) - 0.4, -0.6], showgrid=True, zeroline=False, title_text="")
    fig.update_xaxes(title_text=OBJECTIVE_AXIS, rangemode="tozero")
    fig.update_layout(
        title={"text": title, "subtitle": {"text": "each point: one trial (hover for its hyper-parameters); a tight "
                                                   "cluster = robust, one low point far from the others = a lucky "
                                                   "setting"}},
        height=max(charts.HEIGHT, 140 + 26 * len(methods)), margin={"t": 90}, showlegend=True,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1.0, "xanchor": "right"})
    return fig


def _safe(draw: Callable[[], go.Figure]) -> go.Figure | str:
    try:
        return draw()
    except Exception as e:  # noqa: BLE001 - an Optuna figure that cannot be drawn is a reason, not a crash
        return f"Optuna could not draw it ({type(e).__name__}: {e})."


def _varying(study: data.MethodStudy, complete: list[Any]) -> list[str]:
    """Searched hyper-parameters with at least two values among the complete trials, in the space's order."""
    return [d.name for d in study.space.dimensions
            if len({repr(t.params.get(d.name)) for t in complete if d.name in t.params}) > 1]


def importance_order(fig: go.Figure) -> list[str]:
    """The hyper-parameters of an Optuna importance figure, most important first (its bars run upwards)."""
    if not fig.data or fig.data[0].y is None:
        return []
    return [str(n) for n in reversed(list(fig.data[0].y))]


def optuna_figures(study: data.MethodStudy) -> dict[str, go.Figure | str]:
    """Optuna's figures of ``study`` (``optuna.visualization``): ``history`` (the objective per trial, with the best
    so far), ``importances`` (fANOVA, seeded), ``slice`` (the objective against each hyper-parameter) and
    ``contour`` (over the two most important hyper-parameters); each a plotly figure, or the reason it cannot be
    drawn (too few complete trials, fewer than two searched or varying hyper-parameters, a constant objective)."""
    complete = [t for t in study.trials if t.state == COMPLETE and t.value is not None]
    if not complete:
        why = "No trial of this study has completed yet: nothing to plot."
        return dict.fromkeys(FIGURES, why)
    import optuna.visualization as ov
    from optuna.importance import FanovaImportanceEvaluator  # only for its seed: the same bars on every draw

    os_ = study.optuna_study()
    out: dict[str, go.Figure | str] = {}
    out["history"] = _safe(lambda: ov.plot_optimization_history(os_, target_name=TARGET_NAME))
    out["slice"] = _safe(lambda: ov.plot_slice(os_, target_name=TARGET_NAME))
    varying = _varying(study, complete)
    if len(study.space.dimensions) < 2:
        imp: go.Figure | str = "Importances need at least two searched hyper-parameters; this method searches one."
    elif len(complete) < 2:
        imp = "Importances need at least two complete trials."
    elif not varying:
        imp = "Every complete trial has the same hyper-parameters: nothing to attribute the objective to."
    elif len({float(t.value) for t in complete}) < 2:
        imp = "Every complete trial has the same objective: no hyper-parameter matters so far."
    else:
        imp = _safe(lambda: ov.plot_param_importances(os_, evaluator=FanovaImportanceEvaluator(seed=0),
                                                      target_name=TARGET_NAME))
    out["importances"] = imp
    if isinstance(imp, str):
        out["contour"] = "The contour is drawn over the two most important hyper-parameters: " + imp[:1].lower() \
            + imp[1:]
    else:
        pair = [n for n in importance_order(imp) if n in varying][:2]
        if len(pair) < 2:
            out["contour"] = "The contour needs two hyper-parameters that vary among the complete trials."
        else:
            out["contour"] = _safe(lambda: ov.plot_contour(os_, params=pair, target_name=TARGET_NAME))
    titles = {"history": "objective per trial", "importances": "which hyper-parameters matter",
              "slice": "objective against each hyper-parameter", "contour": "the two most important"}
    subtitles = {"history": "lower is better; the line: best so far", "importances": "fANOVA importance (seeded)",
                 "slice": "one panel per searched hyper-parameter", "contour": "objective over the two; lower is "
                                                                              "better"}
    for name, fig in out.items():
        if isinstance(fig, go.Figure):  # short titles: a column is half the page wide
            fig.update_layout(title={"text": f"{study.method}: {titles[name]}",
                                     "subtitle": {"text": subtitles[name]}}, margin={"t": 80})
    return {name: out[name] for name in FIGURES}


# -- pure: the form ----------------------------------------------------------------------------------------------
def widget_value(p: Any, value: Any) -> Any:
    """A config value as the hyper-parameter widget of schema field ``p`` holds it (:mod:`dashboard.forms`:
    numbers as numbers, ``*_or_none`` and text fields as text, empty for ``None``)."""
    if p is None:
        return value
    if p.type == "float":
        return float(value)
    if p.type == "int":
        return int(value)
    if p.type in ("bool", "choice"):
        return value
    return "" if value is None else str(value)


def apply_values(study: data.MethodStudy) -> dict[str, Any]:
    """Session-state key -> widget value that puts the study's best configuration (every field of the method's
    config, :meth:`MethodStudy.best_hparams`) into the Compare page's hyper-parameter form."""
    schema = {p.name: p for p in data.method_schema(study.method)}
    return {state.hparam(study.method, name): widget_value(schema.get(name), value)
            for name, value in study.best_hparams().items()}


def protocol_text(studies: Mapping[str, data.MethodStudy], reported: tuple[int, ...] = ()) -> str:
    """The tuning protocol in a sentence or three (the tab's caption)."""
    seeds = next((tuple(s.seeds) for s in studies.values()), tuple(data.DEFAULT_TUNING_SEEDS))
    shown = f" {', '.join(map(str, reported))}" if reported else ""
    return (f"**Protocol.** Per method, a seeded Optuna study (TPE) searches the hyper-parameters on the validation "
            f"split; objective: {data.OBJECTIVE}. Tuning seeds {', '.join(map(str, seeds))} are never reported. "
            "Trial 0 of every study is the default configuration, so the tuned configuration is never worse than "
            f"the default on the objective. Default vs tuned: both on the reported seeds{shown} and the test split.")


# -- Streamlit ---------------------------------------------------------------------------------------------------
APPLIED = "tuning.applied"  # (scoped) the values the apply button last wrote: the success note shows while they hold


def _apply(study: data.MethodStudy, prefix: str) -> None:
    """``on_click`` of the apply button (runs before the page, so the form's widgets take the values)."""
    values = apply_values(study)
    st.session_state.update(values)
    best = study.best
    st.session_state[state.scoped(prefix, APPLIED)] = {
        "method": study.method, "trial": best.number if best is not None else None, "values": values}


def _applied_note(prefix: str) -> None:
    key = state.scoped(prefix, APPLIED)
    done = st.session_state.get(key)
    if not done:
        return
    if any(st.session_state.get(k) != v for k, v in done["values"].items()):
        st.session_state.pop(key, None)  # the form has changed since: the note would no longer be true
        return
    st.success(f"The Compare page's form holds the tuned hyper-parameters of **{done['method']}** (trial "
               f"{done['trial']} of its study; *Method hyper-parameters* tab). With them the comparison is one of its "
               "own: press **Run** there to run it (its finished jobs come from the cache).", icon=":material/tune:")


@st.cache_resource(show_spinner="Drawing the study's figures…", max_entries=32)
def _figures(key: str, trials: tuple[tuple[int, str, float | None], ...], _study: data.MethodStudy) -> dict:
    """:func:`optuna_figures`, once per study and set of trials (shared, never copied: only read)."""
    return optuna_figures(_study)


def _chart(where: Any, fig: go.Figure | str, prefix: str, name: str) -> None:
    if isinstance(fig, str):
        where.caption(fig)
        return
    where.plotly_chart(fig, width="stretch", key=state.scoped(prefix, f"chart.{name}"),
                       config=charts.png_config(name))


def _tuned_summary(spec: data.ComparisonSpec, studies: Mapping[str, data.MethodStudy],
                   cache_dir: Any) -> pd.DataFrame | None:
    try:
        res = data.tuned_results(spec, dict(studies), cache_dir)
    except Exception as e:  # noqa: BLE001 - e.g. a store that cannot be read: the studies still show
        st.warning(f"The tuned configurations' results cannot be read: {type(e).__name__}: {e}")
        return None
    return None if res is None else res.summary


def _number(label: str, help_: str, fmt: str = "%.3f") -> Any:
    return st.column_config.NumberColumn(label, help=help_, format=fmt)


def tab(spec: data.ComparisonSpec, default_summary: pd.DataFrame, prefix: str, cache_dir: Any = None) -> None:
    """The *Tuning* tab of a comparison's results (widget keys scoped by ``prefix``): how to tune when it was never
    tuned; else the protocol, default vs tuned on the reported seeds, the studies, the robustness figure, Optuna's
    figures of one study and the button that puts its tuned hyper-parameters into the form. Nothing is computed:
    everything is read from the store."""
    _applied_note(prefix)
    studies = data.tuning_studies(spec, cache_dir)
    if not studies:
        st.info(HOW_TO_TUNE + "\n\n" + protocol_text({}), icon=":material/tune:")
        return
    st.caption(protocol_text(studies, tuple(spec.seeds)))

    st.subheader("Default vs tuned", help="on the reported seeds and the test split (mean ± std over seeds); "
                                          "the change is tuned − default (negative = closer to retrain)")
    tuned = _tuned_summary(spec, studies, cache_dir)
    table = default_vs_tuned(default_summary, tuned, studies)
    if table["gap_tuned"].isna().all():
        st.caption("The tuned configurations have no results on the reported seeds yet: run the comparison with a "
                   "tuning budget (it runs them after the studies).")
    gap = labels.metric_label(GAP)
    cfg: dict[str, Any] = {
        "method": st.column_config.TextColumn("Method"),
        "gap_default": _number(f"{gap}, default", labels.metric_help(GAP)),
        "gap_default_std": st.column_config.Column("±", help="std over the reported seeds", width="small"),
        "gap_tuned": _number(f"{gap}, tuned", labels.metric_help(GAP)),
        "gap_tuned_std": st.column_config.Column("±", help="std over the reported seeds", width="small"),
        "gap_change": _number("Change", "tuned − default (negative = tuning brought it closer to retrain)", "%+.3f"),
    }
    for m in METRICS:
        for variant in (DEFAULT, TUNED):
            cfg[f"{m}_{variant}"] = st.column_config.Column(f"{labels.metric_label(m)}, {variant}",
                                                            help=labels.metric_help(m))
    st.dataframe(default_vs_tuned_styled(table), width="stretch", hide_index=True, column_config=cfg,
                 key=state.scoped(prefix, "tuning.table"))

    st.subheader("Studies", help="on the validation split and the tuning seeds; the objective is the gap to retrain")
    frame = studies_frame(studies)
    st.dataframe(frame, width="stretch", hide_index=True, key=state.scoped(prefix, "tuning.studies"), column_config={
        "method": st.column_config.TextColumn("Method"),
        "trials": st.column_config.NumberColumn("Trials", width="small"),
        "complete": st.column_config.NumberColumn("Complete", width="small"),
        "failed": st.column_config.NumberColumn("Failed", width="small", help="the run failed (e.g. a diverging loss)"),
        "pruned": st.column_config.NumberColumn("Pruned", width="small", help="stopped early by the median pruner"),
        "default_objective": _number("Default (val)", "trial 0's objective: the default configuration", "%.4f"),
        "tuned_objective": _number("Tuned (val)", "the best complete trial's objective", "%.4f"),
        "improvement": _number("Improvement", "default − tuned on the validation split", "%.4f"),
        "best_trial": st.column_config.NumberColumn("Best trial", width="small"),
        "seconds": _number("Time (s)", "wall time of the study's trials (every method's trial k runs in one batch, "
                                       "so each counts the whole batch)", "%.1f"),
        "changed": st.column_config.TextColumn("Changed", help="the best trial's values that differ from the "
                                                               "default configuration"),
    })
    _chart(st, robustness_figure(studies), prefix, "tuning_robustness")

    key = state.scoped(prefix, "tuning.method")
    if st.session_state.get(key) not in studies:
        st.session_state.pop(key, None)
    method = st.selectbox("Study", list(studies), key=key, format_func=data.method_title,
                          help="Optuna's figures of this method's study")
    study = studies[method]
    sig = tuple((t.number, t.state, t.value) for t in study.trials)
    figs = _figures(study.key, sig, study)
    c1, c2 = st.columns(2)
    _chart(c1, figs["history"], prefix, f"tuning_history.{method}")
    _chart(c2, figs["importances"], prefix, f"tuning_importances.{method}")
    c3, c4 = st.columns(2)
    _chart(c3, figs["slice"], prefix, f"tuning_slice.{method}")
    _chart(c4, figs["contour"], prefix, f"tuning_contour.{method}")

    best = study.best
    same = best is None or changed_text(study) == UNCHANGED
    why = ("no trial completed" if best is None else "the default configuration is the best found" if same
           else f"trial {best.number}: {changed_text(study)}")
    if st.button(APPLY_LABEL.format(method=method), key=state.scoped(prefix, "tuning.apply"), on_click=_apply,
                 args=(study, prefix), disabled=same, icon=":material/tune:",
                 help=f"Writes the best configuration into the Compare page's hyper-parameter form ({why})."):
        st.rerun()  # the whole page, not only a fragment this tab may sit in: the form reads the new values
