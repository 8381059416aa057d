"""Streamlit dashboard of the Unlearning Workbench (talks to the engine only through :mod:`dashboard.data`)."""
