"""Methods page: every registered method and metric.

The page's code is ``dashboard/methods_page.py``: a page script is compiled on every run, a module once per server.
"""

import streamlit as st

# drawn before the engine (torch) loads below: the page paints at once on a cold server
st.title("Methods and metrics")

from dashboard import methods_page  # noqa: E402

methods_page.main()
