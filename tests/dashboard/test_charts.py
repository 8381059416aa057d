"""Charts are pure functions: a summary table in, a plotly figure out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import charts
from dashboard.results_view import summary_display


def _summary(seeds: int = 2) -> pd.DataFrame:
    rows = []
    for i, m in enumerate(["original", "retrain", "finetune"]):
        rows.append({"method": m, "seeds": seeds, "forget_acc": 1.0 - 0.4 * i, "retain_acc": 0.99, "test_acc": 0.9,
                     "mia_efficacy": 0.1 * i, "mia_loss_acc": 0.5 + 0.05 * i, "mia_asr": 0.55,
                     "gap_to_retrain": 0.1 * (i != 1), "unlearn_seconds": np.nan if m == "original" else 1.0 + i,
                     "speedup_vs_retrain": np.nan if m == "original" else 2.0 / (1.0 + i)})
    df = pd.DataFrame(rows)
    for c in [c for c in df.columns if c not in ("method", "seeds")]:
        df[f"{c}_std"] = 0.01 if seeds > 1 else np.nan
    return df


def test_accuracy_bars_group_three_metrics_with_error_bars():
    fig = charts.accuracy_bars(_summary())
    assert isinstance(fig, go.Figure)
    assert {t.name for t in fig.data} == {"forget_acc", "retain_acc", "test_acc"}
    assert all(t.error_y.array is not None for t in fig.data)
    assert list(fig.data[0].x) == ["original", "retrain", "finetune"]


def test_mia_panel_draws_the_ideal_line_for_two_metrics():
    fig = charts.mia_panel(_summary())
    assert len(fig.data) == 3
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(lines) == 2 and all(s.y0 == 0.5 for s in lines)


def test_entropy_time_and_tradeoff():
    samples = pd.DataFrame({"method": ["a"] * 5 + ["b"] * 5, "seed": 0, "entropy": np.linspace(0, 2, 10)})
    assert len(charts.entropy_distribution(samples).data) == 2
    t = charts.time_chart(_summary())
    assert t.layout.yaxis.type == "log" and t.layout.yaxis2.type == "log"
    assert list(t.data[0].x) == ["retrain", "finetune"]  # original has no unlearning time
    s = charts.tradeoff_scatter(_summary())
    assert len(s.data) == 3


def test_charts_survive_empty_tables():
    empty = pd.DataFrame(columns=["method"])
    for fn in (charts.accuracy_bars, charts.mia_panel, charts.time_chart, charts.tradeoff_scatter):
        assert isinstance(fn(empty), go.Figure)
    assert isinstance(charts.entropy_distribution(pd.DataFrame(columns=["method", "seed", "entropy"])), go.Figure)


def test_summary_display_mean_std_and_gaps():
    shown = summary_display(_summary()).set_index("method")
    assert list(shown.index) == ["retrain", "original", "finetune"]
    assert shown.loc["finetune", "forget_acc"] == "0.200 ± 0.010"
    gaps = summary_display(_summary(), gaps=True).set_index("method")
    assert gaps.loc["finetune", "forget_acc"] == "-0.400"
    assert gaps.loc["retrain", "forget_acc"] == "0.600 ± 0.010"  # the reference keeps its values
    one = summary_display(_summary(seeds=1)).set_index("method")
    assert one.loc["finetune", "forget_acc"] == "0.200"
