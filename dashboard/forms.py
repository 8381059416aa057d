"""Widgets generated from a config schema (``engine.config.schema``): one function for every config.

float/int -> ``number_input``; choice -> ``selectbox``; bool -> ``checkbox``; ``*_or_none`` and str ->
``text_input`` (empty = ``None``). Number inputs take any number (the range is in the help text, not a widget
limit: a widget limit would silently drop an out-of-range value and keep the previous one); the page hands every
value to the engine, whose validation names the field and disables Run. Values the widget cannot hold are handed
on as typed text for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from dashboard import labels


def initial(p: Any) -> Any:
    """The widget value that stands for the schema default ``p.default``."""
    if p.type == "float":
        return float(p.default)
    if p.type == "int":
        return int(p.default)
    if p.type in ("bool", "choice"):
        return p.default
    return "" if p.default is None else str(p.default)


def coerce(p: Any, raw: Any) -> Any:
    """Widget value -> config value (best effort; invalid text is passed on for the engine to reject)."""
    if p.type.endswith("_or_none") or p.type == "str":
        text = "" if raw is None else str(raw).strip()
        if p.type == "str":
            return text
        if text == "" or text.lower() == "none":
            return None
        base = p.type.removesuffix("_or_none")
        try:
            return int(text) if base == "int" else float(text) if base == "float" else text
        except ValueError:
            return text
    if p.type == "int":
        return int(raw)
    if p.type == "float":
        return float(raw)
    return raw


def from_text(p: Any, text: str) -> Any:
    """A URL value -> widget value; raises ``ValueError`` if it does not fit the schema."""
    if p.type == "bool":
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"expected true/false, got {text!r}")
        return text.lower() in ("true", "1")
    if p.type == "choice":
        for c in p.choices:
            if str(c) == text:
                return c
        raise ValueError(f"must be one of {list(p.choices)}, got {text!r}")
    if p.type in ("int", "float"):
        v = int(text) if p.type == "int" else float(text)
        if p.range is not None and not p.range[0] <= v <= p.range[1]:
            raise ValueError(f"must be in [{p.range[0]}, {p.range[1]}], got {text}")
        return v
    return text


def param_widget(p: Any, key: str) -> Any:
    """Draw one parameter's widget (state under ``key``) and return its config value."""
    st.session_state.setdefault(key, initial(p))
    help_ = p.help + (f" (default from {p.source})" if p.source else "")
    if p.range is not None:
        help_ += f" Range: {p.range[0]:g} to {p.range[1]:g}."
    help_ += f" Key: `{p.name}`."
    label = labels.param_label(p.name)
    if p.type == "bool":
        raw = st.checkbox(label, key=key, help=help_)
    elif p.type == "choice":
        raw = st.selectbox(label, list(p.choices), key=key, help=help_)
    elif p.type == "int":
        raw = st.number_input(label, key=key, help=help_, step=1)
    elif p.type == "float":
        raw = st.number_input(label, key=key, help=help_, format="%g")
    else:
        raw = st.text_input(label, key=key, help=help_ + (" Empty = none." if p.type.endswith("_or_none") else ""))
    return coerce(p, raw)


def schema_form(params: Sequence[Any], key_of: Callable[[str], str], columns: int = 1) -> dict[str, Any]:
    """Widgets for every parameter of a schema; returns ``name -> config value``."""
    out: dict[str, Any] = {}
    if not params:
        return out
    cols = st.columns(columns) if columns > 1 else [st.container()]
    for i, p in enumerate(params):
        with cols[i % len(cols)]:
            out[p.name] = param_widget(p, key_of(p.name))
    return out
