"""Charts are pure functions: a summary table in, a plotly figure out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import charts
from dashboard.labels import metric_label, metric_target
from dashboard.results_view import summary_display

METHODS12 = ["original", "retrain", "finetune", "gradient_ascent", "neggrad_plus", "random_label", "udru", "ugradsl",
             "ugradsl_plus", "pgu", "ppu", "laf"]


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


def _summary12(std: float = 0.1) -> pd.DataFrame:
    """The default comparison's shape: 12 methods, four of them at the original's point, class forgetting."""
    rows = []
    for i, m in enumerate(METHODS12):
        forgot = m not in ("original", "finetune", "gradient_ascent", "neggrad_plus")
        rows.append({"method": m, "seeds": 3, "forget_acc": 0.0 if forgot else 1.0, "retain_acc": 1.0,
                     "test_acc": 0.88 if forgot else 0.978, "test_retain_acc": 0.97 - 0.002 * i * forgot,
                     "forget_entropy": 0.1 * i, "mia_efficacy": 1.0 * forgot, "mia_loss_acc": 0.5 + 0.03 * i,
                     "mia_asr": 0.3 + 0.02 * i, "mia_whitebox": 0.2 + 0.05 * i, "mia_shadow_auc": 0.9 - 0.03 * i,
                     "gap_to_retrain": 0.004 * i if forgot else 0.52,
                     "unlearn_seconds": np.nan if m == "original" else 0.05 * (i + 1) ** 2,
                     "speedup_vs_retrain": np.nan if m == "original" else 0.2 / (0.05 * (i + 1) ** 2)})
    df = pd.DataFrame(rows)
    for c in [c for c in df.columns if c not in ("method", "seeds")]:
        df[f"{c}_std"] = std
    return df


def _shows_every_method(axis, methods=METHODS12) -> bool:
    """Every method named on the axis (explicit ticks: plotly skips category labels when narrow), readable."""
    level = axis.tickangle == 0 or tuple(axis.autotickangles or ()) == (0, -45, -90)  # tilted only when narrow
    return (axis.tickmode == "array" and list(axis.tickvals) == list(methods) and len(axis.ticktext) == len(methods)
            and axis.automargin is True and level)


def test_accuracy_bars_group_three_metrics_with_error_bars():
    fig = charts.accuracy_bars(_summary())
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["Forget acc.", "Retain acc.", "Test acc."]
    assert all(t.error_y.array is not None for t in fig.data)
    assert list(fig.data[0].x) == ["original", "retrain", "finetune"]


def test_accuracy_bars_leave_room_for_error_bars_and_name_all_12_methods():
    fig = charts.accuracy_bars(_summary12(std=0.1))
    assert fig.layout.yaxis.range[1] > 1.0 + 0.1  # a bar at 1.0 ± 0.1 is not cut (was fixed at 1.05)
    assert _shows_every_method(fig.layout.xaxis)
    assert "<b>retrain</b>" in fig.layout.xaxis.ticktext


def test_method_styles_distinct_with_retrain_and_original_marked():
    styles = charts.method_styles(METHODS12)
    assert len({c for c, _ in styles.values()}) == 12 and len({s for _, s in styles.values()}) == 12
    assert styles["retrain"] == ("#000000", "star") and styles["original"][0] == "#8C8C8C"
    assert all(c in charts.px.colors.qualitative.Dark24 for m, (c, _) in styles.items() if m not in charts.REFERENCES)
    # a method keeps its colour whatever the order of the two references
    assert charts.method_styles(["retrain", *[m for m in METHODS12 if m != "retrain"]]) == styles


def test_mia_panel_marks_each_attacks_ideal():
    summary = _summary()
    fig = charts.mia_panel(summary)
    assert len(fig.data) == 3
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    # 0.5 for the two "cannot tell" attacks, retrain's value for MIA-efficacy
    assert sorted(s.y0 for s in lines) == sorted([0.5, 0.5, float(summary.set_index("method").loc["retrain",
                                                                                                  "mia_efficacy"])])


def test_mia_panels_say_which_ideal_counts_as_the_catalogue_does():
    summary = _summary12()
    fig = charts.mia_panel(summary)
    retrain = summary.set_index("method").loc["retrain"]
    for trace, title in zip(fig.data, [a.text for a in fig.layout.annotations], strict=True):
        key = next(m for m in charts.MIA if metric_label(m) == trace.name)
        assert metric_label(key) in title
        (line,) = [s for s in fig.layout.shapes if s.type == "line" and s.yref == trace.yaxis]
        if metric_target(key).startswith("0.5"):
            assert "ideal 0.5" in title and line.y0 == 0.5 and line.line.dash == "dash"
        else:
            assert "ideal = retrain" in title and line.y0 == retrain[key] and line.line.dash == "dot"
        assert metric_target(key) in trace.hovertemplate
    assert "0.5 = attacker cannot tell" in fig.layout.title.subtitle.text


def test_mia_panel_has_headroom_and_room_for_12_method_names():
    fig = charts.mia_panel(_summary12(std=0.1))
    axes = [fig.layout[k] for k in fig.layout if k.startswith("yaxis")]
    assert all(a.range[1] > 1.1 for a in axes)  # mia_efficacy 1.0 ± 0.1 fits (was cut at 1.05)
    xaxes = [fig.layout[t.xaxis.replace("x", "xaxis")] for t in fig.data]
    assert len(xaxes) == 5 and all(_shows_every_method(a) for a in xaxes)
    assert all(a.domain[1] - a.domain[0] > 0.28 for a in xaxes)  # at most 3 panels a row: ~300 px each at 1100
    assert len({round(a.domain[0], 3) for a in xaxes}) == 3


def test_entropy_time_and_tradeoff():
    samples = pd.DataFrame({"method": ["a"] * 5 + ["b"] * 5, "seed": 0, "entropy": np.linspace(0, 2, 10)})
    assert len(charts.entropy_distribution(samples).data) == 2
    t = charts.time_chart(_summary())
    assert t.layout.yaxis.type == "log"
    assert list(t.data[0].x) == ["retrain", "finetune"]  # original has no unlearning time
    sp = charts.speedup_chart(_summary())
    assert sp.layout.yaxis.type == "log" and list(sp.data[0].x) == ["retrain", "finetune"]
    s = charts.tradeoff_scatter(_summary())
    assert len(s.data) == 3


def test_log_ticks_are_readable_powers_of_ten():
    assert charts.log_ticks(0.03, 3.0) == pytest.approx([0.05, 0.1, 0.2, 0.5, 1, 2])  # under 3 decades: 1-2-5
    assert charts.log_ticks(0.03, 300.0) == pytest.approx([0.1, 1, 10, 100])
    assert charts.log_ticks(1e-3, 1e6) == pytest.approx([1e-3, 1e-1, 10, 1e3, 1e5])  # wide: every other decade
    assert len(charts.log_ticks(0.3, 0.9)) >= 2


def test_time_chart_ticks_headroom_and_method_names():
    s = _summary12(std=0.0)
    s["unlearn_seconds_std"] = s["unlearn_seconds"] * 0.5
    fig = charts.time_chart(s)
    y = fig.layout.yaxis
    assert y.type == "log" and y.tickmode == "array"
    assert {round(v / 10 ** np.floor(np.log10(v)), 6) for v in y.tickvals} <= {1, 2, 5}  # 1-2-5 below 3 decades
    assert "1 s" in y.ticktext and "0.1 s" in y.ticktext and y.minor.showgrid is False
    top = float((s["unlearn_seconds"] * 1.5).max())
    assert y.range[1] > np.log10(top) + 0.05  # bar + error bar below the top, in log units
    assert 10 ** y.range[0] < s["unlearn_seconds"].min() * 0.5  # every bar's bottom (value - std) is inside
    assert _shows_every_method(fig.layout.xaxis, METHODS12[1:])
    assert fig.layout.yaxis.title.text == "Time (s)" and len(fig.layout.annotations) == 0  # one panel, no titles


def test_speedup_chart_ticks_in_times_and_the_one_line():
    s = _summary12()
    fig = charts.speedup_chart(s)
    y = fig.layout.yaxis
    assert "1×" in y.ticktext and all(t.endswith("×") for t in y.ticktext)
    assert y.range[0] < 0 < y.range[1]  # 1× (retrain) is on the chart
    assert y.range[1] > np.log10(float((s["speedup_vs_retrain"] + 0.1).max()))
    assert [sh.y0 for sh in fig.layout.shapes] == [1.0]
    assert _shows_every_method(fig.layout.xaxis, METHODS12[1:])


def test_tradeoff_uses_the_remaining_classes_accuracy_and_no_stacked_labels():
    s = _summary12()
    fig = charts.tradeoff_scatter(s)
    assert "remaining classes" in fig.layout.yaxis.title.text  # not test_acc: forgetting a class is no loss
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == set(METHODS12)
    assert by_name["retrain"].y[0] == s.set_index("method").loc["retrain", "test_retain_acc"]
    assert all(t.mode == "markers" and t.text is None for t in fig.data)  # no text piled on the points
    assert len({(t.marker.color, t.marker.symbol) for t in fig.data}) == 12 and fig.layout.showlegend is not False
    assert [t.name for t in sorted(fig.data, key=lambda t: t.legendrank)] == METHODS12  # legend in table order
    # the four methods at the original's point are named (subtitle and each one's hover)
    assert "original = finetune = gradient_ascent = neggrad_plus" in fig.layout.title.subtitle.text
    assert "same point: original, gradient_ascent, neggrad_plus" in by_name["finetune"].hovertemplate
    assert "unlearning time: 0.2 s" in by_name["retrain"].hovertemplate
    # without the remaining classes' accuracy: test accuracy, and the axis says so
    t = charts.tradeoff_scatter(s.assign(test_retain_acc=np.nan))
    assert t.layout.yaxis.title.text == "Test acc."
    assert {tr.name: tr.y[0] for tr in t.data} == dict(zip(s["method"], s["test_acc"], strict=True))
    assert charts.utility_metric(s.drop(columns=["test_retain_acc"])) == "test_acc"


def test_charts_survive_empty_tables():
    empty = pd.DataFrame(columns=["method"])
    for fn in (charts.accuracy_bars, charts.mia_panel, charts.time_chart, charts.speedup_chart,
               charts.tradeoff_scatter, charts.closeness_heatmap):
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
    assert [a.text for a in fig.layout.annotations] == ["<b>retrain</b>", "laf"]  # retrain marked, as on axes
    retrain, laf = fig.data
    np.testing.assert_allclose(np.asarray(retrain.z), [[7 / 8, 1 / 8]])  # summed over seeds, then row-normalised
    np.testing.assert_allclose(np.asarray(laf.z), [[0.0, 1.0]])
    assert list(retrain.x) == ["0", "2"] and list(retrain.y) == ["1"]
    assert list(fig.layout.xaxis.tickvals) == ["0", "2"]  # every class named, however narrow the panel
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
    assert charts.closeness(s[s["method"] != "retrain"]).empty


def test_closeness_heatmap_rows_methods_columns_metrics_colour_closeness_text_value():
    s = _summary()
    s["forget_entropy"] = [0.1, 0.5, 1.3]
    order = ["retrain", "original", "finetune"]
    fig = charts.closeness_heatmap(s, order)
    (hm,) = fig.data
    assert isinstance(hm, go.Heatmap) and list(hm.y) == order
    metrics = list(hm.x)
    assert metrics == [m for m in charts.CLOSENESS if m in s.columns]
    c = charts.closeness(s).set_index(["method", "metric"])
    np.testing.assert_allclose(np.asarray(hm.z, dtype=float),
                               [[c.loc[(me, mt), "closeness"] for mt in metrics] for me in order])
    assert hm.text[2][metrics.index("forget_acc")] == "0.200" and hm.zmin == 0 and hm.zmax == 1
    hover = hm.hovertext[2][metrics.index("forget_acc")]
    assert "Forget acc.: 0.200" in hover and "retrain 0.600" in hover and "closeness 0.60" in hover
    assert [t.replace("<br>", " ") for t in fig.layout.xaxis.ticktext] == [metric_label(m) for m in metrics]
    assert "closeness" in fig.layout.title.text.lower() and "retrain" in fig.layout.title.text
    assert _shows_every_method(fig.layout.yaxis, order) and fig.layout.margin.l >= 8 * len("original")
    assert not hasattr(charts, "closeness_radar")  # the radar's 12 overlapping polygons were unreadable
    assert "needs retrain" in charts.closeness_heatmap(s[s["method"] != "retrain"]).layout.annotations[0].text


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
    assert {ann.text for ann in fig.layout.annotations} == {metric_label(m) for m in charts.ACCURACY}


def test_combined_accuracy_12_methods_headroom_and_palette():
    frames = [_summary12(std=0.1).assign(comparison=f"comparison {i}") for i in range(5)]
    fig = charts.combined_accuracy(pd.concat(frames))
    order = ["retrain", "original", *[m for m in METHODS12 if m not in ("retrain", "original")]]
    bottom = fig.layout.xaxis  # px numbers the facet rows from the bottom: xaxis is the lowest panel
    assert _shows_every_method(bottom, order) and bottom.showticklabels is True
    assert all(fig.layout[k].range[1] > 1.1 for k in fig.layout if k.startswith("yaxis"))
    assert len({t.marker.color for t in fig.data}) == 5 and {t.marker.color for t in fig.data} <= set(charts.PALETTE)


def test_png_export_config():
    cfg = charts.png_config("accuracy")
    assert cfg["displayModeBar"] is True
    assert cfg["toImageButtonOptions"] == {"format": "png", "filename": "accuracy", "scale": 2}
