"""Plotly figures of a comparison; each a pure function: dataframe in, figure out.

``summary`` is the engine's summary table: one row per method, columns ``<metric>`` (mean over seeds)
and ``<metric>_std``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

ACCURACY = ("forget_acc", "retain_acc", "test_acc")
MIA = ("mia_efficacy", "mia_loss_acc", "mia_asr", "mia_whitebox", "mia_shadow_auc", "mia_efficacy_observed",
       "mia_loss_acc_observed")
MIA_IDEAL_HALF = ("mia_loss_acc", "mia_asr", "mia_shadow_auc", "mia_loss_acc_observed")
HEIGHT = 360


def _long(summary: pd.DataFrame, metrics: tuple[str, ...], titles: dict[str, str] | None = None) -> pd.DataFrame:
    rows = []
    for _, r in summary.iterrows():
        for m in metrics:
            if m in summary.columns and pd.notna(r[m]):
                std = r.get(f"{m}_std", np.nan)
                rows.append({"method": r["method"], "metric": (titles or {}).get(m, m), "value": float(r[m]),
                             "std": float(std) if pd.notna(std) else 0.0})
    return pd.DataFrame(rows, columns=["method", "metric", "value", "std"])


def _empty(title: str, text: str = "no finished runs") -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, height=HEIGHT, xaxis_visible=False, yaxis_visible=False)
    return fig


def accuracy_bars(summary: pd.DataFrame) -> go.Figure:
    """Grouped bars (mean ± std over seeds) of forget / retain / test accuracy per method."""
    df = _long(summary, ACCURACY)
    if df.empty:
        return _empty("Accuracy")
    fig = px.bar(df, x="method", y="value", color="metric", barmode="group", error_y="std",
                 category_orders={"metric": list(ACCURACY), "method": list(summary["method"])},
                 title="Accuracy (mean ± std over seeds)", labels={"value": "accuracy", "method": ""})
    fig.update_layout(height=HEIGHT, yaxis_range=[0, 1.05], legend_title_text="")
    return fig


def mia_panel(summary: pd.DataFrame) -> go.Figure:
    """One panel per MIA metric (mean ± std) with its ideal marked: 0.5 where 0.5 means "cannot tell",
    otherwise retrain's value (the attacks whose ideal is to look like the retrained model)."""
    present = tuple(m for m in MIA if m in summary.columns and summary[m].notna().any())
    if not present:
        return _empty("Membership inference")
    fig = make_subplots(rows=1, cols=len(present), subplot_titles=present, shared_yaxes=True)
    for i, m in enumerate(present, start=1):
        std = summary.get(f"{m}_std", pd.Series(np.nan, index=summary.index)).fillna(0.0)
        fig.add_trace(go.Bar(x=summary["method"], y=summary[m], error_y={"type": "data", "array": std},
                             name=m, showlegend=False), row=1, col=i)
        if m in MIA_IDEAL_HALF:
            fig.add_hline(y=0.5, line_dash="dash", line_color="grey", row=1, col=i,
                          annotation_text="ideal 0.5", annotation_position="top left")
        elif "retrain" in set(summary["method"]) and pd.notna(summary.set_index("method").loc["retrain", m]):
            fig.add_hline(y=float(summary.set_index("method").loc["retrain", m]), line_dash="dot",
                          line_color="grey", row=1, col=i, annotation_text="ideal = retrain",
                          annotation_position="top left")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(title="Membership inference (mean ± std)", height=HEIGHT)
    return fig


def shadow_roc(curves: pd.DataFrame, order: list[str] | None = None) -> go.Figure:
    """PGU's shadow-model attack: ROC curve per method (its forget outputs vs retrain's; seed 0), with the
    attacker's own ROC on held-out shadow models (its strength) and the chance diagonal."""
    if curves.empty:
        return _empty("Shadow-model MIA ROC", "enable shadow models to see PGU's attack")
    fig = px.line(curves, x="fpr", y="tpr", color="method",  # linear: tied scores give the diagonal
                  category_orders={"method": order or list(dict.fromkeys(curves["method"]))},
                  title="Shadow-model MIA (PGU): ROC of the method's forget outputs vs retrain's (seed 0)",
                  labels={"fpr": "false-positive rate", "tpr": "true-positive rate"})
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dash", "color": "grey"})
    fig.update_layout(height=HEIGHT, xaxis_range=[0, 1], yaxis_range=[0, 1.02])
    return fig


def entropy_distribution(samples: pd.DataFrame, order: list[str] | None = None) -> go.Figure:
    """Distribution of the per-sample forget-set entropy (nats) per method (violin with box)."""
    if samples.empty:
        return _empty("Forget-set entropy", "no per-sample entropy available")
    fig = px.violin(samples, x="method", y="entropy", color="method", box=True, points=False,
                    category_orders={"method": order or list(dict.fromkeys(samples["method"]))},
                    title="Forget-set entropy per sample (nats)", labels={"method": ""})
    fig.update_layout(height=HEIGHT, showlegend=False)
    return fig


def time_chart(summary: pd.DataFrame) -> go.Figure:
    """Unlearning time (log scale) and speed-up versus retraining, per method."""
    if "unlearn_seconds" not in summary.columns or summary["unlearn_seconds"].isna().all():
        return _empty("Time")
    df = summary[summary["unlearn_seconds"].notna()]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("unlearning time (s, log)", "speed-up vs retrain (×, log)"))
    fig.add_trace(go.Bar(x=df["method"], y=df["unlearn_seconds"], showlegend=False,
                         error_y={"type": "data", "array": df.get("unlearn_seconds_std", 0 * df["unlearn_seconds"])
                                  .fillna(0.0)}), row=1, col=1)
    if "speedup_vs_retrain" in df.columns:
        fig.add_trace(go.Bar(x=df["method"], y=df["speedup_vs_retrain"], showlegend=False), row=1, col=2)
        fig.add_hline(y=1.0, line_dash="dash", line_color="grey", row=1, col=2)
    fig.update_yaxes(type="log")
    fig.update_layout(title="Cost", height=HEIGHT)
    return fig


def tradeoff_scatter(summary: pd.DataFrame) -> go.Figure:
    """Gap to retrain (lower is better) against test accuracy; bubble area = unlearning seconds."""
    need = {"gap_to_retrain", "test_acc"}
    if not need <= set(summary.columns) or summary[list(need)].dropna().empty:
        return _empty("Trade-off")
    df = summary.dropna(subset=list(need)).copy()
    secs = df["unlearn_seconds"] if "unlearn_seconds" in df.columns else pd.Series(np.nan, index=df.index)
    df["seconds"] = secs.fillna(0.0)
    df["bubble"] = np.sqrt(df["seconds"].clip(lower=0.0)) + 0.5
    fig = px.scatter(df, x="gap_to_retrain", y="test_acc", size="bubble", color="method", text="method",
                     hover_data={"seconds": ":.2f", "bubble": False},
                     title="Trade-off: gap to retrain vs test accuracy (bubble = seconds)",
                     labels={"gap_to_retrain": "avg. gap to retrain (lower is better)", "test_acc": "test accuracy"})
    fig.update_traces(textposition="top center")
    fig.update_layout(height=HEIGHT + 60, showlegend=False)
    return fig


# -- export ------------------------------------------------------------------------------------------------------
def png_config(name: str) -> dict:
    """``st.plotly_chart`` config: the modebar always visible, its camera icon saving a 2x PNG named ``name``."""
    return {"displaylogo": False, "displayModeBar": True,
            "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2}}


# -- per class and forget set ------------------------------------------------------------------------------------
def _class_label(c: int, class_names: tuple[str, ...] | list[str] | None) -> str:
    name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
    return name if name == str(c) else f"{c} {name}"


def per_class_accuracy(per_class: pd.DataFrame, forget_classes: tuple[int, ...] = (), order: list[str] | None = None,
                       class_names: tuple[str, ...] | None = None, split: str = "test") -> go.Figure:
    """Heatmap of per-class accuracy on ``split`` (mean over seeds): one row per method, one column per class.

    Forgotten classes are marked (★ in the axis label and an outlined column).
    """
    df = per_class[per_class["split"] == split] if not per_class.empty else per_class
    title = f"Per-class accuracy ({split.replace('_', ' ')} split, mean over seeds; ★ = forgotten class)"
    if df.empty:
        return _empty(title)
    mean = df.groupby(["method", "class"], sort=False)["accuracy"].mean().unstack("class")
    methods = [m for m in (order or []) if m in mean.index] + [m for m in mean.index if m not in (order or [])]
    mean = mean.loc[methods].sort_index(axis=1)
    classes = [int(c) for c in mean.columns]
    labels = [("★ " if c in forget_classes else "") + _class_label(c, class_names) for c in classes]
    fig = go.Figure(go.Heatmap(z=mean.to_numpy(), x=labels, y=methods, zmin=0.0, zmax=1.0, colorscale="Viridis",
                               text=np.round(mean.to_numpy(), 2), texttemplate="%{text:.2f}",
                               colorbar={"title": "accuracy"},
                               hovertemplate="%{y}<br>class %{x}<br>accuracy %{z:.3f}<extra></extra>"))
    for i, c in enumerate(classes):
        if c in forget_classes:
            fig.add_shape(type="rect", x0=i - 0.5, x1=i + 0.5, y0=-0.5, y1=len(methods) - 0.5,
                          line={"color": "crimson", "width": 3})
    fig.update_layout(title=title, height=max(HEIGHT, 120 + 28 * len(methods)), xaxis_title="class",
                      yaxis_autorange="reversed", xaxis_type="category")
    return fig


def forget_confusion(confusion: pd.DataFrame, order: list[str] | None = None,
                     class_names: tuple[str, ...] | None = None, ncols: int = 4) -> go.Figure:
    """Where the forget samples go: one row-normalised heatmap (true -> predicted class) per method, summed
    over seeds (PGU Fig. 4; a good method sends a forgotten class where retrain does, not to one class)."""
    title = "Forget set: true class → predicted class (share of each true class, summed over seeds)"
    if confusion.empty:
        return _empty(title)
    present = list(dict.fromkeys(confusion["method"]))
    methods = [m for m in (order or []) if m in present] + [m for m in present if m not in (order or [])]
    counts = confusion.groupby(["method", "true", "predicted"])["count"].sum()
    true_classes = sorted(confusion["true"].unique())
    pred_classes = sorted(confusion["predicted"].unique())
    ncols = max(1, min(ncols, len(methods)))
    nrows = -(-len(methods) // ncols)
    row_px, gap_px = max(70, 24 * len(true_classes)), 60  # a panel's height and the room for the next title
    grid_px = nrows * row_px + (nrows - 1) * gap_px
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=methods, shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.03, vertical_spacing=gap_px / grid_px if nrows > 1 else 0.0)
    xs = [_class_label(c, class_names) for c in pred_classes]
    ys = [_class_label(c, class_names) for c in true_classes]
    for i, m in enumerate(methods):
        grid = counts.loc[m].unstack("predicted").reindex(index=true_classes, columns=pred_classes).fillna(0)
        n = grid.sum(axis=1).replace(0, np.nan)
        share = grid.div(n, axis=0).fillna(0.0).to_numpy()
        fig.add_trace(go.Heatmap(z=share, x=xs, y=ys, coloraxis="coloraxis", customdata=grid.to_numpy(),
                                 hovertemplate=f"{m}<br>true %{{y}} → predicted %{{x}}<br>"
                                               "share %{z:.2f} (%{customdata} samples)<extra></extra>"),
                      row=i // ncols + 1, col=i % ncols + 1)
    fig.update_xaxes(type="category", title_text="")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(title=title, coloraxis={"colorscale": "Blues", "cmin": 0.0, "cmax": 1.0,
                                              "colorbar": {"title": "share"}},
                      height=grid_px + 150)
    return fig


# -- summary radar -----------------------------------------------------------------------------------------------
CLOSENESS = ("forget_acc", "retain_acc", "test_acc", "forget_entropy", "mia_efficacy", "mia_loss_acc", "mia_asr")
FRACTION_METRICS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy", "mia_loss_acc", "mia_asr")


def closeness(summary: pd.DataFrame, metrics: tuple[str, ...] = CLOSENESS) -> pd.DataFrame:
    """Closeness of each method to retrain per metric, in [0, 1] (1 = retrain's value).

    ``1 - |value - retrain|`` for metrics that are fractions; for the others (entropy, nats)
    ``1 - |value - retrain| / largest |gap|`` among the methods. Columns: method, metric, closeness, value.
    """
    cols = ["method", "metric", "closeness", "value"]
    if summary.empty or "retrain" not in set(summary["method"]):
        return pd.DataFrame(columns=cols)
    s = summary.set_index("method")
    ref = s.loc["retrain"]
    rows = []
    for m in metrics:
        if m not in s.columns or pd.isna(ref[m]) or s[m].notna().sum() < 2:
            continue
        gap = (s[m] - ref[m]).abs()
        scale = 1.0 if m in FRACTION_METRICS else (gap.max() if gap.max() > 0 else 1.0)
        for method, g in gap.items():
            if pd.notna(g):
                rows.append({"method": method, "metric": m, "closeness": float(max(0.0, 1.0 - g / scale)),
                             "value": float(s.loc[method, m])})
    return pd.DataFrame(rows, columns=cols)


def closeness_radar(summary: pd.DataFrame, order: list[str] | None = None) -> go.Figure:
    """Radar of :func:`closeness` per method (retrain is the outer ring by construction)."""
    title = "Closeness to retrain per metric (1 = retrain's value)"
    subtitle = "1 − |value − retrain| per metric; entropy divided by its largest gap"
    df = closeness(summary)
    if df.empty:
        return _empty(title, "needs retrain and at least one other method")
    metrics = list(dict.fromkeys(df["metric"]))
    present = list(dict.fromkeys(df["method"]))
    methods = [m for m in (order or []) if m in present] + [m for m in present if m not in (order or [])]
    fig = go.Figure()
    for m in methods:
        d = df[df["method"] == m].set_index("metric").reindex(metrics)
        r = list(d["closeness"]) + [d["closeness"].iloc[0]]
        fig.add_trace(go.Scatterpolar(r=r, theta=metrics + metrics[:1], name=m, mode="lines+markers",
                                      line={"dash": "dash", "color": "grey"} if m == "retrain" else None,
                                      customdata=list(d["value"]) + [d["value"].iloc[0]],
                                      hovertemplate=f"{m}<br>%{{theta}}: %{{customdata:.3f}} "
                                                    "(closeness %{r:.2f})<extra></extra>"))
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}}, height=HEIGHT + 120,
                      polar={"radialaxis": {"range": [0, 1.0]}}, legend_title_text="")
    return fig


# -- gallery -----------------------------------------------------------------------------------------------------
def gallery(images: list[np.ndarray], captions: list[str], hover: list[str] | None = None,
            ncols: int = 6, title: str = "Forget-set samples") -> go.Figure:
    """A grid of images (``uint8`` H x W grey or H x W x 3) with a caption above each and details on hover."""
    if not images:
        return _empty(title, "no forget samples to show")
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    lines = max(c.count("<br>") for c in captions) + 1
    row_px, gap_px = 150, 16 * lines + 12  # an image's height and the room for the captions of the next row
    grid_px = nrows * row_px + (nrows - 1) * gap_px
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=captions, horizontal_spacing=0.02,
                        vertical_spacing=gap_px / grid_px if nrows > 1 else 0.0)
    for i, img in enumerate(images):
        rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
        fig.add_trace(go.Image(z=rgb, hovertemplate=(hover[i] if hover else captions[i]) + "<extra></extra>"),
                      row=i // ncols + 1, col=i % ncols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=11)
    fig.update_layout(title=title, height=grid_px + 100 + 16 * lines, margin={"l": 10, "r": 10, "t": 80 + 16 * lines})
    return fig


# -- several comparisons -----------------------------------------------------------------------------------------
def combined_accuracy(combined: pd.DataFrame) -> go.Figure:
    """Forget / retain / test accuracy per method, one bar per comparison, one panel per metric."""
    rows = []
    for _, r in combined.iterrows():
        for m in ACCURACY:
            if m in combined.columns and pd.notna(r[m]):
                std = r.get(f"{m}_std", np.nan)
                rows.append({"comparison": r["comparison"], "method": r["method"], "metric": m, "value": float(r[m]),
                             "std": float(std) if pd.notna(std) else 0.0})
    df = pd.DataFrame(rows, columns=["comparison", "method", "metric", "value", "std"])
    if df.empty:
        return _empty("Accuracy across comparisons")
    methods = list(dict.fromkeys(df["method"]))
    methods = [m for m in ("retrain", "original") if m in methods] + [m for m in methods if m not in ("retrain",
                                                                                                   "original")]
    fig = px.bar(df, x="method", y="value", color="comparison", barmode="group", error_y="std", facet_row="metric",
                 category_orders={"metric": list(ACCURACY), "method": methods},
                 title="Accuracy across comparisons (mean ± std over seeds)",
                 labels={"value": "", "method": ""})
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(height=3 * 230 + 120, legend={"orientation": "h", "y": -0.12}, legend_title_text="")
    return fig
