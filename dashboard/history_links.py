"""Links from History to the Compare page: a recorded comparison's spec as the Compare page's selection.

:func:`selection_of` turns a spec back into a :class:`~dashboard.data.Selection` (the widgets' view: every
scenario parameter set, seeds a count), :func:`compare_query` into the Compare page's query parameters
(``dashboard.url.to_params``; the Compare page is the app's default page, at ``/``), :func:`share_url` into a full
link, and :func:`compare_state` into the widget values that open it in this session (every other parameter of
the selection's schemas back at its default, as a preset is applied).
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from dashboard import data, forms, state, url


@dataclasses.dataclass(frozen=True)
class CompareLink:
    """How a recorded comparison opens on the Compare page."""

    selection: data.Selection
    query: dict[str, str]  # the Compare page's query parameters
    notes: tuple[str, ...]  # what of the spec the link cannot hold (empty: it reproduces the comparison exactly)

    @property
    def exact(self) -> bool:
        return not self.notes


def selection_of(spec: data.ComparisonSpec) -> data.Selection:
    """The Compare page's selection of ``spec``: scenario parameters complete in schema order (the page's form sets
    every one), method hyper-parameters and paradigm options as the spec gives them, ``epochs`` from ``train``."""
    given = dict(spec.scenario_params)
    scen = {p.name: given.get(p.name, p.default) for p in data.scenario_schema(spec.scenario)}
    train = dict(spec.train)
    kwargs: dict[str, Any] = {
        "dataset": spec.dataset, "paradigm": spec.paradigm, "rate": spec.rate,
        "paradigm_params": dict(spec.paradigm_params), "scenario": spec.scenario, "scenario_params": scen,
        "model": spec.model, "methods": [m.name for m in spec.methods],
        "hparams": {m.name: dict(m.hparams) for m in spec.methods if m.hparams}, "seeds": len(spec.seeds),
        "device": spec.device, "epochs": train.get("epochs"), "shadow_models": spec.shadow_models,
        "labelled_fraction": spec.labelled_fraction, "ulira_shadows": spec.ulira_shadows,
        "feature_audit": spec.feature_audit}
    return data.Selection(**kwargs)


def compare_link(key: str, spec: data.ComparisonSpec) -> CompareLink:
    """The Compare page's selection and query of recorded comparison ``key``, and what the link cannot hold (a
    training override other than epochs, seeds other than 0..N-1, a value the page's widgets refuse)."""
    sel = selection_of(spec)
    q = url.to_params(sel)
    notes = []
    other = sorted(k for k, _ in spec.train if k != "epochs")
    if other:
        notes.append(f"training overrides the Compare page does not set: {', '.join(other)}")
    if tuple(spec.seeds) != tuple(range(len(spec.seeds))):
        notes.append(f"seeds {list(spec.seeds)}: the Compare page runs seeds 0 to N-1")
    _, errors = url.to_state(q)
    notes += [f"link parameter {e}" for e in errors]
    # the page's form sets every scenario parameter: a spec that left some at their default is the same comparison
    complete = dataclasses.replace(spec, scenario_params=tuple(sel.scenario_params.items()))
    try:
        rebuilt = data.build_spec(sel).comparison_key()
    except data.SpecError as e:
        notes.append(f"{e.field}: {e.message}")
    else:
        if rebuilt not in (key, complete.comparison_key()) and not notes:
            notes.append("the Compare page cannot hold every field of this comparison; it opens the closest one")
    return CompareLink(sel, q, tuple(notes))


def query_string(q: dict[str, str]) -> str:
    """``q`` as a query string (commas and dots kept readable)."""
    return urlencode(q, quote_via=quote, safe=",:")


def share_url(q: dict[str, str], page_url: str | None) -> str:
    """A full link to the Compare page with query ``q``; ``page_url``: the URL of the page showing it (the History
    page, ``…/history``), ``None`` or empty for a link relative to the app's root."""
    root = "/"
    if page_url:
        parts = urlsplit(page_url)
        path = parts.path.rstrip("/")
        base = path.rsplit("/", 1)[0] if path.endswith("/history") else path
        root = f"{parts.scheme}://{parts.netloc}{base}/" if parts.scheme and parts.netloc else f"{base}/"
    return f"{root}?{query_string(q)}"


def compare_state(sel: data.Selection) -> dict[str, Any]:
    """Session-state values that make the Compare page show ``sel``: the link's values over every paradigm option,
    scenario parameter and selected method's hyper-parameter at its default (so nothing set earlier in the
    session lingers), epochs at the default unless the selection sets them, no shadow models, U-LiRA or
    representation audit unless asked."""
    values: dict[str, Any] = {}
    for p in data.paradigm_schema(sel.paradigm):
        values[state.paradigm_param(sel.paradigm, p.name)] = forms.initial(p)
    for p in data.scenario_schema(sel.scenario):
        values[state.scenario_param(sel.scenario, p.name)] = forms.initial(p)
    for m in sel.methods:
        for p in data.method_schema(m):
            values[state.hparam(m, p.name)] = forms.initial(p)
    values[state.epochs(sel.dataset, sel.model)] = data.default_epochs(sel.dataset, sel.model)
    values[state.SHADOW] = 0
    values[state.ULIRA] = 0
    values[state.FEATURE_AUDIT] = False
    values[state.LABELLED] = 1.0
    link_values, _ = url.to_state(url.to_params(sel))
    values.update(link_values)
    return values
