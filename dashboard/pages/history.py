"""History page: comparisons recorded in the store; pick one to see its results (nothing is recomputed)."""

from __future__ import annotations

import streamlit as st

from dashboard import data, results_view, state


def main() -> None:
    st.title("History")
    table = data.history()
    if table.empty:
        st.info("No comparison recorded yet: run one on the Compare page (or with `python -m engine compare`).")
        return
    st.caption(f"{len(table)} comparison(s) in {data.default_cache_dir()}")
    st.dataframe(table.drop(columns="key"), width="stretch", hide_index=True)
    labels = {k: f"{c} — {t}" for k, c, t in zip(table["key"], table["comparison"], table["created"], strict=True)}
    if st.session_state.get(state.HISTORY_PICK) not in labels:
        st.session_state[state.HISTORY_PICK] = next(iter(labels))
    key = st.selectbox("Comparison", list(labels), key=state.HISTORY_PICK, format_func=labels.__getitem__)
    spec = data.history_spec(key)
    if spec is None:
        st.warning("This comparison is no longer in the store.")
        return
    try:
        res = data.stored_results(data.plan(spec))
    except data.SpecError as e:
        st.error(f"**{e.field}**: {e.message}")
        return
    except Exception as e:  # e.g. a dataset that is no longer on disk
        st.error(f"Cannot reopen this comparison: {type(e).__name__}: {e}")
        return
    st.caption(data.spec_summary(spec))
    results_view.show(res, "history")


main()
