"""History page: comparisons recorded in the store; open one, or put several side by side (nothing is recomputed)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

# drawn before the engine (torch) loads below: the page paints at once on a cold server
st.title("History")

from dashboard import charts, data, results_view, state  # noqa: E402


def combined_display(labels: dict[str, str], results: dict[str, data.Results]) -> pd.DataFrame:
    """Each comparison's summary as shown on its own (mean ± std, retrain first), stacked with a
    leading ``comparison`` column."""
    frames = []
    for key, res in results.items():
        shown = results_view.summary_display(res.summary)
        if not shown.empty:
            shown.insert(0, "comparison", labels[key])
            frames.append(shown)
    return pd.concat(frames, ignore_index=True).fillna("") if frames else pd.DataFrame()


def open_one(labels: dict[str, str]) -> None:
    if st.session_state.get(state.HISTORY_PICK) not in labels:
        st.session_state[state.HISTORY_PICK] = next(iter(labels))
    key = st.selectbox("Comparison", list(labels), key=state.HISTORY_PICK, format_func=labels.__getitem__)
    spec = data.history_spec(key)
    if spec is None:
        st.warning("This comparison is no longer in the store.")
        return
    try:
        res = data.stored_results(data.plan(spec), include_imported=True)
    except data.SpecError as e:
        st.error(f"**{e.field}**: {e.message}")
        return
    except Exception as e:  # e.g. a dataset that is no longer on disk
        st.error(f"Cannot reopen this comparison: {type(e).__name__}: {e}")
        return
    st.caption(f"{data.spec_summary(spec)} · {data.comparison_source(key)}")
    results_view.show(res, "history", data.matching_presets(spec))


def side_by_side(labels: dict[str, str]) -> None:
    keys = st.multiselect("Comparisons to put side by side (two or more)", list(labels),
                          key=state.HISTORY_SIDE_BY_SIDE, format_func=labels.__getitem__)
    if len(keys) < 2:
        st.caption("Pick two or more comparisons: one summary table (with a `comparison` column) and one accuracy "
                   "chart show them together.")
        return
    try:
        short, results = data.side_by_side(keys)
    except Exception as e:  # a spec that no longer validates, a dataset no longer on disk
        st.error(f"Cannot reopen these comparisons: {type(e).__name__}: {e}")
        return
    st.dataframe(pd.DataFrame({"comparison": [short[k] for k in results],
                               "setting": [data.spec_summary(results[k].spec) for k in results]}),
                 width="stretch", hide_index=True)
    table = combined_display(short, results)
    st.dataframe(table, width="stretch", hide_index=True, height=38 + 35 * len(table))
    c1, c2 = st.columns(2)
    c1.download_button("Download combined CSV (one row per comparison × method × seed)",
                       data=data.combined_wide(short, results).to_csv(index=False).encode(),
                       file_name="comparisons-side-by-side.csv", mime="text/csv", on_click="ignore",
                       key="history.download.combined")
    c2.download_button("Download this table (CSV)", data=table.to_csv(index=False).encode(),
                       file_name="comparisons-summary.csv", mime="text/csv", on_click="ignore",
                       key="history.download.combined_summary")
    st.caption(results_view.PNG_HINT)
    st.plotly_chart(charts.combined_accuracy(data.combined_summary(short, results)), width="stretch",
                    key="history.chart.combined", config=charts.png_config("accuracy-side-by-side"))


def bundles(labels: dict[str, str]) -> None:
    """Export cached comparisons as a results bundle; import one (validated first; a bad one changes nothing)."""
    st.markdown("A **results bundle** is a zip of comparisons (specs, metrics, per-sample arrays; no model "
                "weights, no pickles) — the same format as `python -m engine bundle export|import`.")
    keys = st.multiselect("Comparisons to export", list(labels), format_func=labels.get, key="history.export_pick")
    if keys:
        st.download_button("Download bundle", data=data.export_comparisons(keys), file_name="comparisons.zip",
                           mime="application/zip", on_click="ignore", key="history.export")
    if data.demo_enabled():
        st.caption("Importing bundles is switched off in the hosted demo.")
        return
    up = st.file_uploader("Import a bundle", type=["zip"], key="history.import")
    if up is not None and st.button("Import", key="history.import_go"):
        try:
            imported = data.import_comparisons(up.getvalue())
        except data.BundleError as e:
            st.error(f"**bundle**: {e.message} — nothing was imported.")
        else:
            st.success(f"Imported {len(imported)} comparison(s).")
            st.rerun()


def main() -> None:
    table = data.history()
    if table.empty:
        st.info("No comparison recorded yet: run one on the Compare page (or with `python -m engine compare`), "
                "or import a results bundle below.")
        bundles({})
        return
    st.caption(f"{len(table)} comparison(s) in {data.default_cache_dir()}")
    st.dataframe(table.drop(columns="key"), width="stretch", hide_index=True)
    labels = {k: f"{c} — {t}" for k, c, t in zip(table["key"], table["comparison"], table["created"], strict=True)}
    one, several, share = st.tabs(["Open one", "Side by side", "Bundles"])
    with one:
        open_one(labels)
    with several:
        side_by_side(labels)
    with share:
        bundles(labels)


main()
