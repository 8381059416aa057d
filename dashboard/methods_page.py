"""Methods page: every registered method (paper, needs, paradigms, documentation, hyper-parameters) and metric."""

from __future__ import annotations

import streamlit as st

from dashboard import data, labels


def main() -> None:
    tab_methods, tab_metrics = st.tabs(["Methods", "Metrics"])
    with tab_methods:
        catalogue = data.method_catalogue()
        overview = [{k: m[k] for k in ("key", "title", "family", "paradigms", "needs")} for m in catalogue]
        st.dataframe(overview, width="stretch", hide_index=True)
        st.caption("Open a method for its paper, documentation and hyper-parameters.")
        for m in catalogue:
            with st.expander(f"**{m['title']}** · `{m['key']}` · {m['family']}"):
                st.markdown(f"**Paper:** {m['paper']}  \n**Needs:** {m['needs']}  \n"
                            f"**Paradigms:** {m['paradigms']}")
                ours = f" Defaults that are ours: {m['ours_fields']}." if m["ours_fields"] else ""
                st.info(f"**How the defaults were chosen:** {m['defaults_chosen']}.{ours}")
                if m["doc"]:
                    st.markdown(m["doc"])
                if m["schema"].empty:
                    st.caption("No hyper-parameters.")
                else:
                    st.markdown("**Hyper-parameters**")
                    st.dataframe(m["schema"], width="stretch", hide_index=True)
    with tab_metrics:
        cat = data.metric_catalogue()
        cat.insert(1, "label", [labels.metric_label(k) for k in cat["key"]])
        cat.insert(4, "best value", [labels.metric_target(k) for k in cat["key"]])
        st.dataframe(cat, width="stretch", hide_index=True,
                     column_config={"papers": st.column_config.TextColumn("papers' names", width="large"),
                                    "label": st.column_config.TextColumn("label", help="as tables and charts show it"),
                                    "best value": st.column_config.TextColumn(
                                        "best value", help="what the leaderboard and the charts count as best")})
        st.caption("The leaderboard marks each column's best unlearning method by this target; the attack charts "
                   "draw it as a line (dashed: 0.5, the attacker cannot tell; dotted: retrain's value).")
