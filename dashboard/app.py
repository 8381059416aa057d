"""Entry point: ``streamlit run dashboard/app.py``; only page configuration and the page router."""

import os
import sys
import time
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # pages import the `dashboard` package

st.set_page_config(layout="wide", page_title="Unlearning Workbench")
# not "pages/": a folder of that name next to the entry file switches Streamlit to its v1 multipage mode,
# where a direct link to a page (/history) runs that page without this router
pages = Path(__file__).parent / "app_pages"


@st.cache_resource(show_spinner=False)
def startup_bundle() -> str:
    """Import $UNLEARN_BUNDLE once per server (hosted demos show precomputed comparisons)."""
    from dashboard import data

    return data.import_startup_bundle()


TIMING = os.environ.get("UNLEARN_DASHBOARD_TIMING")  # a file: one line per script run (bench/bench_dashboard.py)
started = time.perf_counter()
if os.environ.get("UNLEARN_BUNDLE"):
    startup_bundle()
page = st.navigation([
    st.Page(pages / "compare.py", title="Compare", icon=":material/compare_arrows:", default=True),
    st.Page(pages / "history.py", title="History", icon=":material/history:"),
    st.Page(pages / "methods.py", title="Methods", icon=":material/menu_book:"),
])
try:
    page.run()
finally:  # also when the page reruns itself (a RerunException passes through here)
    if TIMING:
        with open(TIMING, "a") as f:
            f.write(f"{time.time():.3f} {page.title} {time.perf_counter() - started:.3f}\n")
