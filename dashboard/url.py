"""The Compare page's selection <-> URL query parameters (a shareable link reproduces the selection).

Parameters: ``dataset``, ``paradigm``, ``rate``, ``p.<param>`` (paradigm parameters that differ from their
default), ``scenario``, ``s.<param>`` (scenario parameters), ``model``,
``methods`` (comma-separated), ``h.<method>.<param>`` (hyper-parameters that differ from their default),
``seeds``, ``device``, ``epochs``, ``shadow`` (shadow-model pairs), ``ulira`` (U-LiRA / RMIA shadow pairs K),
``audit`` (the representation audit, ``true``), ``lf`` (label_free: labelled fraction); and the view: ``view`` (the
open results tab), ``gaps`` (signed gaps to retrain), ``split`` (the per-class split).

A link is text from anyone: every value is checked against the menus and schemas, and every key or value that
is not used (unknown, out of range, a device this machine lacks, a key given twice) is named in a message.
Messages quote the link, so the page shows them through :func:`literal`: never as a link, image or HTML.
"""

from __future__ import annotations

import re
from typing import Any

from dashboard import data, forms, state

KEYS = ("dataset", "paradigm", "rate", "scenario", "model", "methods", "seeds", "device", "epochs", "shadow", "ulira",
        "audit", "lf", "view", "gaps", "split")
VIEW_PREFIX = "compare"  # the Compare page's results view (its widget keys are scoped by this prefix)
TABS = {"leaderboard": "Leaderboard", "charts": "Charts", "cost": "Cost & outputs", "per-class": "Per class",
        "forget-set": "Forget set", "audit": "Audit", "tuning": "Tuning",
        "paper": "Paper numbers"}  # ``view`` value -> results tab
SPLITS = ("test", "train_forget", "train_retain")
PREFIXES = ("p.", "s.", "h.")  # paradigm, scenario and method parameters, checked against their schema
MAX_QUOTED = 300  # characters of a message quoting the link (a long value is cut)
MAX_NOTICES = 20  # messages the page shows (a link may carry any number of keys); then how many more
# text that no markdown rule Streamlit applies can turn into markup: word characters, spaces, some punctuation, a
# colon only before a space (no :emoji:, :material/icon:, :red[...], http://), brackets not forming [a](b) / ![a],
# no www. autolink, no _emphasis_ (an underscore inside a word is fine), no list marker at the start
_INERT = re.compile(r"(?:[\w .,;'\"=()\[\]+\-/%?·±…]|:(?=\s|$))*")
_MARKUP = re.compile(r"\]\(|\]\[|!\[|(?i:www\.)|(?<![^\W_])_|_(?![^\W_])|^\s*(?:[-+]|\d+[.)])")


def literal(text: str, limit: int = MAX_QUOTED) -> str:
    """Markdown that shows ``text`` as typed: inert text unchanged, anything else as a code span.

    Streamlit renders markdown in alerts and captions, including GFM autolinks (``www.x``, ``a@b``, ``http://``
    even when backslash-escaped), ``:material/...:`` icons, ``:color[...]``, ``$math$`` and images; a code span is
    shown verbatim. Control and format characters (newlines, bidi overrides) are written as escapes first.
    """
    flat = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    if len(flat) > limit:
        flat = flat[:limit] + "…"
    if _INERT.fullmatch(flat) and not _MARKUP.search(flat):
        return flat
    fence = "`" * (max((len(r) for r in re.findall(r"`+", flat)), default=0) + 1)
    flat = flat.replace(":material/", ":\u2060material/")  # Streamlit rewrites the icon shortcode even in code
    return f"{fence} {flat} {fence}"


def notice(message: str) -> str:
    """The Compare page's markdown for one unusable part of the link."""
    return f"Link parameter ignored — {literal(message)}"


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return repr(v)
    return str(v)


def to_params(sel: data.Selection) -> dict[str, str]:
    """Query parameters that encode ``sel`` (defaults of hyper-parameters are left out)."""
    q = {"dataset": sel.dataset, "paradigm": sel.paradigm}
    if sel.rate is not None and data.paradigm_rate(sel.paradigm)[0]:
        q["rate"] = _text(sel.rate)
    para_defaults = {p.name: p.default for p in data.paradigm_schema(sel.paradigm)}
    for k, v in sel.paradigm_params.items():
        if k in para_defaults and v != para_defaults[k]:
            q[f"p.{k}"] = _text(v)
    q["scenario"] = sel.scenario
    for k, v in sel.scenario_params.items():
        q[f"s.{k}"] = "" if v is None else _text(v)
    q["model"] = sel.model
    q["methods"] = ",".join(sel.methods)
    for m in sel.methods:
        defaults = {p.name: p.default for p in data.method_schema(m)}
        for k, v in sel.hparams.get(m, {}).items():
            if k in defaults and v != defaults[k]:
                q[f"h.{m}.{k}"] = "" if v is None else _text(v)
    q["seeds"] = str(sel.seeds)
    q["device"] = sel.device
    if sel.epochs is not None and sel.epochs != data.default_epochs(sel.dataset, sel.model):
        q["epochs"] = str(sel.epochs)
    if sel.shadow_models:
        q["shadow"] = str(sel.shadow_models)
    if sel.ulira_shadows:
        q["ulira"] = str(sel.ulira_shadows)
    if sel.feature_audit:
        q["audit"] = "true"
    if sel.paradigm == "label_free" and sel.labelled_fraction != 1.0:
        q["lf"] = _text(sel.labelled_fraction)
    return q


def view_keys() -> dict[str, str]:
    """Link parameter -> session-state key of the Compare page's results view."""
    return {"view": state.scoped(VIEW_PREFIX, state.RESULTS_TAB), "gaps": state.scoped(VIEW_PREFIX, state.SHOW_GAPS),
            "split": state.scoped(VIEW_PREFIX, state.PER_CLASS_SPLIT)}


def view_params(session: Any) -> dict[str, str]:
    """Query parameters of the results view the page shows (open tab, gaps toggle, per-class split; defaults
    left out), so a shared link opens the same view."""
    keys = view_keys()
    q: dict[str, str] = {}
    tab = session.get(keys["view"])
    slug = {v: k for k, v in TABS.items()}.get(tab)
    if slug and slug != "leaderboard":
        q["view"] = slug
    if session.get(keys["gaps"]):
        q["gaps"] = "true"
    split = session.get(keys["split"])
    if split in SPLITS and split != "test":
        q["split"] = split
    return q


def to_state(q: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Session-state values for the widgets from query parameters, and messages naming unusable ones."""
    out: dict[str, Any] = {}
    errors: list[str] = []

    def choose(name: str, key: str, menu: dict[str, str]) -> str | None:
        if name not in q:
            return None
        if q[name] not in menu:
            errors.append(f"{name}: unknown value {q[name]!r}; valid: {', '.join(menu)}")
            return None
        out[key] = q[name]
        return q[name]

    for k, v in q.items():
        if k not in KEYS and not k.startswith(PREFIXES):
            errors.append(f"{k}: unknown link parameter (value {v!r}); the link's parameters are {', '.join(KEYS)}, "
                          f"p.PARAM, s.PARAM and h.METHOD.PARAM")
    dataset = choose("dataset", state.DATASET, data.datasets()) or "digits"
    paradigm = choose("paradigm", state.PARADIGM, data.paradigms()) or "supervised"
    scenario = choose("scenario", state.SCENARIO, data.scenarios()) or "class"
    model = choose("model", state.MODEL, data.models()) or "cnn"
    device = q.get("device", "")
    if device.startswith("cuda") and not data.device_available(device):
        errors.append(f"device: {device!r} needs a CUDA GPU and this machine has none; left at auto")
    else:
        choose("device", state.DEVICE, {d: d for d in data.DEVICES})
    if "rate" in q and not data.paradigm_rate(paradigm)[0]:
        errors.append(f"rate: paradigm {paradigm!r} has no rate")
    elif "rate" in q:
        try:
            rate = float(q["rate"])
            if not 0.0 <= rate < 1.0:  # NaN too
                raise ValueError(f"must be in [0, 1), got {q['rate']!r}")
            out[state.RATE] = rate
        except ValueError as e:
            errors.append(f"rate: {e}")
    scen = {p.name: p for p in data.scenario_schema(scenario)}
    para = {p.name: p for p in data.paradigm_schema(paradigm)}
    methods = data.methods()
    selected = data.default_methods()
    if "methods" in q:
        names = [m.strip() for m in q["methods"].split(",") if m.strip()]
        bad = [m for m in names if m not in methods]
        if bad:
            errors.append(f"methods: unknown method(s) {', '.join(map(repr, bad))}")
        twice = sorted({m for m in names if names.count(m) > 1})
        if twice:
            errors.append(f"methods: listed more than once: {', '.join(map(repr, twice))}")
        selected = list(dict.fromkeys(m for m in names if m in methods))
        out[state.METHODS] = selected
    for k, v in q.items():
        try:
            if k.startswith("p."):
                name = k[2:]
                if name not in para:
                    raise ValueError(f"paradigm {paradigm!r} has no parameter {name!r}")
                out[state.paradigm_param(paradigm, name)] = forms.from_text(para[name], v)
            elif k.startswith("s."):
                name = k[2:]
                if name not in scen:
                    raise ValueError(f"scenario {scenario!r} has no parameter {name!r}")
                out[state.scenario_param(scenario, name)] = forms.from_text(scen[name], v)
            elif k.startswith("h."):
                method, _, name = k[2:].partition(".")
                hp = {p.name: p for p in data.method_schema(method)} if method in methods else {}
                if name not in hp:
                    raise ValueError(f"unknown hyper-parameter {k[2:]!r}")
                if method not in selected:
                    raise ValueError(f"method {method!r} is not selected")
                out[state.hparam(method, name)] = forms.from_text(hp[name], v)
        except ValueError as e:
            errors.append(f"{k}: {e}")
    if "lf" in q and paradigm != "label_free":
        errors.append(f"lf: only the label_free paradigm takes a labelled fraction (paradigm {paradigm!r})")
    elif "lf" in q:
        try:
            lf = float(q["lf"])
            if not 0.0 < lf <= 1.0:  # NaN too
                raise ValueError(f"must be in (0, 1], got {q['lf']!r}")
            out[state.LABELLED] = lf
        except ValueError as e:
            errors.append(f"lf: {e}")
    keys = view_keys()
    if "view" in q:
        if q["view"] in TABS:
            out[keys["view"]] = TABS[q["view"]]
        else:
            errors.append(f"view: unknown results tab {q['view']!r}; valid: {', '.join(TABS)}")
    if "gaps" in q:
        if q["gaps"].lower() in ("true", "false", "1", "0"):
            out[keys["gaps"]] = q["gaps"].lower() in ("true", "1")
        else:
            errors.append(f"gaps: expected true/false, got {q['gaps']!r}")
    if "audit" in q:
        if q["audit"].lower() in ("true", "false", "1", "0"):
            out[state.FEATURE_AUDIT] = q["audit"].lower() in ("true", "1")
        else:
            errors.append(f"audit: expected true/false, got {q['audit']!r}")
    if "split" in q:
        if q["split"] in SPLITS:
            out[keys["split"]] = q["split"]
        else:
            errors.append(f"split: unknown split {q['split']!r}; valid: {', '.join(SPLITS)}")
    for name, key, lo, hi in (("seeds", state.SEEDS, 1, data.MAX_SEEDS),
                              ("epochs", state.epochs(dataset, model), 1, 1000),
                              ("shadow", state.SHADOW, 0, 100),
                              ("ulira", state.ULIRA, 0, data.ULIRA_MAX)):
        if name in q:
            text = q[name].strip()
            if not re.fullmatch(r"[0-9]{1,6}", text):  # no sign, exponent or non-ASCII digits
                errors.append(f"{name}: expected a whole number from {lo} to {hi}, got {q[name]!r}")
            elif not lo <= int(text) <= hi:
                errors.append(f"{name}: must be in [{lo}, {hi}], got {int(text)}")
            else:
                out[key] = int(text)
    return out, errors


def read(query: Any) -> tuple[dict[str, Any], list[str]]:
    """:func:`to_state` of the page's query parameters (``st.query_params``: the last value of a repeated key),
    with a message for every key given more than once."""
    q = query.to_dict()
    values, errors = to_state(q)
    for k in q:
        n = len(query.get_all(k))
        if n > 1:
            errors.append(f"{k}: given {n} times; only the last value, {q[k]!r}, is used")
    return values, errors
