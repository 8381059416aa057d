"""The results view shared by the Compare and History pages: summary table, CSV export, charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, state
from dashboard.data import Results, metric_titles

REFERENCE = "retrain"


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


def show(res: Results, prefix: str) -> None:
    """Render a comparison's results (widget keys scoped by ``prefix``)."""
    if not res.complete:
        st.info("Some runs of this comparison have not finished yet; showing what is stored.")
    issues = res.issues()
    if not res.any_ok:
        st.warning("No finished runs to show.")
        if not issues.empty:
            st.dataframe(issues, width="stretch", hide_index=True)
        return
    titles = metric_titles()
    head = st.columns([3, 1])
    gaps = head[1].toggle("Signed gaps to retrain", key=state.scoped(prefix, state.SHOW_GAPS),
                          help="show each metric as the method's value minus retrain's (retrain is the reference)")
    head[0].subheader("Summary", help="mean ± std over seeds; retrain is the reference (first row); "
                                       "hover a column name for the metric's title")
    table = summary_display(res.summary, gaps)
    st.dataframe(table, width="stretch", hide_index=True, height=38 + 35 * len(table),
                 column_config={k: st.column_config.TextColumn(k, help=v) for k, v in titles.items()})
    st.download_button("Download CSV (one row per method × seed)", data=res.csv(),
                       file_name=f"comparison-{res.key}.csv", mime="text/csv", on_click="ignore",
                       key=state.scoped(prefix, "download"))
    if not issues.empty:
        st.markdown("**Runs without results**")
        st.dataframe(issues, width="stretch", hide_index=True)

    summary = res.summary
    st.plotly_chart(charts.accuracy_bars(summary), width="stretch", key=state.scoped(prefix, "chart.acc"))
    st.plotly_chart(charts.mia_panel(summary), width="stretch", key=state.scoped(prefix, "chart.mia"))
    c3, c4 = st.columns(2)
    c3.plotly_chart(charts.entropy_distribution(res.forget_entropy_samples(), list(summary["method"])),
                    width="stretch", key=state.scoped(prefix, "chart.entropy"))
    c4.plotly_chart(charts.time_chart(summary), width="stretch", key=state.scoped(prefix, "chart.time"))
    st.plotly_chart(charts.tradeoff_scatter(summary), width="stretch", key=state.scoped(prefix, "chart.tradeoff"))
