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
MIA = ("mia_efficacy", "mia_loss_acc", "mia_asr")
MIA_IDEAL_HALF = ("mia_loss_acc", "mia_asr")
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
    """One panel per MIA metric (mean ± std); the ideal 0.5 drawn where 0.5 means "cannot tell"."""
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
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(title="Membership inference (mean ± std)", height=HEIGHT)
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
