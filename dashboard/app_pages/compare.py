"""Compare page: pick a setting and methods, run (in the background), watch progress, explore results.

The page's code is ``dashboard/compare_page.py``: a page script is compiled on every run, a module once per server.
"""

import streamlit as st

# drawn before the engine (torch) loads below: the page paints at once on a cold server
st.title("Compare unlearning methods")

from dashboard import compare_page  # noqa: E402

compare_page.main()
