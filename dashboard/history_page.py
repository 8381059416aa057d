"""History page: comparisons recorded in the store (nothing is recomputed).

Open one (rename, tag, note, delete; open it in Compare; its share link), put several side by side (every metric,
each one's leaderboard), see the same methods across settings (a heatmap of the gap to retrain), and export or
import results bundles.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import across, charts, data, history_links, results_view, state, url
from dashboard import labels as metric_labels

TAB = "history.tab"  # the open tab (Open one, Side by side, Across settings, Bundles)
TABS = ("Open one", "Side by side", "Across settings", "Bundles")
NOTICE = "history.notice"  # (kind, markdown) of the last deletion, shown once above the table
SAVED = "history.saved"  # (kind, markdown) of the last save, shown once under the form
MANAGE = "history.manage"  # whether the rename / tag / note / delete expander is open
CONFIRM_DELETE = "history.confirm_delete"  # key of the comparison whose deletion waits for a confirmation
IMPORTED = "history.imported"  # the last bundle import: {"file", "keys"} or {"file", "error"}; shown until dismissed
ACROSS = "history.across"  # the comparisons of the across-settings view
UPLOAD = "history.import"


def _name_key(key: str) -> str:
    return f"history.name.{key}"


def _tags_key(key: str) -> str:
    return f"history.tags.{key}"


def _note_key(key: str) -> str:
    return f"history.note.{key}"


def listing(table: pd.DataFrame) -> pd.DataFrame:
    """The history table as shown: the user's name (else what differs from the other comparisons), the methods
    that ran, tags, dates, rows, where it came from, the setting and the note."""
    shown = [n or d for n, d in zip(table["name"], table["differs"], strict=True)]
    return pd.DataFrame({"comparison": shown, "methods": table["methods"], "tags": table["tags"],
                         "created": table["created"], "rows ok": table["rows ok"], "source": table["source"],
                         "setting": table["comparison"], "note": table["note"]})


# -- actions (callbacks: they run before the page is drawn, so the table shows their result) --------------------
def save_annotation(key: str) -> None:
    """Save the name, tags and note typed for comparison ``key``; a bad field is named in the notice."""
    ss = st.session_state
    try:
        data.annotate(key, name=ss.get(_name_key(key), ""), tags=ss.get(_tags_key(key), ""),
                          note=ss.get(_note_key(key), ""))
    except data.SpecError as e:
        ss[SAVED] = ("error", f"**{e.field}**: {url.literal(e.message)} — nothing was saved.")
    else:
        ss[SAVED] = ("success", "Saved the name, tags and note.")
        # re-set the picker: the browser keeps a selectbox's shown text, which would stay the old label
        ss[state.HISTORY_PICK] = key
    ss[MANAGE] = True


def ask_delete(key: str) -> None:
    st.session_state[CONFIRM_DELETE] = key
    st.session_state[MANAGE] = True


def cancel_delete() -> None:
    st.session_state.pop(CONFIRM_DELETE, None)


def delete(key: str, label: str) -> None:
    """Delete comparison ``key`` from History (record, saved answer, annotation; never a run)."""
    removed = data.delete_comparison(key)
    st.session_state.pop(CONFIRM_DELETE, None)
    st.session_state.pop(state.HISTORY_PICK, None)
    for k in (_name_key(key), _tags_key(key), _note_key(key)):
        st.session_state.pop(k, None)
    if removed:
        st.session_state[NOTICE] = ("success", f"Deleted {url.literal(label)} ({', '.join(removed)}). Its runs stay "
                                               "in the cache: other comparisons share them, and running it again "
                                               "computes nothing.")
    else:
        st.session_state[NOTICE] = ("warning", "That comparison was no longer in the store.")


def do_import() -> None:
    """Import the uploaded bundle; the outcome stays on the page (:data:`IMPORTED`) until dismissed."""
    up = st.session_state.get(UPLOAD)
    if up is None:
        st.session_state[IMPORTED] = {"file": "", "error": "choose a bundle (.zip) first"}
        return
    try:
        keys = data.import_comparisons(up.getvalue())
    except data.BundleError as e:
        st.session_state[IMPORTED] = {"file": up.name, "error": e.message}
    else:
        st.session_state[IMPORTED] = {"file": up.name, "keys": list(keys)}


def dismiss_import() -> None:
    st.session_state.pop(IMPORTED, None)


def show_here(key: str) -> None:
    """Select comparison ``key`` in *Open one* and open that tab."""
    st.session_state[state.HISTORY_PICK] = key
    st.session_state[TAB] = TABS[0]


def open_in_compare(key: str, spec: data.ComparisonSpec, imported: bool) -> None:
    """Put the comparison's selection into the Compare page's widgets and go there (same session)."""
    link = history_links.compare_link(key, spec)
    values = history_links.compare_state(link.selection)
    if imported:
        values[state.SHOW_IMPORTED] = True  # its rows exist only as imported: show them (marked) at once
    st.session_state.update(values)
    saved = dict(st.session_state.get(state.SAVED_SELECTION, {}))
    saved.update({k: v for k, v in values.items() if k.startswith(state.SELECTION_PREFIX)})
    st.session_state[state.SAVED_SELECTION] = saved
    st.session_state[state.URL_LOADED] = True  # the selection is in the widgets already
    st.session_state[state.URL_ERRORS] = []
    st.switch_page("app_pages/compare.py", query_params=link.query)


# -- drawing ------------------------------------------------------------------------------------------------------
def show_notice(name: str = NOTICE) -> None:
    """The notice saved under ``name`` by a callback, shown once."""
    notice = st.session_state.pop(name, None)
    if notice:
        kind, text = notice
        {"error": st.error, "warning": st.warning}.get(kind, st.success)(text)


def compare_links(key: str, spec: data.ComparisonSpec, imported: bool, prefix: str) -> None:
    """"Open in Compare" (this session), the share link (a new session opens the same selection) and what the link
    cannot hold."""
    link = history_links.compare_link(key, spec)
    share = history_links.share_url(link.query, st.context.url)
    c1, c2 = st.columns([1, 4])
    if c1.button("Open in Compare", key=f"{prefix}.open_compare", icon=":material/compare_arrows:",
                 help="the Compare page with this comparison's selection; its finished runs show at once"):
        open_in_compare(key, spec, imported)
    with c2:
        st.code(share, language=None, wrap_lines=True)
    st.caption("Share link: opens the Compare page with this selection (copy it with the icon at its right)."
               + (" The comparison is imported: the link's reader needs the same bundle." if imported else ""))
    for note in link.notes:
        st.warning(f"The link cannot hold all of this comparison: {url.literal(note)}")


def manage(key: str, row: pd.Series) -> None:
    """Rename / tag / note (saved with a button) and delete (with a confirmation)."""
    label = row["name"] or row["differs"]
    with st.expander("Rename, tag, add a note, delete", icon=":material/edit:", key=MANAGE, on_change="rerun"):
        with st.form(f"history.annotate.{key}", border=False):
            st.text_input("Name", value=row["name"], key=_name_key(key), placeholder=row["differs"],
                          help="shown in History instead of what differs from the other comparisons "
                               "(at most 80 characters; empty: no name)")
            st.text_input("Tags", value=", ".join(row["tags"]), key=_tags_key(key), placeholder="e.g. baseline, draft",
                          help="comma-separated; at most 10 tags of 24 characters each")
            st.text_area("Note", value=row["note"], key=_note_key(key), height=100,
                         help="free text, at most 2000 characters")
            st.form_submit_button("Save", on_click=save_annotation, args=(key,), icon=":material/save:")
        show_notice(SAVED)
        st.divider()
        if st.session_state.get(CONFIRM_DELETE) == key:
            st.warning(f"Delete {url.literal(label)} from History? Its record, saved tables and annotation go; its "
                       "runs stay in the cache (other comparisons share them).")
            c1, c2, _ = st.columns([1, 1, 4])
            c1.button("Yes, delete", key="history.delete_yes", type="primary", on_click=delete, args=(key, label))
            c2.button("Cancel", key="history.delete_no", on_click=cancel_delete)
        else:
            st.button("Delete…", key="history.delete", icon=":material/delete:", on_click=ask_delete, args=(key,))


def open_one(table: pd.DataFrame, labels: dict[str, str]) -> None:
    if st.session_state.get(state.HISTORY_PICK) not in labels:
        st.session_state[state.HISTORY_PICK] = next(iter(labels))
    key = st.selectbox("Comparison", list(labels), key=state.HISTORY_PICK, format_func=labels.__getitem__)
    row = table.set_index("key").loc[key]
    spec = data.history_spec(key)
    if spec is None:
        st.warning("This comparison is no longer in the store.")
        return
    source = data.comparison_source(key)
    st.caption(f"{url.literal(data.spec_summary(spec), limit=2000)} · {source}")
    if row["tags"]:
        st.caption("Tags: " + " · ".join(url.literal(t) for t in row["tags"]))
    if row["note"]:
        st.text(row["note"])
    compare_links(key, spec, source.startswith("imported"), "history")
    manage(key, row)
    try:
        res = data.stored_results(data.plan(spec), include_imported=True)
    except data.SpecError as e:
        st.error(f"**{e.field}**: {e.message}")
        return
    except Exception as e:  # e.g. a dataset that is no longer on disk
        st.error(f"Cannot reopen this comparison: {type(e).__name__}: {e}")
        return
    results_view.show(res, "history", data.matching_presets(spec))


def pick_several(label: str, key: str, labels: dict[str, str], hint: str, help: str | None = None  # noqa: A002
                 ) -> tuple[dict[str, str], dict[str, data.Results]] | None:
    """A multiselect of two or more comparisons and their stored results (short label, results per key); ``None``
    with ``hint`` (fewer than two picked) or with the error (one no longer opens)."""
    keys = st.multiselect(label, list(labels), key=key, format_func=labels.__getitem__, help=help)
    if len(keys) < 2:
        st.caption(hint)
        return None
    try:
        short, results = data.side_by_side(keys)
    except Exception as e:  # a spec that no longer validates, a dataset no longer on disk
        st.error(f"Cannot reopen these comparisons: {type(e).__name__}: {e}")
        return None
    imported = [short[k] for k, r in results.items() if r.n_imported]
    if imported:  # provenance: numbers this engine did not compute are never shown as if it had
        st.warning(f"Rows imported from a results bundle (not computed by this engine) are included for: "
                   f"{url.literal(', '.join(imported), limit=500)}.")
    return short, results


def side_by_side(table: pd.DataFrame, labels: dict[str, str]) -> None:
    loaded = pick_several("Comparisons to put side by side (two or more)", state.HISTORY_SIDE_BY_SIDE, labels,
                          "Pick two or more comparisons: one table of every metric (with a `comparison` column), a "
                          "chart of any metric and each comparison's leaderboard show them together.")
    if loaded is None:
        return
    short, results = loaded
    short = across.named(short, dict(zip(table["key"], table["name"], strict=True)))
    st.dataframe(pd.DataFrame({"comparison": [short[k] for k in results],
                               "setting": [data.spec_summary(results[k].spec) for k in results]}),
                 width="stretch", hide_index=True)
    st.markdown("**Every metric** (mean over seeds, `_std`: their std; click a column to sort)")
    table = across.combined_metrics(short, {k: r.summary for k, r in results.items()})
    numbers = {c: st.column_config.NumberColumn(c, format="%.3f") for c in table.columns
               if c not in ("comparison", "method", "seeds")}
    st.dataframe(table, width="stretch", hide_index=True, height=38 + 35 * len(table), column_config=numbers)
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
    metrics = [c for c in table.columns if c not in ("comparison", "method", "seeds") and not c.endswith("_std")]
    if metrics:
        metric = st.selectbox("Metric to chart", metrics, key="history.sbs_metric",
                              index=metrics.index(across.GAP) if across.GAP in metrics else 0,
                              format_func=lambda m: f"{metric_labels.metric_label(m)} ({m})")
        st.plotly_chart(across.metric_bars(table, metric), width="stretch", key="history.chart.metric",
                        config=charts.png_config(f"{metric}-side-by-side"))
    st.markdown("**Leaderboards**")
    for key, res in results.items():
        with st.expander(f"Leaderboard — {short[key]}", expanded=len(results) <= 2):
            if res.any_ok:
                results_view.leaderboard_view(res, f"history.sbs.{key}")
            else:
                st.caption("No finished runs.")


def across_settings(table: pd.DataFrame, labels: dict[str, str]) -> None:
    """The same methods over several comparisons: a method x setting heatmap of the gap to retrain."""
    ran = {k: [m for m in str(ms).split(", ") if m] for k, ms in zip(table["key"], table["methods"], strict=True)}
    if ACROSS not in st.session_state:
        st.session_state[ACROSS] = across.shared_methods(ran)
    st.session_state[ACROSS] = [k for k in st.session_state[ACROSS] if k in labels]
    loaded = pick_several("Comparisons (settings) to put across", ACROSS, labels,
                          "Pick two or more comparisons (scenarios, paradigms, models or datasets): a heatmap of "
                          "method × setting coloured by the gap to retrain shows which method holds up where.",
                          help="first: every comparison sharing an unlearning method with another one")
    if loaded is None:
        return
    short, results = loaded
    long = across.gap_table(short, {k: r.summary for k, r in results.items()},
                            {k: [m.name for m in r.spec.methods] for k, r in results.items()})
    st.caption("Cell: SalUn's average gap to the retrained model (mean over seeds ± std; lower is better, 0 = "
               "as retrain). Methods ordered by their mean gap over the settings; settings named by what differs "
               "between them. Grey: *not run* (not in that comparison) or *n/a* (not applicable or no result).")
    st.plotly_chart(across.gap_heatmap(long), width="stretch", key="history.chart.across",
                    config=charts.png_config("gap-across-settings"))
    matrix = across.gap_matrix(long)
    shown = matrix.reset_index()  # numbers (they sort), shown with 3 decimals and "–" where there is none
    st.dataframe(shown.style.format("{:.3f}", subset=list(matrix.columns), na_rep="–"), width="stretch",
                 hide_index=True)
    st.download_button("Download this table (CSV)", data=long.to_csv(index=False).encode(),
                       file_name="gap-across-settings.csv", mime="text/csv", on_click="ignore",
                       key="history.download.across")
    with st.expander("Settings"):
        st.dataframe(pd.DataFrame({"setting": [short[k] for k in results],
                                   "comparison": [data.spec_summary(results[k].spec) for k in results]}),
                     width="stretch", hide_index=True)


def import_result(labels: dict[str, str]) -> None:
    """The last import's outcome, lasting until dismissed: the imported comparisons, each with links to open it."""
    res = st.session_state.get(IMPORTED)
    if not res:
        return
    with st.container(border=True):
        if "error" in res:
            st.error(f"**bundle**: {url.literal(res['error'], limit=2000)} — nothing was imported.")
        else:
            keys = res["keys"]
            st.success(f"Imported {len(keys)} comparison(s) from {url.literal(res['file'])}.")
            for key in keys:
                c1, c2, c3 = st.columns([4, 1, 1])
                c1.text(labels.get(key, key))  # the user's text: plain, never markup
                c2.button("Show here", key=f"history.imported.show.{key}", on_click=show_here, args=(key,),
                          disabled=key not in labels, help="select it in the Open one tab")
                spec = data.history_spec(key)
                if spec is not None and c3.button("Open in Compare", key=f"history.imported.compare.{key}"):
                    open_in_compare(key, spec, data.comparison_source(key).startswith("imported"))
        st.button("Dismiss", key="history.imported.dismiss", on_click=dismiss_import)


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
    import_result(labels)
    up = st.file_uploader("Import a bundle", type=["zip"], key=UPLOAD)
    st.button("Import", key="history.import_go", on_click=do_import, disabled=up is None)


def main() -> None:
    show_notice()
    table = data.history()
    if table.empty:
        st.info("No comparison recorded yet: run one on the Compare page (or with `python -m engine compare`), "
                "or import a results bundle below.")
        bundles({})
        return
    st.caption(f"{len(table)} comparison(s) in {data.default_cache_dir()}")
    shown = listing(table)
    st.dataframe(shown, width="stretch", hide_index=True,
                 column_config={"tags": st.column_config.ListColumn("tags"),
                                "comparison": st.column_config.TextColumn(
                                    "comparison", help="its name, else what differs from the other comparisons"),
                                "methods": st.column_config.TextColumn("methods", help="methods with a finished run")})
    labels = {k: f"{c} — {t}" for k, c, t in zip(table["key"], shown["comparison"], table["created"], strict=True)}
    if st.session_state.get(TAB) not in TABS:
        st.session_state.pop(TAB, None)
    one, several, across_tab, share = st.tabs(list(TABS), key=TAB, on_change="rerun")
    with one:
        open_one(table, labels)
    with several:
        side_by_side(table, labels)
    if across_tab.open:  # reads every chosen comparison's results: only while its tab is open
        with across_tab:
            across_settings(table, labels)
    with share:
        bundles(labels)
