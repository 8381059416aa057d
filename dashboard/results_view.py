"""The results view shared by the Compare and History pages.

Tabs: *Leaderboard* (the ranked table with its verdict, CSV exports, the runs table the CSV holds), *Charts*
(trade-off, accuracy, attacks), *Cost & outputs* (time, speed-up, entropy, closeness), *Per class* (per-class
accuracy, where the forget samples go), *Forget set* (image gallery, per-example membership scores, per-sample
table and CSV), *Audit* (log-log ROC of the membership attacks, layer-wise CKA, feature embedding), *Tuning* (default
vs tuned under the one protocol, the studies, robustness; issue 15) and, when the setting is a paper preset's,
*Paper numbers* (the paper's printed numbers beside ours, never mixed with them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, data, labels, leaderboard, state, tuning_view, url
from dashboard.data import Results

REFERENCE = "retrain"
PNG_HINT = ("Every chart has a toolbar (top right): its camera icon saves the chart as a PNG; "
            "hover a chart for the values.")
WIDE_CSV_LABEL = "Download CSV (one row per method × seed)"
SAMPLES_CSV_LABEL = "Download per-sample CSV (forget set)"
SUMMARY_CSV_LABEL = "Download summary CSV (this table)"


def summary_display(summary: pd.DataFrame, gaps: bool = False) -> pd.DataFrame:
    """Summary as text cells "mean ± std" (or signed gaps to retrain), retrain first, empty metrics dropped."""
    if summary.empty:
        return pd.DataFrame()
    order = [REFERENCE] + [m for m in summary["method"] if m != REFERENCE]
    s = summary.set_index("method").loc[[m for m in order if m in set(summary["method"])]]
    metrics = [c for c in s.columns if c != "seeds" and not c.endswith("_std") and s[c].notna().any()]
    ref = s.loc[REFERENCE] if REFERENCE in s.index else None
    out = pd.DataFrame(index=s.index)
    out["seeds"] = s["seeds"].astype(int)
    for m in metrics:
        cells = []
        for method, row in s.iterrows():
            v, sd = row[m], row.get(f"{m}_std", np.nan)
            if pd.isna(v):
                cells.append("")
            elif gaps and ref is not None and method != REFERENCE and pd.notna(ref[m]):
                cells.append(f"{v - ref[m]:+.3f}")
            else:
                cells.append(f"{v:.3f}" + (f" ± {sd:.3f}" if pd.notna(sd) else ""))
        out[m] = cells
    out.index.name = "method"
    return out.reset_index()


def _cell(v: float, sd: float, unit: str) -> str:
    if pd.isna(v):
        return ""
    fmt = ".3f" if unit in ("fraction", "nats") else ".1f" if unit == "seconds" else ".2f"
    return f"{v:{fmt}}" + (f" ± {sd:{fmt}}" if pd.notna(sd) else "")


def paper_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """One paper table's numbers (``engine.presets.paper_numbers`` rows) as method x metric text cells.

    Rows: the paper's method (with ``→ ours`` where we call it differently), plus its paradigm and scenario
    parameter when the table mixes several. Columns: our metric name where mapped, else ``paper name [unit]``.
    """
    if numbers.empty:
        return pd.DataFrame()
    df = numbers.copy()
    df["column"] = np.where(df["mapped"], df["metric"], df["paper_metric"] + " [" + df["unit"] + "]")
    label = df["method"] + np.where((df["our_method"] != "") & (df["our_method"] != df["method"]),
                                    " → " + df["our_method"], "")
    if df["paradigm"].nunique() > 1:
        label = label + " (" + df["paradigm"] + ")"
    params = df.loc[df["scenario_param"] != "", "scenario_param"].unique()
    if len(params) > 1:
        label = label + np.where(df["scenario_param"] != "", " @ " + df["scenario_param"], "")
    df["row"] = label
    df["cell"] = [_cell(v, s, u) for v, s, u in zip(df["value"], df["std"], df["unit"], strict=True)]
    table = df.pivot_table(index="row", columns="column", values="cell", aggfunc=" / ".join, sort=False)
    table = table[list(dict.fromkeys(df["column"]))].reindex(list(dict.fromkeys(df["row"]))).fillna("")
    table.index.name = "method (paper)"
    return table.reset_index()


def measured_display(summary: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Our summary restricted to ``metrics`` (mean ± std over seeds), retrain first."""
    shown = summary_display(summary)
    if shown.empty:
        return shown
    return shown[["method", *[m for m in metrics if m in shown.columns]]]


@st.cache_data(show_spinner="Reading the stored outputs…", max_entries=16)
def _inspection(key: str, eval_jobs: tuple[tuple[str, int, str], ...], cache_dir: str,
                _res: Results) -> data.Inspection:
    """The comparison's per-class / forget-set tables (cached per comparison and set of finished runs)."""
    return _res.inspect()


def inspection(res: Results) -> data.Inspection | None:
    """Cached :meth:`Results.inspect`, or ``None`` (with a warning) if the outputs cannot be read."""
    if res.plan is None:
        return None
    try:
        return _inspection(res.key, _jobs(res), str(res.cache_dir), res)
    except Exception as e:  # e.g. a dataset no longer on disk: the summary still shows
        st.warning(f"Per-sample outputs cannot be read: {type(e).__name__}: {e}")
        return None


def _chart(where, fig, prefix: str, name: str) -> None:  # noqa: ANN001
    where.plotly_chart(fig, width="stretch", key=state.scoped(prefix, f"chart.{name}"),
                       config=charts.png_config(f"{name}"))


# then "Paper numbers" for a preset's setting; the charts come in two tabs of a few figures each (a browser on two
# cores draws a plotly figure in about 0.3 s: seven at once took over 2 s)
SPLIT_LABELS = {"test": "Test set", "train_forget": "Forget set (training)", "train_retain": "Retain set (training)"}
RESULT_TABS = ("Leaderboard", "Charts", "Cost & outputs", "Per class", "Forget set", "Audit", "Tuning")


def show(res: Results, prefix: str, presets: list[str] | None = None,
         link: dict[str, str] | None = None) -> None:
    """Render a comparison's results (widget keys scoped by ``prefix``); ``presets``: paper presets whose
    setting this is (their reported numbers get a tab of their own); ``link``: the page's query parameters, kept
    in the URL with the view's (open tab, gaps, per-class split) on every change of the view.

    The leaderboard comes first; every chart is one click away (tabs run only when opened, so the first view draws
    a table and no figure). A fragment: opening a tab or flipping a toggle reruns the results only, not the page.
    """
    _show(res, prefix, presets, link)


@st.fragment
def _show(res: Results, prefix: str, presets: list[str] | None, link: dict[str, str] | None) -> None:
    if link is not None:
        st.query_params.from_dict({**link, **url.view_params(st.session_state)})
    if not res.complete:
        st.info("Some runs of this comparison have not finished yet; showing what is stored.")
    if res.n_imported:
        st.warning(f"**{res.n_imported} row(s) are imported** from a results bundle: their numbers were not "
                   "computed by this engine (column `source` = imported). Run the comparison to compute them here.")
    issues = res.issues()
    if not res.any_ok:
        st.warning("No finished runs to show.")
        if not issues.empty:
            st.dataframe(issues, width="stretch", hide_index=True)
        return
    names = list(RESULT_TABS) + (["Paper numbers"] if presets else [])
    key = state.scoped(prefix, state.RESULTS_TAB)
    if st.session_state.get(key) not in names:
        st.session_state.pop(key, None)  # e.g. "Paper numbers" from a link, for a setting that is no preset's
    tabs = st.tabs(names, key=key, on_change="rerun")
    if tabs[0].open:
        with tabs[0]:
            leaderboard_tab(res, issues, prefix)
    if tabs[1].open:
        with tabs[1]:
            charts_tab(res, prefix)
    if tabs[2].open:
        with tabs[2]:
            cost_tab(res, prefix)
    if tabs[3].open:
        with tabs[3]:
            per_class_tab(res, inspection(res), prefix)
    if tabs[4].open:
        with tabs[4]:
            forget_tab(res, inspection(res), prefix)
    if tabs[5].open:
        with tabs[5]:
            audit_tab(res, prefix)
    if tabs[6].open:
        with tabs[6]:
            tuning_view.tab(res.spec, res.summary, prefix, res.cache_dir)
    if presets and tabs[7].open:
        with tabs[7]:
            for key in presets:
                paper_section(res, key, prefix)


def summary_numeric(summary: pd.DataFrame, b: leaderboard.Board) -> pd.DataFrame:
    """Every metric of the summary as numbers, ``<metric>_mean`` and ``<metric>_std`` per column, in the
    leaderboard's order with its rank (what the summary CSV holds: no formatted text)."""
    s = summary.set_index("method").reindex(b.frame["method"])
    metrics = [c for c in summary.columns if c not in ("method", "seeds") and not c.endswith("_std")
               and summary[c].notna().any()]
    cols = {"rank": b.frame["rank"].to_numpy(), "method": b.frame["method"].to_numpy(),
            "seeds": s["seeds"].fillna(0).astype(int).to_numpy()}
    for m in metrics:
        cols[f"{m}_mean"] = s[m].to_numpy()
        cols[f"{m}_std"] = s[f"{m}_std"].to_numpy() if f"{m}_std" in s else np.full(len(s), np.nan)
    return pd.DataFrame(cols)


def leaderboard_columns(b: leaderboard.Board) -> dict[str, object]:
    """``st.dataframe`` column config of a leaderboard: readable labels; the metric key and target in the tooltip."""
    cfg: dict[str, object] = {
        "rank": st.column_config.TextColumn("Rank", help="by gap to retrain (ref = retrain, the reference)",
                                            width="small"),
        "method": st.column_config.TextColumn("Method", help="registry key (the Methods page has each one's paper)"),
        "status": st.column_config.TextColumn("Status"),
        "seeds": st.column_config.NumberColumn("Seeds", width="small"),
    }
    for m in b.metrics:
        what = " (value − retrain's)" if b.gaps and m not in leaderboard.NOT_GAPPED else ""
        cfg[m] = st.column_config.Column(labels.metric_label(m), help=labels.metric_help(m) + what)
        cfg[m + leaderboard.STD] = st.column_config.Column("±", help=f"std over seeds of {labels.metric_label(m)}",
                                                           width="small")
    return cfg


def leaderboard_view(res: Results, prefix: str, gaps: bool = False, tolerance: float = leaderboard.DEFAULT_TOLERANCE,
                     height: int | None = None) -> leaderboard.Board:
    """The verdict line and the ranked table of ``res`` (also used side by side on the History page)."""
    methods = [m.name for m in res.spec.methods]
    b = leaderboard.board(res.summary, res.wide, methods, tolerance, gaps)
    st.markdown(f":material/emoji_events: {b.verdict}")
    hidden = [c for c in ("status", "seeds") if c in b.frame and (
        (c == "status" and (b.frame["status"] == "ok").all()) or (c == "seeds" and b.frame["seeds"].max() <= 1))]
    shown = [c for c in b.frame.columns if c not in hidden]
    st.dataframe(leaderboard.styled(b), width="stretch", hide_index=True, column_order=shown,
                 height=height or 38 + 35 * len(b.frame), column_config=leaderboard_columns(b),
                 key=state.scoped(prefix, "leaderboard"))
    return b


def leaderboard_tab(res: Results, issues: pd.DataFrame, prefix: str) -> None:
    """The ranked table with its verdict, the exports, the runs table and the runs without results."""
    head = st.columns([4, 1, 1])
    head[0].subheader("Leaderboard", help="one row per method, ranked by SalUn's average gap to retrain over forget, "
                                          "retain and test accuracy and MIA efficacy (lower is better); best value "
                                          "per column in bold (among the unlearning methods; ties all bold); click a "
                                          "column to sort")
    gaps = head[1].toggle("Signed gaps to retrain", key=state.scoped(prefix, state.SHOW_GAPS),
                          help="show accuracy and MIA columns as the method's value minus retrain's")
    tkey = state.scoped(prefix, state.TOLERANCE)
    st.session_state.setdefault(tkey, leaderboard.DEFAULT_TOLERANCE)
    tolerance = head[2].number_input("Verdict tolerance", key=tkey, step=0.005, format="%g",
                                     help="the verdict's fastest method is the fastest whose gap is at most this much "
                                          "above the closest method's")
    b = leaderboard_view(res, prefix, gaps, max(0.0, float(tolerance)))
    numeric = summary_numeric(res.summary, b)
    b1, b2, b3 = st.columns(3)
    b1.download_button(SUMMARY_CSV_LABEL, data=numeric.to_csv(index=False).encode(),
                       file_name=f"summary-{res.key}.csv", mime="text/csv", on_click="ignore",
                       key=state.scoped(prefix, "download.summary"),
                       help="one row per method: every metric's mean and std over seeds as numbers "
                            "(<metric>_mean, <metric>_std), ranked as the table")
    b2.download_button(WIDE_CSV_LABEL, data=res.csv(), file_name=f"comparison-{res.key}.csv", mime="text/csv",
                       on_click="ignore", key=state.scoped(prefix, "download"),
                       help="every run with every metric: exactly the table under 'All runs'")
    if res.plan is not None:  # built when clicked (it reads every run's outputs)
        b3.download_button(SAMPLES_CSV_LABEL, data=lambda: res.inspect().samples_csv(),
                           file_name=f"forget-samples-{res.key}.csv", mime="text/csv", on_click="ignore",
                           key=state.scoped(prefix, "download.samples"),
                           help="one row per forget sample × method × seed: true / observed label, prediction, "
                                "confidence, probability of the true label, entropy and loss")
    with st.expander(f"All runs ({len(res.wide)} rows) — exactly what the CSV holds"):
        st.dataframe(res.wide, width="stretch", hide_index=True)
    if not issues.empty:
        with st.expander(f"Runs without results ({len(issues)})", expanded=bool((issues["status"] == "failed").any())):
            st.dataframe(issues, width="stretch", hide_index=True)


def charts_tab(res: Results, prefix: str) -> None:
    """Forgetting against utility, the accuracies and the attacks (figures built once per comparison and set of
    finished runs, then cached)."""
    st.caption(PNG_HINT + " Time, speed-up, entropy and closeness: the *Cost & outputs* tab.")
    figs = summary_figures(res)
    _chart(st, figs["tradeoff"], prefix, "tradeoff")
    _chart(st, figs["accuracy"], prefix, "accuracy")
    _chart(st, figs["mia"], prefix, "mia")
    if "mia_shadow_auc" in res.summary.columns and res.summary["mia_shadow_auc"].notna().any():
        _chart(st, figs["roc"], prefix, "shadow_roc")


def cost_tab(res: Results, prefix: str) -> None:
    """What unlearning costs and what the outputs look like: time, speed-up, forget-set entropy, closeness."""
    st.caption(PNG_HINT)
    figs = summary_figures(res)
    c3, c4 = st.columns(2)
    _chart(c3, figs["time"], prefix, "time")
    _chart(c4, figs["speedup"], prefix, "speedup")
    _chart(st, figs["entropy"], prefix, "entropy")
    _chart(st, figs["closeness"], prefix, "closeness")


@st.cache_resource(show_spinner=False, max_entries=32)
def _per_class_figures(key: str, eval_jobs: tuple[tuple[str, int, str], ...], cache_dir: str, split: str,
                       order: tuple[str, ...], _insp: data.Inspection) -> tuple[object, object]:
    """The Per class tab's two figures, built once per comparison, set of finished runs and split (shared, never
    copied: the figures are only read)."""
    return (charts.per_class_accuracy(_insp.per_class, _insp.forget_classes, list(order), _insp.class_names, split),
            charts.forget_confusion(_insp.confusion, list(order), _insp.class_names))


@st.cache_resource(show_spinner=False, max_entries=16)
def _summary_figures(key: str, eval_jobs: tuple[tuple[str, int, str], ...], complete: bool, cache_dir: str,
                     _res: Results) -> dict[str, object]:
    summary = _res.summary
    order = summary_display(summary)["method"].tolist()
    return {"accuracy": charts.accuracy_bars(summary), "mia": charts.mia_panel(summary),
            "entropy": charts.entropy_distribution(_res.forget_entropy_samples(), list(summary["method"])),
            "time": charts.time_chart(summary), "speedup": charts.speedup_chart(summary),
            "tradeoff": charts.tradeoff_scatter(summary), "closeness": charts.closeness_heatmap(summary, order),
            "roc": charts.shadow_roc(_res.shadow_roc(), order)}


def summary_figures(res: Results) -> dict[str, object]:
    """The Charts and Cost & outputs tabs' figures, built once per comparison and set of finished runs (then cached)."""
    return _summary_figures(res.key, _jobs(res), res.complete, str(res.cache_dir), res)


def _jobs(res: Results) -> tuple[tuple[str, int, str], ...]:
    source = dict(zip(zip(res.wide["method"], res.wide["seed"], strict=True), res.wide["source"], strict=True)) \
        if "source" in res.wide else {}
    return tuple(sorted((m, s, f"{j}:{source.get((m, s), '')}") for (m, s), j in res.eval_jobs.items()))


def per_class_tab(res: Results, insp: data.Inspection | None, prefix: str) -> None:
    if insp is None:
        st.info("Per-class views need the stored outputs of the runs.")
        return
    order = summary_display(res.summary)["method"].tolist()
    split = st.segmented_control("Split", list(SPLIT_LABELS), default="test", format_func=SPLIT_LABELS.__getitem__,
                                 key=state.scoped(prefix, state.PER_CLASS_SPLIT),
                                 help="Test: the held-out test set (`test`); forget / retain set: the training "
                                      "samples that were forgotten / kept (`train_forget` / `train_retain`)") or "test"
    per_class, confusion = _per_class_figures(res.key, _jobs(res), str(res.cache_dir), split, tuple(order), insp)
    _chart(st, per_class, prefix, "per_class")
    _chart(st, confusion, prefix, "forget_confusion")
    st.caption("Each panel: rows are the true classes of the forget samples, columns the classes the model "
               "predicts for them, colour the share of the row. Compare with retrain's panel: a forgotten class "
               "should spread like retrain's predictions, not pile onto one class (PGU, Fig. 4).")


def score_columns(samples: pd.DataFrame) -> list[str]:
    """The per-example membership scores the forget-sample table holds values of (U-LiRA first)."""
    return [c for c in labels.SCORE_LABELS if c in samples.columns and samples[c].notna().any()]


def gallery_scores(samples: pd.DataFrame, seed: int) -> dict[tuple[int, str], str]:
    """``(sample index, method) -> "U-LiRA score 12.3 · RMIA score 0.95"``: the membership scores of seed
    ``seed``'s audited forget samples, for the gallery's hover (samples without a score are left out)."""
    cols = score_columns(samples)
    if not cols:
        return {}
    out: dict[tuple[int, str], str] = {}
    rows = samples[samples["seed"] == seed]
    for idx, method, *values in zip(rows["index"], rows["method"], *(rows[c] for c in cols), strict=True):
        text = " · ".join(f"{labels.SCORE_LABELS[c]} {v:.3g}" for c, v in zip(cols, values, strict=True)
                          if pd.notna(v))
        if text:
            out[(int(idx), str(method))] = text
    return out


def gallery_captions(g, method: str, scores: dict[tuple[int, str], str] | None = None  # noqa: ANN001
                     ) -> tuple[list[str], list[str]]:
    """Captions (true label, retrain's and ``method``'s prediction) and hover texts (every method, with its
    membership scores from :func:`gallery_scores` where the sample was audited) per image."""
    preds = g.predictions
    names = g.class_names
    scores = scores or {}
    captions, hover = [], []
    for pos, (idx, true) in enumerate(zip(g.index, g.true, strict=True)):
        p = preds[preds["position"] == pos].set_index("method")
        parts = [f"#{idx} · true {names[true]}"]
        for m in dict.fromkeys(["retrain", method]):
            if m in p.index:
                parts.append(f"{m} {names[int(p.loc[m, 'predicted'])]} ({p.loc[m, 'confidence']:.2f})")
        captions.append("<br>".join(parts))
        hover.append(f"sample {idx}, true {names[true]}<br>" + "<br>".join(
            f"{m}: {names[int(r['predicted'])]} ({r['confidence']:.2f})"
            + (f" · {scores[(int(idx), m)]}" if (int(idx), m) in scores else "") for m, r in p.iterrows()))
    return captions, hover


def gallery_table(g) -> pd.DataFrame:  # noqa: ANN001
    """Sample x method table of "prediction (confidence)" cells."""
    if g.predictions.empty:
        return pd.DataFrame()
    df = g.predictions.copy()
    df["cell"] = [f"{g.class_names[p]} ({c:.2f})" for p, c in zip(df["predicted"], df["confidence"], strict=True)]
    table = df.pivot_table(index=["index", "true"], columns="method", values="cell", aggfunc="first", sort=False)
    return table[list(dict.fromkeys(df["method"]))].reset_index()


def forget_tab(res: Results, insp: data.Inspection | None, prefix: str) -> None:
    if insp is None:
        st.info("The forget-set views need the stored outputs of the runs.")
        return
    g = insp.gallery
    methods = list(dict.fromkeys(g.predictions["method"]))
    others = [m for m in methods if m not in ("original", "retrain")] or methods
    if methods:
        method = st.selectbox("Caption each image with retrain's and this method's prediction", others,
                              key=state.scoped(prefix, "gallery.method"), format_func=data.method_title)
        captions, hover = gallery_captions(g, method, gallery_scores(insp.samples, g.seed))
        _chart(st, charts.gallery(list(g.images), captions, hover,
                                  title=f"First {len(g.images)} forget samples (seed {g.seed}): "
                                        f"prediction (confidence); hover for every method"), prefix, "gallery")
        st.dataframe(gallery_table(g), width="stretch", hide_index=True)
    membership_section(res, insp, prefix)
    st.markdown(f"**Per-sample table** — {len(insp.samples)} rows (forget sample × method × seed)")
    st.dataframe(insp.samples, width="stretch", hide_index=True, height=320, column_config=sample_columns())
    st.download_button(SAMPLES_CSV_LABEL, data=insp.samples_csv(), file_name=f"forget-samples-{res.key}.csv",
                       mime="text/csv", on_click="ignore", key=state.scoped(prefix, "download.samples2"))


def sample_columns() -> dict[str, object]:
    """``st.dataframe`` column config of the per-sample table (the membership scores: NaN where not audited)."""
    cfg: dict[str, object] = {"confidence": st.column_config.NumberColumn(format="%.3f"),
                              "p_true": st.column_config.NumberColumn(format="%.3f"),
                              "entropy": st.column_config.NumberColumn("entropy (nats)", format="%.3f"),
                              "loss": st.column_config.NumberColumn("loss (nats)", format="%.3f")}
    for c, label in labels.SCORE_LABELS.items():
        cfg[c] = st.column_config.NumberColumn(label, format="%.3f",
                                               help=f"{labels.SCORE_HELP[c]}; higher = less forgotten; empty where "
                                                    "the attack did not run or did not audit the sample")
    return cfg


MEMBERSHIP_CAPTION = ("Each cell: the attack's membership score of one audited forget sample (row) on one method's "
                      "model (column). **Higher = the model looks like one that unlearned the sample, not like one "
                      "retrained without it = not forgotten.** Rows are sorted by the mean score over the methods, "
                      "the least forgotten first; retrain's column is the baseline (the original's: nothing "
                      "forgotten). The same scores are in the per-sample table and CSV below.")


def membership_section(res: Results, insp: data.Inspection, prefix: str) -> None:
    """The per-example heatmap of a membership score (U-LiRA / RMIA / shadow attack), when one was computed."""
    cols = score_columns(insp.samples)
    if not cols:
        return
    column = cols[0]
    if len(cols) > 1:
        key = state.scoped(prefix, state.SCORE_COLUMN)
        if st.session_state.get(key) not in cols:
            st.session_state.pop(key, None)  # another comparison's choice
        column = st.segmented_control("Membership score", cols, default=cols[0], key=key,
                                      format_func=labels.SCORE_LABELS.__getitem__,
                                      help="\n".join(f"- {labels.SCORE_HELP[c]}" for c in cols)) or cols[0]
    order = summary_display(res.summary)["method"].tolist()
    _chart(st, _membership_figure(res.key, _jobs(res), str(res.cache_dir), column, tuple(order), insp), prefix,
           "membership")
    st.caption(MEMBERSHIP_CAPTION)


@st.cache_resource(show_spinner=False, max_entries=16)
def _membership_figure(key: str, eval_jobs: tuple[tuple[str, int, str], ...], cache_dir: str, column: str,
                       order: tuple[str, ...], _insp: data.Inspection) -> object:
    return charts.membership_heatmap(_insp.samples, column, list(order))


# -- the Audit tab -------------------------------------------------------------------------------------------------
ULIRA_OFF = ("This comparison ran without U-LiRA / RMIA, the per-example membership attacks. To run them: in the "
             "sidebar's **Advanced: attacks**, set **U-LiRA / RMIA shadow pairs (K)** to 4 or more (CLI: `--ulira K`) "
             "and press **Run**; the models already trained are reused from the cache.")
AUDIT_OFF = ("This comparison ran without the representation audit. To run it: in the sidebar's **Advanced: "
             "attacks**, tick **Representation audit (CKA, probes, embedding)** (CLI: `--feature-audit`) and press "
             "**Run**; the models already trained are reused from the cache.")
REPRESENTATION_METRICS = ("cka_retrain", "cka_original", "probe_forget_acc", "knn_forget_acc", "zrf",
                          "weight_distance_original", "weight_distance_retrain")


def tpr_caption(summary: pd.DataFrame, metric: str, order: list[str] | None = None) -> str:
    """Each method's TPR at 1 % FPR of attack ``metric`` from the summary (``<metric>_tpr_0_01``, ``_auc`` dropped),
    "" when the summary has none; retrain's is the baseline (1 % = chance)."""
    col = f"{metric.removesuffix('_auc')}_tpr_0_01"  # mia_shadow_auc -> mia_shadow_tpr_0_01
    if col not in summary.columns or not summary[col].notna().any():
        return ""
    s = summary.set_index("method")[col].dropna()
    methods = [m for m in (order or []) if m in s.index] + [m for m in s.index if m not in (order or [])]
    cells = " · ".join(f"{m} {s[m]:.3f}" for m in methods)
    return f"TPR at 1 % FPR (mean over seeds; chance = 0.010, retrain's is the baseline): {cells}."


@st.cache_resource(show_spinner=False, max_entries=16)
def _audit_figures(key: str, eval_jobs: tuple[tuple[str, int, str], ...], cache_dir: str,
                   order: tuple[str, ...], _res: Results) -> dict[str, object]:
    """The Audit tab's figures (``roc.<attack>``, ``cka``, ``embedding``; absent when the comparison lacks them),
    built once per comparison and set of finished runs."""
    out: dict[str, object] = {}
    for attack in _res.roc_attacks():
        out[f"roc.{attack}"] = charts.loglog_roc(_res.attack_roc(attack), attack, list(order))
    cka = _res.layer_cka()
    if not cka.empty:
        out["cka"] = charts.layer_cka(cka, list(order))
    points = _res.embedding()
    if not points.empty:
        out["embedding"] = charts.embedding_scatter(points, list(order))
    return out


def audit_tab(res: Results, prefix: str) -> None:
    """Privacy and representation audit: the low-FPR ROC of every attack that stored one, layer-wise CKA to
    retrain and to the original, and the feature embedding per method; what to enable where a part did not run."""
    order = summary_display(res.summary)["method"].tolist()
    figs = _audit_figures(res.key, _jobs(res), str(res.cache_dir), tuple(order), res)
    st.caption(PNG_HINT)
    st.subheader("Membership attacks at low false-positive rates",
                 help="Carlini et al. 2022: an attack is judged by its true-positive rate at a low false-positive "
                      "rate, on log-log axes; U-LiRA (Hayes et al. 2024) and RMIA (Zarifzadeh et al. 2024) test "
                      "each forget sample against shadow models that unlearned it and shadow models never "
                      "trained on it.")
    attacks = [k.split(".", 1)[1] for k in figs if k.startswith("roc.")]
    if "mia_ulira" not in attacks:
        st.info(ULIRA_OFF, icon=":material/info:")
    if attacks:
        key = state.scoped(prefix, state.AUDIT_ATTACK)
        if st.session_state.get(key) not in attacks:
            st.session_state.pop(key, None)  # another comparison's choice
        attack = st.selectbox("Attack", attacks, key=key, format_func=lambda a: f"{labels.metric_label(a)} — {a}")
        _chart(st, figs[f"roc.{attack}"], prefix, "audit_roc")
        caption = tpr_caption(res.summary, attack, order)
        if caption:
            st.caption(caption)
    st.subheader("Representation audit",
                 help="Does forgetting reach the features? Linear CKA (Kornblith et al. 2019) per layer between the "
                      "method's features on the forget set and retrain's / the original's, and each model's "
                      "penultimate features in 2-D.")
    if "cka" not in figs:
        st.info(AUDIT_OFF, icon=":material/info:")
        return
    _chart(st, figs["cka"], prefix, "layer_cka")
    st.caption("Forgetting that reaches the features: CKA to retrain rises towards 1 and CKA to the original falls, "
               "mostly in the late layers; a method that only changes the last layer keeps the original's features.")
    if "embedding" in figs:
        _chart(st, figs["embedding"], prefix, "embedding")
        st.caption("Each panel is its own PCA, so compare shapes, not coordinates: where the forget samples (red) "
                   "sit among the retain samples (grey) in a method's panel against retrain's. A method whose forget "
                   "samples keep the original's separate cluster still holds them apart in its features.")
    metrics = [m for m in REPRESENTATION_METRICS if m in res.summary.columns and res.summary[m].notna().any()]
    if metrics:
        shown = measured_display(res.summary, metrics)
        st.dataframe(shown, width="stretch", hide_index=True, height=38 + 35 * len(shown),
                     column_config={m: st.column_config.TextColumn(labels.metric_label(m), help=labels.metric_help(m))
                                    for m in metrics})


def paper_section(res: Results | None, key: str, prefix: str) -> None:
    """The paper's printed numbers for a preset's setting beside ours (``res``; ``None`` before any run),
    each table labelled as reported."""
    info = data.preset_info(key)
    numbers = data.preset_paper_numbers(key)
    st.subheader(info["title"])
    here = "" if res is None else f" Measured here: {len(res.spec.seeds)} seed(s)."
    st.warning(f"The right-hand tables are **reported in {info['paper']}** ({info['paper_title']}) — "
               f"**not measured here**. Setting differences: {info['differences']}.{here}",
               icon=":material/menu_book:")
    if numbers.empty:
        st.caption("The paper prints no numbers for this setting.")
        return
    for table, rows in numbers.groupby("table", sort=False):
        metrics = list(dict.fromkeys(rows.loc[rows["mapped"], "metric"]))
        left, right = st.columns(2)
        left.markdown("**Measured here** (mean ± std over seeds)")
        if res is None:
            left.caption("Nothing measured yet: press **Run**.")
        else:
            measured = measured_display(res.summary, metrics)
            left.dataframe(measured, width="stretch", hide_index=True, height=38 + 35 * len(measured))
        datasets = ", ".join(sorted(set(rows["dataset"]))) + " / " + ", ".join(sorted(set(rows["model"])))
        right.markdown(f"**Reported in {info['paper']}, {table} — not measured here** ({datasets})")
        reported = paper_display(rows)
        right.dataframe(reported, width="stretch", hide_index=True, height=38 + 35 * len(reported))
        unmapped = sorted(set(rows.loc[~rows["mapped"], "paper_metric"]))
        if unmapped:
            right.caption(f"No counterpart here, kept with the paper's name and unit: {', '.join(unmapped)}.")
    st.caption("Conversions: percentages → fractions; UA → forget_acc = 1 − UA; errors → 1 − accuracy; "
               "minutes / hours → seconds; UDRU's remaining-data accuracy → retain_other_classes_acc.")
    st.download_button(f"Download {info['paper']}'s numbers (CSV)", data=numbers.to_csv(index=False).encode(),
                       file_name=f"paper-{key}.csv", mime="text/csv", on_click="ignore",
                       key=state.scoped(prefix, f"download.paper.{key}"))
