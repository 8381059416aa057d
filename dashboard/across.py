"""Views across several recorded comparisons (History): pure functions, dataframes in, dataframes / figures out.

* :func:`combined_metrics`: every metric of several comparisons in one numeric table (mean and std per metric,
  so it sorts by value), one row per comparison x method;
* :func:`metric_bars`: one metric of that table as grouped bars (method x comparison);
* :func:`gap_table` / :func:`gap_matrix` / :func:`gap_heatmap`: "across settings" -- the same methods over several
  comparisons (scenarios, paradigms, models, datasets), coloured by their gap to the retrained model (SalUn's
  average gap, ``gap_to_retrain``; lower is better), so one sees which method holds up where.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

REFERENCE = "retrain"  # the gap's reference: 0 by definition, left out of the across-settings view
GAP = "gap_to_retrain"
NOT_RUN = "not run"  # the method is not in that comparison
NOT_AVAILABLE = "n/a"  # in the comparison, but without a gap (not applicable, failed, pending)
CELL_HEIGHT = 34
# green (0: as retrain) through yellow to red (the largest gap), on a square-root scale (stops at t = x^2): the small
# gaps that separate good methods stay distinguishable next to the original model's large one
GAP_SCALE = [[0.0, "#1a9850"], [0.0625, "#a6d96a"], [0.25, "#fee08b"], [0.5625, "#fdae61"], [1.0, "#d73027"]]


def _ordered(summary: pd.DataFrame) -> pd.DataFrame:
    """Retrain first, then the summary's order."""
    first = summary["method"].eq(REFERENCE)
    return pd.concat([summary[first], summary[~first]], ignore_index=True)


def combined_metrics(labels: Mapping[str, str], summaries: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per comparison x method: ``comparison``, ``method``, ``seeds``, then ``<metric>`` (mean over seeds)
    and ``<metric>_std`` for every metric some comparison measured (numbers, NaN where not measured)."""
    frames = [_ordered(s).assign(comparison=labels[k]) for k, s in summaries.items() if not s.empty]
    if not frames:
        return pd.DataFrame(columns=["comparison", "method", "seeds"])
    df = pd.concat(frames, ignore_index=True)
    metrics = [c for c in dict.fromkeys(c for f in frames for c in f.columns)
               if c not in ("comparison", "method", "seeds") and not c.endswith("_std") and df[c].notna().any()]
    cols = ["comparison", "method", "seeds"]
    for m in metrics:
        cols.append(m)
        if f"{m}_std" in df and df[f"{m}_std"].notna().any():
            cols.append(f"{m}_std")
    return df[cols].reset_index(drop=True)


def named(short: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """Each comparison's label: the name its user gave it, else its short label (what differs); a name two of them
    share gets the key's first characters."""
    out = {k: names.get(k) or v for k, v in short.items()}
    twice = {v for v in out.values() if list(out.values()).count(v) > 1}
    return {k: f"{v} [{k[:6]}]" if v in twice else v for k, v in out.items()}


def metric_bars(combined: pd.DataFrame, metric: str, title: str | None = None) -> go.Figure:
    """Grouped bars of one metric of :func:`combined_metrics`: methods on the x axis, one colour per comparison,
    the std over seeds as error bars."""
    fig = go.Figure()
    if metric not in combined or combined[metric].isna().all():
        fig.add_annotation(text=f"{metric}: not measured", showarrow=False, x=0.5, y=0.5, xref="paper",
                           yref="paper")
        fig.update_layout(height=360, xaxis_visible=False, yaxis_visible=False)
        return fig
    methods = list(dict.fromkeys(combined["method"]))
    for comparison, rows in combined.groupby("comparison", sort=False):
        rows = rows.set_index("method").reindex(methods)
        std = rows[f"{metric}_std"] if f"{metric}_std" in rows else None
        fig.add_bar(x=methods, y=rows[metric], name=str(comparison),
                    error_y=None if std is None else {"type": "data", "array": std.fillna(0.0)},
                    hovertemplate=f"%{{x}}<br>{metric} %{{y:.3f}}<extra>{comparison}</extra>")
    fig.update_layout(barmode="group", height=380, title=title or f"{metric} (mean ± std over seeds)",
                      yaxis_title=metric, legend_title_text="comparison", legend={"orientation": "h", "y": -0.25})
    return fig


def shared_methods(methods: Mapping[str, Sequence[str]]) -> list[str]:
    """The comparisons (keys) that share an unlearning method (not original, not retrain) with another one, in the
    given order; all of them when none do."""
    own = {k: set(ms) - {REFERENCE, "original"} for k, ms in methods.items()}
    shared = [k for k, ms in own.items() if any(ms & o for j, o in own.items() if j != k)]
    return shared or list(methods)


def gap_table(labels: Mapping[str, str], summaries: Mapping[str, pd.DataFrame],
              methods: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Long table of the across-settings view: one row per method x setting (every method of any comparison but
    retrain, every comparison of ``labels``), columns ``setting``, ``method``, ``gap`` (mean ``gap_to_retrain``),
    ``std`` and ``state``: ``ok``, ``not run`` (not in that comparison) or ``n/a`` (in it, without a gap)."""
    names = [m for m in dict.fromkeys(m for k in labels for m in methods.get(k, ())) if m != REFERENCE]
    rows = []
    for k, label in labels.items():
        s = summaries.get(k, pd.DataFrame(columns=["method"]))
        s = s.set_index("method") if "method" in s else pd.DataFrame()
        for m in names:
            gap = float(s.loc[m, GAP]) if m in s.index and GAP in s and pd.notna(s.loc[m, GAP]) else math.nan
            sd = s.loc[m, f"{GAP}_std"] if m in s.index and f"{GAP}_std" in s else math.nan
            state = "ok" if not math.isnan(gap) else NOT_RUN if m not in methods.get(k, ()) else NOT_AVAILABLE
            rows.append({"setting": label, "method": m, "gap": gap, "std": float(sd) if pd.notna(sd) else math.nan,
                         "state": state})
    return pd.DataFrame(rows, columns=["setting", "method", "gap", "std", "state"])


def gap_matrix(long: pd.DataFrame) -> pd.DataFrame:
    """Method x setting matrix of the mean gaps of :func:`gap_table` (NaN where there is none): settings in their
    order, methods by their mean gap over the settings where they have one (lowest first; none last), then name."""
    if long.empty:
        return pd.DataFrame()
    settings = list(dict.fromkeys(long["setting"]))
    m = long.pivot_table(index="method", columns="setting", values="gap", aggfunc="first", dropna=False,
                         sort=False).reindex(columns=settings)
    m = m.reindex(list(dict.fromkeys(long["method"])))
    order = m.mean(axis=1, skipna=True)
    m = m.assign(_mean=order.fillna(np.inf), _name=m.index).sort_values(["_mean", "_name"], kind="stable")
    m = m.drop(columns=["_mean", "_name"])
    m.columns.name, m.index.name = "setting", "method"
    return m


def _cell(gap: float, sd: float, state: str) -> str:
    if state != "ok":
        return state
    return f"{gap:.3f}" + (f" ± {sd:.3f}" if not math.isnan(sd) else "")


def gap_heatmap(long: pd.DataFrame, title: str = "Gap to retrain across settings (lower is better)") -> go.Figure:
    """Heatmap of :func:`gap_table`: methods (rows, ordered by mean gap) x settings (columns), coloured by the gap
    on a sequential scale from green (0, as retrain) to red (the largest gap), the gap (± std) in each cell; cells
    without a gap are grey and say ``not run`` or ``n/a``. The colour scale is :data:`GAP_SCALE`."""
    matrix = gap_matrix(long)
    fig = go.Figure()
    if matrix.empty:
        fig.add_annotation(text="no comparisons chosen", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(title=title, height=300, xaxis_visible=False, yaxis_visible=False)
        return fig
    cells = long.set_index(["method", "setting"])
    methods, settings = list(matrix.index), list(matrix.columns)
    text = [[_cell(cells.loc[(m, s), "gap"], cells.loc[(m, s), "std"], cells.loc[(m, s), "state"]) for s in settings]
            for m in methods]
    z = matrix.to_numpy(dtype=float)
    missing = np.where(np.isnan(z), 0.0, np.nan)
    # the grey layer under the empty cells, then the gaps (NaN cells of the top layer are transparent)
    fig.add_heatmap(z=missing, x=settings, y=methods, colorscale=[[0, "#d9d9d9"], [1, "#d9d9d9"]], showscale=False,
                    hoverinfo="skip", xgap=2, ygap=2)
    worst = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    fig.add_heatmap(z=z, x=settings, y=methods, text=text, texttemplate="%{text}", zmin=0.0,
                    zmax=worst if worst > 0 else 1.0,
                    colorscale=GAP_SCALE,
                    colorbar={"title": {"text": "gap"}}, xgap=2, ygap=2,
                    hovertemplate="%{y}<br>%{x}<br>gap to retrain %{text}<extra></extra>")
    # the empty cells' text (the top layer draws no text where z is NaN)
    for i, m in enumerate(methods):
        for j, s in enumerate(settings):
            if np.isnan(z[i, j]):
                fig.add_annotation(x=s, y=m, text=text[i][j], showarrow=False, font={"color": "#555555"})
    lines = max(len(_wrap(s).split("<br>")) for s in settings)
    fig.update_layout(title=title, height=110 + 16 * lines + CELL_HEIGHT * len(methods),
                      yaxis={"autorange": "reversed", "title": ""},
                      xaxis={"title": "", "tickmode": "array", "tickvals": settings,
                             "ticktext": [_wrap(s) for s in settings], "tickangle": 0})
    return fig


def _wrap(label: str, width: int = 28) -> str:
    """A setting's label on several lines (at its commas) for an axis."""
    lines: list[str] = []
    for part in label.split(", "):
        if lines and len(lines[-1]) + len(part) + 2 <= width:
            lines[-1] += f", {part}"
        else:
            lines.append(part)
    return "<br>".join(lines)
