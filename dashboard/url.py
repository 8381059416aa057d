"""The Compare page's selection <-> URL query parameters (a shareable link reproduces the selection).

Parameters: ``dataset``, ``paradigm``, ``rate``, ``p.<param>`` (paradigm parameters that differ from their
default), ``scenario``, ``s.<param>`` (scenario parameters), ``model``,
``methods`` (comma-separated), ``h.<method>.<param>`` (hyper-parameters that differ from their default),
``seeds``, ``device``, ``epochs``, ``shadow`` (shadow-model pairs).
"""

from __future__ import annotations

from typing import Any

from dashboard import data, forms, state


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

    dataset = choose("dataset", state.DATASET, data.datasets()) or "digits"
    paradigm = choose("paradigm", state.PARADIGM, data.paradigms()) or "supervised"
    scenario = choose("scenario", state.SCENARIO, data.scenarios()) or "class"
    model = choose("model", state.MODEL, data.models()) or "cnn"
    choose("device", state.DEVICE, {d: d for d in data.DEVICES})
    if "rate" in q and data.paradigm_rate(paradigm)[0]:
        try:
            rate = float(q["rate"])
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"must be in [0, 1), got {q['rate']}")
            out[state.RATE] = rate
        except ValueError as e:
            errors.append(f"rate: {e}")
    scen = {p.name: p for p in data.scenario_schema(scenario)}
    para = {p.name: p for p in data.paradigm_schema(paradigm)}
    methods = data.methods()
    if "methods" in q:
        names = [m.strip() for m in q["methods"].split(",") if m.strip()]
        bad = [m for m in names if m not in methods]
        if bad:
            errors.append(f"methods: unknown method(s) {', '.join(bad)}")
        out[state.METHODS] = [m for m in names if m in methods]
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
                out[state.hparam(method, name)] = forms.from_text(hp[name], v)
        except ValueError as e:
            errors.append(f"{k}: {e}")
    for name, key, lo, hi in (("seeds", state.SEEDS, 1, 5), ("epochs", state.epochs(dataset, model), 1, 1000),
                              ("shadow", state.SHADOW, 0, 100)):
        if name in q:
            try:
                n = int(q[name])
                if not lo <= n <= hi:
                    raise ValueError(f"must be in [{lo}, {hi}], got {n}")
                out[key] = n
            except ValueError as e:
                errors.append(f"{name}: {e}")
    return out, errors
