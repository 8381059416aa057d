"""Charts are pure functions: a summary table in, a plotly figure out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

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


def test_mia_panel_marks_each_attacks_ideal():
    summary = _summary()
    fig = charts.mia_panel(summary)
    assert len(fig.data) == 3
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    # 0.5 for the two "cannot tell" attacks, retrain's value for MIA-efficacy
    assert sorted(s.y0 for s in lines) == sorted([0.5, 0.5, float(summary.set_index("method").loc["retrain",
                                                                                                  "mia_efficacy"])])


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


def _per_class() -> pd.DataFrame:
    rows = []
    for m, acc in (("retrain", 0.0), ("finetune", 1.0)):
        for seed in (0, 1):
            for c in range(3):
                a = acc if c == 1 else 0.9 + 0.05 * seed
                rows.append({"method": m, "seed": seed, "split": "test", "class": c, "n": 20, "correct": int(20 * a),
                             "accuracy": a})
    return pd.DataFrame(rows)


def test_per_class_heatmap_averages_seeds_and_marks_forgotten_classes():
    fig = charts.per_class_accuracy(_per_class(), forget_classes=(1,), order=["retrain", "finetune"])
    (hm,) = fig.data
    assert list(hm.y) == ["retrain", "finetune"] and list(hm.x) == ["0", "★ 1", "2"]
    np.testing.assert_allclose(np.asarray(hm.z), [[0.925, 0.0, 0.925], [0.925, 1.0, 0.925]])
    (rect,) = [s for s in fig.layout.shapes if s.type == "rect"]
    assert (rect.x0, rect.x1) == (0.5, 1.5)
    named = charts.per_class_accuracy(_per_class(), (), class_names=("cat", "dog", "eel"))
    assert list(named.data[0].x) == ["0 cat", "1 dog", "2 eel"]
    empty = charts.per_class_accuracy(_per_class(), split="train_forget")
    assert "no finished runs" in empty.layout.annotations[0].text


def test_forget_confusion_is_row_normalised_per_method():
    conf = pd.DataFrame([{"method": m, "seed": s, "true": t, "predicted": p, "count": n}
                         for m, s, t, p, n in [("retrain", 0, 1, 0, 3), ("retrain", 0, 1, 2, 1),
                                               ("retrain", 1, 1, 0, 4), ("retrain", 1, 1, 2, 0), ("laf", 0, 1, 0, 0),
                                               ("laf", 0, 1, 2, 5), ("laf", 1, 1, 0, 0), ("laf", 1, 1, 2, 5)]])
    fig = charts.forget_confusion(conf, order=["retrain", "laf"])
    assert [a.text for a in fig.layout.annotations] == ["retrain", "laf"]
    retrain, laf = fig.data
    np.testing.assert_allclose(np.asarray(retrain.z), [[7 / 8, 1 / 8]])  # summed over seeds, then row-normalised
    np.testing.assert_allclose(np.asarray(laf.z), [[0.0, 1.0]])
    assert list(retrain.x) == ["0", "2"] and list(retrain.y) == ["1"]
    assert fig.layout.coloraxis.cmax == 1.0


def test_closeness_is_one_at_retrain_and_hand_computed_elsewhere():
    s = _summary()
    s["forget_entropy"] = [0.1, 0.5, 1.3]
    df = charts.closeness(s).set_index(["method", "metric"])["closeness"]
    assert df[("retrain", "forget_acc")] == 1.0 and df[("retrain", "forget_entropy")] == 1.0
    assert df[("original", "forget_acc")] == pytest.approx(1 - abs(1.0 - 0.6))  # a fraction: 1 - |gap|
    assert df[("finetune", "forget_acc")] == pytest.approx(1 - abs(0.2 - 0.6))
    assert df[("original", "forget_entropy")] == pytest.approx(1 - 0.4 / 0.8)  # scaled by the largest gap (0.8)
    assert df[("finetune", "forget_entropy")] == 0.0
    fig = charts.closeness_radar(s, order=["retrain", "original", "finetune"])
    assert [t.name for t in fig.data] == ["retrain", "original", "finetune"]
    assert all(t.r[0] == t.r[-1] for t in fig.data)  # closed polygons
    assert "closeness" in fig.layout.title.text.lower() and "retrain" in fig.layout.title.text
    assert charts.closeness(s[s["method"] != "retrain"]).empty


def test_gallery_turns_grey_images_into_rgb_panels():
    imgs = [np.full((8, 8), 10 * i, dtype=np.uint8) for i in range(5)] + [np.zeros((4, 4, 3), dtype=np.uint8)]
    fig = charts.gallery(imgs, [f"#{i}" for i in range(6)], ncols=4)
    assert len(fig.data) == 6 and all(isinstance(t, go.Image) for t in fig.data)
    assert np.asarray(fig.data[2].z).shape == (8, 8, 3) and np.asarray(fig.data[2].z)[0, 0, 0] == 20
    assert [a.text for a in fig.layout.annotations] == [f"#{i}" for i in range(6)]
    assert isinstance(charts.gallery([], []), go.Figure)


def test_combined_accuracy_one_bar_per_comparison_and_panel_per_metric():
    a, b = _summary().assign(comparison="A"), _summary().assign(comparison="B")
    fig = charts.combined_accuracy(pd.concat([a, b]))
    assert {t.name for t in fig.data} == {"A", "B"}
    assert {ann.text for ann in fig.layout.annotations} == set(charts.ACCURACY)


def test_png_export_config():
    cfg = charts.png_config("accuracy")
    assert cfg["displayModeBar"] is True
    assert cfg["toImageButtonOptions"] == {"format": "png", "filename": "accuracy", "scale": 2}
