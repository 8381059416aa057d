"""Plotly figures of a comparison; each a pure function: dataframe in, figure out.

``summary`` is the engine's summary table: one row per method, columns ``<metric>`` (mean over seeds)
and ``<metric>_std``. Every chart names metrics with :mod:`dashboard.labels`, gives each method the same colour
and symbol (:func:`method_styles`; retrain black, original grey) and shows every method's name on its axis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.labels import SCORE_LABELS, metric_ideal, metric_label, metric_target

ACCURACY = ("forget_acc", "retain_acc", "test_acc")
MIA = ("mia_efficacy", "mia_loss_acc", "mia_asr", "mia_whitebox", "mia_shadow_auc", "mia_efficacy_observed",
       "mia_loss_acc_observed")
HEIGHT = 360
REFERENCES = ("retrain", "original")

# -- colours, symbols and the method axis ------------------------------------------------------------------------
# Dark24 without its near-black and greys, which mark the two reference methods
PALETTE = tuple(c for c in px.colors.qualitative.Dark24 if c not in ("#222A2A", "#778AAE", "#B2828D"))
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "pentagon", "hexagon", "cross",
           "triangle-left", "triangle-right", "hourglass", "star-square", "circle-x", "diamond-wide", "bowtie",
           "hexagram", "star-diamond", "triangle-ne", "triangle-sw", "square-x", "octagon")
REFERENCE_STYLE = {"retrain": ("#000000", "star"), "original": ("#8C8C8C", "x")}


def method_styles(methods: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``{method: (colour, marker symbol)}``: retrain black star, original grey cross, the others in order
    through a 21-colour qualitative palette (and 21 symbols), so a method keeps its look across charts."""
    out: dict[str, tuple[str, str]] = {}
    others = [m for m in dict.fromkeys(methods) if m not in REFERENCE_STYLE]
    for i, m in enumerate(others):
        out[m] = (PALETTE[i % len(PALETTE)], SYMBOLS[i % len(SYMBOLS)])
    return {m: REFERENCE_STYLE.get(m) or out[m] for m in dict.fromkeys(methods)}


def _colours(methods: Iterable[str]) -> dict[str, str]:
    return {m: c for m, (c, _) in method_styles(methods).items()}


def _tick(method: str) -> str:
    return {"retrain": "<b>retrain</b>", "original": "<i>original</i>"}.get(method, method)


AUTO_ANGLES = (0, -45, -90)  # the first that keeps the names apart: level when wide, steeper when narrow


def _method_axis(methods: Sequence[str], angle: int | None = None) -> dict:
    """A category axis that shows every method (no labels skipped when narrow), retrain bold, original italic;
    the names level, at -45° or upright, whichever first keeps them apart (``angle`` fixes it)."""
    tilt = {"tickangle": angle} if angle is not None else {"autotickangles": list(AUTO_ANGLES)}
    return {"type": "category", "tickmode": "array", "tickvals": list(methods), "ticktext": [_tick(m) for m in methods],
            "automargin": True, "categoryorder": "array", "categoryarray": list(methods), **tilt}


def _left(methods: Iterable[str]) -> int:
    """A left margin that holds the method names of a y axis (automargin can measure before the font loads)."""
    return 30 + 8 * max((len(m) for m in methods), default=0)


def _order(present: Iterable[str], order: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(present))
    return [m for m in (order or []) if m in present] + [m for m in present if m not in (order or [])]


# -- axes with room for the error bars ---------------------------------------------------------------------------
def _top(values: Iterable[float], floor: float = 1.0, pad: float = 0.08) -> float:
    """Upper end of a linear axis: ``pad`` above the highest bar + error (at least above ``floor``)."""
    v = [float(x) for x in values if pd.notna(x)]
    return max([floor, *v]) + pad


def _num(v: float) -> str:
    if v >= 1e6 or v < 1e-3:
        return f"10<sup>{round(math.log10(v))}</sup>"
    return f"{v:,g}"


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values between ``lo`` and ``hi`` (> 0): powers of ten; with 2 and 5 between them when the range
    spans under three decades; every other power of ten above seven decades."""
    decades = math.log10(hi) - math.log10(lo)
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    step = 2 if decades > 7 else 1
    mults = (1,) if decades >= 3 else (1, 2, 5)
    ticks = [m * 10.0 ** e for e in range(a, b + 1, step) for m in mults]
    ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
    if len(ticks) < 2:
        ticks = [m * 10.0 ** e for e in range(a, b + 1) for m in range(1, 10)
                 if lo * (1 - 1e-9) <= m * 10.0 ** e <= hi * (1 + 1e-9)]
    return ticks


def log_axis(low: Iterable[float], high: Iterable[float], unit: str, include: Sequence[float] = ()) -> dict:
    """A log y axis whose range holds every bar's bottom ``low`` and top ``high`` (value + error) with headroom,
    in log10 units, ticked at :func:`log_ticks` with text like "0.1 s" / "10×" (``unit`` appended)."""
    lows = [float(x) for x in [*low, *include] if pd.notna(x) and x > 0]
    highs = [float(x) for x in [*high, *include] if pd.notna(x) and x > 0]
    a, b = math.log10(min(lows)), math.log10(max(highs))
    span = max(b - a, 0.5)
    rng = [a - 0.1 * span - 0.05, b + 0.12 * span + 0.08]
    ticks = log_ticks(10 ** rng[0], 10 ** rng[1])
    sep = "" if unit == "×" else " "
    return {"type": "log", "range": rng, "tickmode": "array", "tickvals": ticks,
            "ticktext": [f"{_num(t)}{sep}{unit}" for t in ticks], "minor": {"showgrid": False}}


def _std(df: pd.DataFrame, m: str) -> pd.Series:
    return df.get(f"{m}_std", pd.Series(np.nan, index=df.index)).astype(float).fillna(0.0)


def _long(summary: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for _, r in summary.iterrows():
        for m in metrics:
            if m in summary.columns and pd.notna(r[m]):
                std = r.get(f"{m}_std", np.nan)
                rows.append({"method": r["method"], "metric": metric_label(m), "value": float(r[m]),
                             "std": float(std) if pd.notna(std) else 0.0})
    return pd.DataFrame(rows, columns=["method", "metric", "value", "std"])


def _empty(title: str, text: str = "no finished runs") -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, height=HEIGHT, xaxis_visible=False, yaxis_visible=False)
    return fig


def _metric_colours(metrics: Sequence[str]) -> dict[str, str]:
    return dict(zip(metrics, px.colors.qualitative.Safe, strict=False))


# -- summary charts ----------------------------------------------------------------------------------------------
def accuracy_bars(summary: pd.DataFrame) -> go.Figure:
    """Grouped bars (mean ± std over seeds) of forget / retain / test accuracy per method."""
    df = _long(summary, ACCURACY)
    if df.empty:
        return _empty("Accuracy")
    names = [metric_label(m) for m in ACCURACY]
    methods = _order(df["method"], list(summary["method"]))
    fig = px.bar(df, x="method", y="value", color="metric", barmode="group", error_y="std",
                 category_orders={"metric": names, "method": methods}, color_discrete_map=_metric_colours(names),
                 title="Accuracy (mean ± std over seeds)", labels={"value": "accuracy", "method": "", "metric": ""})
    fig.update_traces(hovertemplate="%{x}<br>%{fullData.name}: %{y:.3f} ± %{error_y.array:.3f}<extra></extra>")
    fig.update_xaxes(**_method_axis(methods))
    fig.update_layout(height=HEIGHT + 60, yaxis_range=[0, _top(df["value"] + df["std"])], legend_title_text="",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0.0})
    return fig


def _mia_ideal(m: str) -> tuple[str, float | None]:
    """The panel subtitle of MIA metric ``m`` and its fixed ideal (None: the ideal is retrain's value)."""
    ideal = metric_ideal(m)
    return (f"ideal {ideal:g} (cannot tell)", ideal) if ideal is not None else ("ideal = retrain", None)


def mia_panel(summary: pd.DataFrame) -> go.Figure:
    """One panel per MIA metric (mean ± std) with its ideal marked: a dashed line at 0.5 where 0.5 means the
    attacker cannot tell (the catalogue's ``ideal``), otherwise a dotted line at retrain's value."""
    present = tuple(m for m in MIA if m in summary.columns and summary[m].notna().any())
    if not present:
        return _empty("Membership inference")
    ncols = len(present) if len(present) <= 3 else 2 if len(present) == 4 else 3  # >= 300 px a panel at 1100
    nrows = -(-len(present) // ncols)
    row_px, gap_px = 230, 150  # a panel's height; the room for its method names and the next row's titles
    grid_px = nrows * row_px + (nrows - 1) * gap_px
    titles = [f"<b>{metric_label(m)}</b><br><span style='font-size:11px'>{_mia_ideal(m)[0]}</span>"
              for m in present]
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, shared_yaxes=True, horizontal_spacing=0.03,
                        vertical_spacing=gap_px / grid_px if nrows > 1 else 0.0)
    methods = list(summary["method"])
    colours = _colours(methods)
    ref = summary.set_index("method")
    tops = []
    for i, m in enumerate(present):
        row, col = i // ncols + 1, i % ncols + 1
        d = summary[summary[m].notna()]
        std = _std(d, m)
        tops.append((d[m] + std).max())
        fig.add_trace(go.Bar(x=d["method"], y=d[m], error_y={"type": "data", "array": std}, name=metric_label(m),
                             marker_color=[colours[x] for x in d["method"]], showlegend=False,
                             customdata=std, hovertemplate=f"%{{x}}<br>{metric_label(m)}: %{{y:.3f}} ± "
                                                           f"%{{customdata:.3f}}<br>best: {metric_target(m)}"
                                                           "<extra></extra>"), row=row, col=col)
        label, ideal = _mia_ideal(m)
        if ideal is not None:
            fig.add_hline(y=ideal, line_dash="dash", line_color="grey", row=row, col=col)
        elif "retrain" in ref.index and pd.notna(ref.loc["retrain", m]):
            fig.add_hline(y=float(ref.loc["retrain", m]), line_dash="dot", line_color="grey", row=row, col=col)
    fig.update_xaxes(**_method_axis(methods))
    fig.update_yaxes(range=[0, _top(tops)])
    targets = dict.fromkeys(metric_target(m) for m in present)
    subtitle = "; ".join([f"dashed line: {t}" for t in targets if t.startswith(tuple("0123456789"))]
                         + ["dotted line: retrain's value (best: closer to retrain)"]
                         * any(_mia_ideal(m)[1] is None for m in present))
    fig.update_layout(title={"text": "Membership inference (mean ± std)", "subtitle": {"text": subtitle},
                             "yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 20}},
                      height=grid_px + 150 + 110 * nrows, margin={"t": 150})
    return fig


def shadow_roc(curves: pd.DataFrame, order: list[str] | None = None) -> go.Figure:
    """PGU's shadow-model attack: ROC curve per method (its forget outputs vs retrain's; seed 0), with the
    attacker's own ROC on held-out shadow models (its strength) and the chance diagonal."""
    if curves.empty:
        return _empty("Shadow-model MIA ROC", "enable shadow models to see PGU's attack")
    methods = _order(curves["method"], order)
    fig = px.line(curves, x="fpr", y="tpr", color="method",  # linear: tied scores give the diagonal
                  category_orders={"method": methods}, color_discrete_map=_colours(methods),
                  title="Shadow-model MIA (PGU): ROC of the method's forget outputs vs retrain's (seed 0)",
                  labels={"fpr": "false-positive rate", "tpr": "true-positive rate", "method": ""})
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dash", "color": "grey"})
    fig.update_layout(height=HEIGHT + 60, xaxis_range=[0, 1], yaxis_range=[0, 1.02])
    return fig


# -- the Audit tab: low-FPR membership attacks, layer-wise CKA, the feature embedding ------------------------------
ROC_FLOOR = 1e-3  # the log-log ROC's lower edge (FPR / TPR clipped to [ROC_FLOOR, 1] for display)
_PERCENT_TICKS = {1e-3: "0.1%", 1e-2: "1%", 1e-1: "10%", 1.0: "100%"}


def loglog_roc(curves: pd.DataFrame, metric: str, order: list[str] | None = None) -> go.Figure:
    """Log-log ROC of membership attack ``metric`` (Carlini et al. 2022): one line per method (``curves``: columns
    method, fpr, tpr; e.g. :meth:`Results.attack_roc`), both axes from :data:`ROC_FLOOR` to 1 with FPR and TPR
    clipped to that range (a log axis cannot show 0), and the chance diagonal. The low-FPR corner is what matters:
    an attack that finds a few forget samples with confidence is a privacy leak even when its AUC is 0.5."""
    name = metric_label(metric)
    seed = f", seed {int(curves['seed'].iloc[0])}" if not curves.empty and "seed" in curves else ""
    title = f"{name.replace(' AUC', '')}: log-log ROC of the method's forget samples vs retrain's{seed}"
    if curves.empty:
        return _empty(title, "this attack did not run in this comparison")
    methods = _order(curves["method"], order)
    df = curves.assign(fpr=np.clip(curves["fpr"].astype(float), ROC_FLOOR, 1.0),
                       tpr=np.clip(curves["tpr"].astype(float), ROC_FLOOR, 1.0))
    fig = px.line(df, x="fpr", y="tpr", color="method", log_x=True, log_y=True, markers=False,
                  category_orders={"method": methods}, color_discrete_map=_colours(methods), title=title,
                  labels={"fpr": "false-positive rate (log)", "tpr": "true-positive rate (log)", "method": ""})
    fig.update_traces(hovertemplate="%{fullData.name}<br>FPR %{x:.3g}<br>TPR %{y:.3g}<extra></extra>")
    fig.add_trace(go.Scatter(x=[ROC_FLOOR, 1.0], y=[ROC_FLOOR, 1.0], mode="lines", name="chance",
                             line={"dash": "dash", "color": "grey", "width": 1}, hoverinfo="skip"))
    ticks = {"tickmode": "array", "tickvals": list(_PERCENT_TICKS), "ticktext": list(_PERCENT_TICKS.values()),
             "range": [math.log10(ROC_FLOOR) - 0.05, 0.03]}
    fig.update_xaxes(**ticks)
    fig.update_yaxes(**ticks)
    lines = [f"FPR and TPR clipped to [{ROC_FLOOR:g}, 1]; dashed: chance; top left = the attack tells this method "
             "from retrain"]
    same = _same_curves(df, methods)
    if same:
        lines.append("the same curve (drawn over each other): " + " · ".join(" = ".join(g) for g in same))
    fig.update_layout(height=HEIGHT + 120 + 16 * len(lines), legend_title_text="",
                      title={"subtitle": {"text": "<br>".join(lines)}}, margin={"t": 74 + 16 * len(lines)})
    return fig


def _same_curves(df: pd.DataFrame, methods: list[str]) -> list[list[str]]:
    """Groups of two or more methods whose (clipped) curves are identical, so one line hides the others."""
    groups: dict[bytes, list[str]] = {}
    for m in methods:
        d = df[df["method"] == m]
        groups.setdefault(np.round(d[["fpr", "tpr"]].to_numpy(dtype=np.float64), 9).tobytes(), []).append(m)
    return [g for g in groups.values() if len(g) > 1]


def layer_cka(cka: pd.DataFrame, order: list[str] | None = None) -> go.Figure:
    """Layer-wise linear CKA on the forget set (``cka``: columns method, reference, layer, depth, cka; e.g.
    :meth:`Results.layer_cka`): x = layer in forward order, one line per method, one panel per reference
    ("to retrain", "to the original"). Forgetting that reaches the features lifts CKA to retrain and lowers CKA to
    the original in the late layers."""
    seed = f" (seed {int(cka['seed'].iloc[0])})" if not cka.empty and "seed" in cka else ""
    title = f"Layer-wise CKA on the forget set{seed}: 1 = the same features"
    if cka.empty:
        return _empty(title, "the representation audit did not run in this comparison")
    methods = _order(cka["method"], order)
    layers = list(dict.fromkeys(cka.sort_values("depth", kind="stable")["layer"]))
    refs = [r for r in ("to retrain", "to the original") if r in set(cka["reference"])]
    refs += [r for r in dict.fromkeys(cka["reference"]) if r not in refs]
    fig = px.line(cka, x="layer", y="cka", color="method", facet_col="reference", markers=True,
                  category_orders={"layer": layers, "reference": refs, "method": methods},
                  color_discrete_map=_colours(methods), title=title,
                  labels={"layer": "layer (input → output)", "cka": "linear CKA", "method": "", "reference": ""})
    fig.update_traces(hovertemplate="%{fullData.name}<br>layer %{x}<br>CKA %{y:.3f}<extra></extra>")
    fig.for_each_annotation(lambda a: a.update(text=f"<b>CKA {a.text.split('=')[-1]}</b>"))
    low = float(cka["cka"].min()) if cka["cka"].notna().any() else 0.0
    fig.update_yaxes(range=[max(0.0, low - 0.05), 1.02])
    fig.update_xaxes(type="category", tickangle=-45, automargin=True)
    fig.update_layout(height=HEIGHT + 120, legend_title_text="")
    return fig


EMBEDDING_COLOURS = {"retain": "#B0B0B0", "forget": "#D62728"}


def embedding_scatter(points: pd.DataFrame, order: list[str] | None = None, ncols: int = 3) -> go.Figure:
    """The representation audit's 2-D embedding (PCA of each model's penultimate features; ``points``: columns
    method, x, y, group = forget / retain; e.g. :meth:`Results.embedding`): one panel per method (wrapped,
    ``ncols`` a row), forget samples red over retain samples grey. Each panel has its own axes (each model's own
    PCA). After class forgetting, retrain's forget samples mix into the other classes' clusters."""
    seed = f" (seed {int(points['seed'].iloc[0])})" if not points.empty and "seed" in points else ""
    title = f"Feature embedding{seed}: 2-D PCA of each model's penultimate features, forget vs retain samples"
    if points.empty:
        return _empty(title, "the representation audit did not run in this comparison")
    methods = _order(points["method"], order)
    ncols = max(1, min(ncols, len(methods)))
    nrows = -(-len(methods) // ncols)
    fig = px.scatter(points, x="x", y="y", color="group", facet_col="method", facet_col_wrap=ncols,
                     category_orders={"method": methods, "group": ["retain", "forget"]},
                     color_discrete_map=EMBEDDING_COLOURS, opacity=0.6, render_mode="svg", title=title,
                     facet_row_spacing=min(0.12, 0.5 / nrows), facet_col_spacing=0.04,
                     labels={"x": "", "y": "", "group": "sample", "method": ""})
    fig.update_traces(marker={"size": 4}, hovertemplate="%{fullData.name} sample<extra></extra>")
    fig.update_xaxes(matches=None, showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(matches=None, showticklabels=False, showgrid=False, zeroline=False)
    fig.for_each_annotation(lambda a: a.update(text=_tick(a.text.split("=")[-1])))
    fig.update_layout(height=110 + 300 * nrows, legend={"title_text": "", "itemsizing": "constant"})
    return fig


def membership_heatmap(samples: pd.DataFrame, column: str, order: list[str] | None = None) -> go.Figure:
    """Per-example membership score (``column`` of the forget-sample table: ulira_score, rmia_score or
    shadow_score) of every audited forget sample (rows, sorted by the mean score over methods, highest first:
    the least forgotten on top) and method (columns), first seed. Higher = the model looks like one that
    unlearned the sample rather than one never trained on it, i.e. the sample is not forgotten. U-LiRA's log
    likelihood ratio is coloured around 0 (cannot tell), clipped at its 98th percentile of |score|."""
    label = SCORE_LABELS.get(column, column)
    title = f"Membership score per forget sample and method ({label}"
    have = samples.dropna(subset=[column]) if column in samples else samples.iloc[0:0]
    if have.empty:
        return _empty(title + ")", "no per-example scores in this comparison")
    seed = int(have["seed"].min())
    have = have[have["seed"] == seed]
    title += f", seed {seed})"
    grid = have.pivot_table(index="index", columns="method", values=column, aggfunc="first")
    methods = _order(grid.columns, order)
    grid = grid[methods]
    grid = grid.loc[grid.mean(axis=1).sort_values(ascending=False, kind="stable").index]
    z = grid.to_numpy(dtype=np.float64)
    rows = [f"#{int(i)}" for i in grid.index]
    colour: dict = {"colorscale": "Viridis"}
    if column == "ulira_score":
        lim = float(np.nanpercentile(np.abs(z), 98)) or 1.0
        colour = {"colorscale": "RdBu_r", "zmid": 0.0, "zmin": -lim, "zmax": lim}
    elif np.nanmin(z) >= 0.0 and np.nanmax(z) <= 1.0:
        colour["zmin"], colour["zmax"] = 0.0, 1.0
    fig = go.Figure(go.Heatmap(z=z, x=methods, y=rows, colorbar={"title": "score"}, **colour,
                               hovertemplate="sample %{y}<br>%{x}<br>score %{z:.3g}<extra></extra>"))
    fig.update_xaxes(**{**_method_axis(methods), "side": "top"})
    fig.update_yaxes(type="category", autorange="reversed", showticklabels=len(rows) <= 40,
                     title_text=f"{len(rows)} audited forget samples, highest mean score first")
    fig.update_layout(title={"text": title, "subtitle": {"text": "higher = looks unlearned, not retrained = "
                                                                 "not forgotten"}},
                      height=min(1100, max(HEIGHT + 60, 200 + 6 * len(rows))), margin={"t": 150})
    return fig


def entropy_distribution(samples: pd.DataFrame, order: list[str] | None = None) -> go.Figure:
    """Distribution of the per-sample forget-set entropy (nats) per method (violin with box)."""
    if samples.empty:
        return _empty("Forget-set entropy", "no per-sample entropy available")
    methods = _order(samples["method"], order)
    fig = px.violin(samples, x="method", y="entropy", color="method", box=True, points=False,
                    category_orders={"method": methods}, color_discrete_map=_colours(methods),
                    title="Forget-set entropy per sample (nats)",
                    labels={"method": "", "entropy": metric_label("forget_entropy")})
    fig.update_xaxes(**_method_axis(methods))
    fig.update_layout(height=HEIGHT + 60, showlegend=False)
    return fig


def _cost_bars(df: pd.DataFrame, m: str, unit: str, title: str, include: Sequence[float] = ()) -> go.Figure:
    std = _std(df, m)
    methods = list(df["method"])
    colours = _colours(methods)
    fig = go.Figure(go.Bar(x=df["method"], y=df[m], error_y={"type": "data", "array": std}, name=metric_label(m),
                           marker_color=[colours[x] for x in methods], showlegend=False, customdata=std,
                           hovertemplate=f"%{{x}}<br>{metric_label(m)}: %{{y:.3g}} ± %{{customdata:.2g}}"
                                         "<extra></extra>"))
    fig.update_xaxes(**_method_axis(methods))
    fig.update_yaxes(title_text=metric_label(m), **log_axis((df[m] - std).where(df[m] - std > 0, df[m]),
                                                            df[m] + std, unit, include))
    fig.update_layout(title=title, height=HEIGHT + 60)
    return fig


def time_chart(summary: pd.DataFrame) -> go.Figure:
    """Unlearning time per method (mean ± std, log scale, ticks in seconds); :func:`speedup_chart` is the
    speed-up versus retraining."""
    m = "unlearn_seconds"
    if m not in summary.columns or not (summary[m] > 0).any():
        return _empty("Unlearning time")
    df = summary[summary[m] > 0]
    return _cost_bars(df, m, "s", "Unlearning time (log scale, mean ± std)")


def speedup_chart(summary: pd.DataFrame) -> go.Figure:
    """Speed-up versus retraining per method (retrain's seconds / the method's; log scale, 1× dashed)."""
    m = "speedup_vs_retrain"
    if m not in summary.columns or not (summary[m] > 0).any():
        return _empty("Speed-up vs retrain")
    fig = _cost_bars(summary[summary[m] > 0], m, "×", "Speed-up vs retrain (log; > 1× = faster)",
                     include=(1.0,))
    fig.add_hline(y=1.0, line_dash="dash", line_color="grey")
    return fig


def utility_metric(summary: pd.DataFrame) -> str:
    """The trade-off chart's utility: test accuracy on the remaining classes where the summary has it
    (class scenarios: correct forgetting does not count against it), else test accuracy."""
    for m in ("test_retain_acc", "test_acc"):
        if m in summary.columns and summary[m].notna().any():
            return m
    return "test_acc"


def tradeoff_scatter(summary: pd.DataFrame) -> go.Figure:
    """Gap to retrain (lower is better) against utility (:func:`utility_metric`); one trace per method in its
    colour and symbol (legend and hover name them), marker size grows with the unlearning seconds."""
    y = utility_metric(summary)
    need = ["gap_to_retrain", y]
    if not set(need) <= set(summary.columns) or summary[need].dropna().empty:
        return _empty("Trade-off")
    df = summary.dropna(subset=need).copy()
    secs = df["unlearn_seconds"] if "unlearn_seconds" in df.columns else pd.Series(np.nan, index=df.index)
    biggest = float(secs.max()) if secs.notna().any() and secs.max() > 0 else 1.0
    df["size"] = (10 + 22 * np.sqrt(secs.clip(lower=0.0) / biggest)).fillna(10.0)
    # methods drawn at the same place (to 3 decimals) are named in each other's hover
    spot = df["gap_to_retrain"].round(3).astype(str) + "," + df[y].round(3).astype(str)
    styles = method_styles(df["method"])
    rank = {m: i for i, m in enumerate(df["method"])}  # the legend keeps the table's order
    fig = go.Figure()
    for idx, r in df.sort_values("size", ascending=False, kind="stable").iterrows():  # small markers on top
        m = r["method"]
        same = [o for o in df.loc[spot == spot[idx], "method"] if o != m]
        colour, symbol = styles[m]
        t = "n/a" if pd.isna(secs[idx]) else f"{secs[idx]:.3g} s"
        fig.add_trace(go.Scatter(
            x=[r["gap_to_retrain"]], y=[r[y]], mode="markers", name=m, legendrank=1000 + rank[m],
            marker={"color": colour, "symbol": symbol, "size": float(r["size"]), "opacity": 0.8,
                    "line": {"width": 1.5, "color": "white"}},
            hovertemplate=(f"<b>{m}</b><br>{metric_label('gap_to_retrain')}: %{{x:.3f}}<br>{metric_label(y)}: "
                           f"%{{y:.3f}}<br>unlearning time: {t}"
                           + (f"<br>same point: {', '.join(same)}" if same else "") + "<extra></extra>")))
    # the methods at the same point (their markers hide each other) are named once, under the title
    groups = [" = ".join(g["method"]) for _, g in df.groupby(spot, sort=False) if len(g) > 1]
    lines = ["best: left (small gap to retrain) and high; marker size = unlearning time"]
    for grp in groups:
        if len(lines) == 1 or len(lines[-1]) + len(grp) > 80:
            lines.append(("at the same point: " if len(lines) == 1 else "") + grp)
        else:
            lines[-1] += " · " + grp
    fig.update_layout(
        title={"text": f"Trade-off: {metric_label('gap_to_retrain').lower()} vs {metric_label(y).lower()}",
               "subtitle": {"text": "<br>".join(lines)}},
        height=HEIGHT + 100 + 16 * len(lines), margin={"t": 70 + 18 * len(lines)},
        legend={"title_text": "method", "itemsizing": "constant"},
        xaxis_title=f"{metric_label('gap_to_retrain')} (lower is better)", yaxis_title=metric_label(y))
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
    methods = _order(mean.index, order)
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
    fig.update_yaxes(**{**_method_axis(methods, angle=0), "autorange": "reversed"})
    fig.update_layout(title=title, height=max(HEIGHT, 140 + 28 * len(methods)), xaxis_title="class",
                      xaxis_type="category", margin={"l": _left(methods)})
    return fig


def forget_confusion(confusion: pd.DataFrame, order: list[str] | None = None,
                     class_names: tuple[str, ...] | None = None, ncols: int = 4) -> go.Figure:
    """Where the forget samples go: one row-normalised heatmap (true -> predicted class) per method, summed
    over seeds (PGU Fig. 4; a good method sends a forgotten class where retrain does, not to one class)."""
    title = "Forget set: true class → predicted class (share of each true class, summed over seeds)"
    if confusion.empty:
        return _empty(title)
    methods = _order(confusion["method"], order)
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
    every = {"tickmode": "array", "tickvals": xs, "autotickangles": list(AUTO_ANGLES)} if len(xs) <= 20 else {}
    fig.update_xaxes(type="category", title_text="", **every)  # each class named (plotly skips some when narrow)
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(title_text="predicted class", row=nrows)
    fig.update_yaxes(title_text="true class", col=1)
    fig.for_each_annotation(lambda a: a.update(text=_tick(a.text)) if a.text in REFERENCES else None)
    fig.update_layout(title=title, coloraxis={"colorscale": "Blues", "cmin": 0.0, "cmax": 1.0,
                                              "colorbar": {"title": "share"}},
                      height=grid_px + 170)
    return fig


# -- closeness to retrain ----------------------------------------------------------------------------------------
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


def _wrap(text: str, width: int = 11) -> str:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def closeness_heatmap(summary: pd.DataFrame, order: list[str] | None = None) -> go.Figure:
    """Heatmap of :func:`closeness`: one row per method, one column per metric; the colour is the closeness to
    retrain (1 = retrain's value), the cell text the metric's value; hover shows both and retrain's value."""
    title = "Closeness to retrain per metric (colour; 1 = retrain's value), cell = the metric's value"
    subtitle = "closeness = 1 − |value − retrain| per metric; entropy's gap divided by its largest gap"
    df = closeness(summary)
    if df.empty:
        return _empty(title, "needs retrain and at least one other method")
    metrics = list(dict.fromkeys(df["metric"]))
    methods = _order(df["method"], order)
    z = df.pivot(index="method", columns="metric", values="closeness").reindex(index=methods, columns=metrics)
    v = df.pivot(index="method", columns="metric", values="value").reindex(index=methods, columns=metrics)
    ref = v.loc["retrain"]
    text = [["" if pd.isna(x) else f"{x:.3f}" for x in row] for row in v.to_numpy()]
    hover = [[f"<b>{me}</b><br>{metric_label(mt)}: {text[i][j] or 'n/a'} (retrain {ref[mt]:.3f})<br>"
              + ("" if pd.isna(z.iloc[i, j]) else f"closeness {z.iloc[i, j]:.2f}")
              for j, mt in enumerate(metrics)] for i, me in enumerate(methods)]
    fig = go.Figure(go.Heatmap(z=z.to_numpy(), x=metrics, y=methods, zmin=0.0, zmax=1.0, colorscale="Viridis",
                               text=text, texttemplate="%{text}", hovertext=hover,
                               hovertemplate="%{hovertext}<extra></extra>", colorbar={"title": "closeness"},
                               xgap=1, ygap=1))
    fig.update_xaxes(type="category", tickmode="array", tickvals=metrics, side="top", tickfont_size=11,
                     ticktext=[_wrap(metric_label(m)) for m in metrics], tickangle=0, automargin=True)
    fig.update_yaxes(**{**_method_axis(methods, angle=0), "autorange": "reversed"})
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}},
                      height=max(HEIGHT, 190 + 28 * len(methods)), margin={"t": 175, "b": 30, "l": _left(methods)})
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
                rows.append({"comparison": r["comparison"], "method": r["method"], "metric": metric_label(m),
                             "value": float(r[m]), "std": float(std) if pd.notna(std) else 0.0})
    df = pd.DataFrame(rows, columns=["comparison", "method", "metric", "value", "std"])
    if df.empty:
        return _empty("Accuracy across comparisons")
    methods = _order(df["method"], REFERENCES)
    comparisons = list(dict.fromkeys(df["comparison"]))
    fig = px.bar(df, x="method", y="value", color="comparison", barmode="group", error_y="std", facet_row="metric",
                 category_orders={"metric": [metric_label(m) for m in ACCURACY], "method": methods,
                                  "comparison": comparisons},
                 color_discrete_sequence=PALETTE, title="Accuracy across comparisons (mean ± std over seeds)",
                 labels={"value": "", "method": "", "comparison": ""})
    fig.update_traces(hovertemplate="%{x}<br>%{fullData.name}<br>%{y:.3f} ± %{error_y.array:.3f}<extra></extra>")
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_xaxes(**_method_axis(methods))
    fig.update_xaxes(showticklabels=False)
    fig.update_xaxes(showticklabels=True, row=1)  # px numbers facet rows from the bottom
    fig.update_yaxes(range=[0, _top(df["value"] + df["std"])])
    legend_rows = 1 + math.ceil(sum(40 + 7 * len(str(c)) for c in comparisons) / 900)  # one to spare
    fig.update_layout(height=3 * 230 + 200 + 20 * legend_rows, legend_title_text="",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.0},
                      title={"yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 20}},
                      margin={"t": 70 + 20 * legend_rows})
    return fig
