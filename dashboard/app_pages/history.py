"""History page: comparisons recorded in the store; manage, open, put side by side, across settings.

The page's code is ``dashboard/history_page.py``: a page script is compiled on every run, a module once per server.
"""

import streamlit as st

# drawn before the engine (torch) loads below: the page paints at once on a cold server
st.title("History")

from dashboard import history_page  # noqa: E402

history_page.main()
