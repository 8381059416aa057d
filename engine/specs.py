"""Building a :class:`ComparisonSpec` from a user's choices (dashboard widgets, a paper preset), in one place.

Only departures from the defaults go into the spec (method hyper-parameters and paradigm options equal to their
schema default, epochs equal to the dataset x model default are left out), so that the same setting chosen
different ways has the same comparison key. Scenario parameters the scenario's schema knows are kept as given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from engine.catalogue import (
    dataset_has_groups,
    default_epochs,
    method_schema,
    not_applicable,
    paradigm_rate,
    paradigm_schema,
    scenario_schema,
)
from engine.config import config_dict
from engine.errors import SpecError
from engine.methods import METHODS
from engine.presets import PRESETS
from engine.problem import resolve
from engine.spec import ComparisonSpec, MethodSpec


def make_spec(*, dataset: str = "digits", paradigm: str = "supervised", rate: float | None = None,
              paradigm_params: Mapping[str, Any] | None = None, scenario: str = "class",
              scenario_params: Mapping[str, Any] | None = None, model: str = "cnn",
              methods: Sequence[str] = (), hparams: Mapping[str, Mapping[str, Any]] | None = None,
              seeds: int = 1, device: str = "auto", epochs: int | None = None,
              shadow_models: int = 0, labelled_fraction: float = 1.0, ulira_shadows: int = 0,
              feature_audit: bool = False) -> ComparisonSpec:
    """The spec of a selection (raises :class:`~engine.errors.SpecError` naming the field of an unknown method).

    ``seeds`` is a count (seeds 0..S-1); ``epochs`` ``None`` means the dataset x model default. ``coarse`` follows
    from the choice: CIFAR-100's subclass scenario trains on the 20 coarse labels. ``labelled_fraction``: under
    ``label_free``, the share of training samples whose labels the training saw (ignored by other paradigms).
    """
    for name in methods:
        METHODS.get(name, "methods")
    rate_name, _ = paradigm_rate(paradigm)
    train: tuple[tuple[str, Any], ...] = ()
    if epochs is not None and epochs != default_epochs(dataset, model):
        train = (("epochs", int(epochs)),)
    known_scen = {p.name for p in scenario_schema(scenario)}
    scen = tuple((k, v) for k, v in (scenario_params or {}).items() if k in known_scen)
    para_defaults = {p.name: p.default for p in paradigm_schema(paradigm)}
    para = tuple((k, v) for k, v in (paradigm_params or {}).items() if k in para_defaults and v != para_defaults[k])
    meths = []
    for name in methods:
        defaults = {p.name: p.default for p in method_schema(name)}
        given = (hparams or {}).get(name, {})
        meths.append(MethodSpec(name, tuple((k, v) for k, v in given.items() if k in defaults and v != defaults[k])))
    return ComparisonSpec(
        dataset=dataset, coarse=dataset_has_groups(dataset) and scenario == "subclass", paradigm=paradigm,
        rate=rate if rate_name else None, paradigm_params=para,
        labelled_fraction=labelled_fraction if paradigm == "label_free" else 1.0, scenario=scenario,
        scenario_params=scen,
        model=model, train=train, methods=tuple(meths), seeds=tuple(range(int(seeds))), device=device,
        shadow_models=int(shadow_models), ulira_shadows=int(ulira_shadows), feature_audit=bool(feature_audit))


def preset_choice(key: str) -> dict[str, Any]:
    """Preset ``key`` as :func:`make_spec`'s keyword arguments (scenario parameters complete, in schema order;
    methods this build does not implement left out)."""
    p = PRESETS.get(key, "preset")
    given = dict(p.scenario_params)
    scen = {q.name: given.get(q.name, q.default) for q in scenario_schema(p.scenario)}
    runnable, _ = p.available_methods(METHODS.keys())
    hp = p.hparam_dict()
    return {"dataset": p.dataset, "paradigm": p.paradigm, "rate": p.rate, "paradigm_params": dict(p.paradigm_params),
            "scenario": p.scenario, "scenario_params": scen, "model": p.model, "methods": runnable,
            "hparams": {m: dict(hp[m]) for m in runnable if m in hp}, "seeds": p.seeds,
            "epochs": p.epochs if p.epochs is not None else default_epochs(p.dataset, p.model)}


def setting_id(spec: ComparisonSpec) -> str:
    """The setting (everything but methods, seeds and device) with every parameter resolved to its value, so that
    a parameter given at its default and one left out compare equal."""
    d = spec.to_json()
    for k in ("methods", "seeds", "device"):
        d.pop(k)
    setting = resolve(spec)
    d["scenario_params"] = config_dict(setting.scenario_cfg)
    d["train"] = config_dict(setting.train_cfg)
    d["paradigm_params"] = config_dict(setting.paradigm_cfg) if setting.paradigm_cfg is not None else {}
    return json.dumps(d, sort_keys=True, default=str)


def matching_presets(spec: ComparisonSpec) -> list[str]:
    """Presets whose setting (everything but methods, seeds and device) is ``spec``'s."""
    from engine.errors import SpecError

    target = setting_id(spec)
    out = []
    for key in PRESETS.keys():
        try:
            if setting_id(make_spec(**preset_choice(key))) == target:
                out.append(key)
        except SpecError:
            continue
    return out


def spec_summary(spec: ComparisonSpec | Mapping[str, Any]) -> str:
    """One line describing a comparison (History, the results header)."""
    d = spec.to_json() if isinstance(spec, ComparisonSpec) else spec
    rate = f" {d['rate']}" if d.get("rate") is not None else ""
    para = ", ".join(f"{k}={v}" for k, v in d.get("paradigm_params", []))
    rate += f" ({para})" if para else ""
    params = ", ".join(f"{k}={v}" for k, v in d.get("scenario_params", []))
    train = ", ".join(f"{k}={v}" for k, v in d.get("train", []))
    names = [m["name"] if isinstance(m, Mapping) else m[0] for m in d["methods"]]
    try:
        na = set(not_applicable(d["paradigm"]))
    except SpecError:  # an unknown paradigm (a record from another build): count every method
        na = set()
    n_app = sum(1 for m in names if m not in na)
    methods = f"{len(names)} methods" if n_app == len(names) else f"{n_app} of {len(names)} methods applicable"
    return (f"{d['dataset']} · {d['paradigm']}{rate} · {d['scenario']}{f' ({params})' if params else ''} · "
            f"{d['model']}{f' [{train}]' if train else ''} · {methods} · "
            f"{len(d['seeds'])} seed(s)")


def short_labels(specs: Mapping[str, ComparisonSpec]) -> dict[str, str]:
    """``key -> label`` naming only what differs between the comparisons (e.g. ``paradigm=noisy_label 0.2``,
    ``finetune.lr=0.01``): the setting's fields (paradigm options, scenario parameters and training overrides
    included), seeds, shadow models, device and the methods' hyper-parameters. A hyper-parameter is compared between
    the comparisons that ran its method (``default`` where it was not set). Comparisons that would share a label say
    which methods they ran that not all of the others did (``methods +laf``), then, if still alike, their key.
    """
    fields = {k: _describe(s) for k, s in specs.items()}
    hparams = {k: _hparams(s) for k, s in specs.items()}
    ran = {k: {m.name for m in s.methods} for k, s in specs.items()}
    names = list(next(iter(fields.values()), {}))
    differ = [n for n in names if n != "methods" and len({f[n] for f in fields.values()}) > 1]
    hp_names = list(dict.fromkeys(n for h in hparams.values() for n in h))

    def hp_value(k: str, n: tuple[str, str]) -> str | None:
        return hparams[k].get(n, "default") if n[0] in ran[k] else None

    hp_differ = [n for n in hp_names if len({v for k in specs if (v := hp_value(k, n)) is not None}) > 1]
    out = {}
    for k, f in fields.items():
        parts = [(f[n] if f[n] != "default" else "default training") if n == "train" else f"{n}={f[n]}"
                 for n in differ]
        parts += [f"{m}.{p}={v}" for m, p in hp_differ if (v := hp_value(k, (m, p))) is not None]
        out[k] = ", ".join(parts) or f"comparison {k[:6]}"
    for group in _collisions(out):  # the same label: say which methods one ran that not all of the others did
        common = set.intersection(*(ran[k] for k in group))
        for k in group:
            extra = [m.name for m in specs[k].methods if m.name not in common]
            out[k] += f", methods +{' +'.join(extra)}" if extra else ""
    for group in _collisions(out):  # still ambiguous: add the key
        for k in group:
            out[k] = f"{out[k]} [{k[:6]}]"
    return out


def _collisions(labels: Mapping[str, str]) -> list[list[str]]:
    """Groups of keys sharing one label."""
    by_label: dict[str, list[str]] = {}
    for k, v in labels.items():
        by_label.setdefault(v, []).append(k)
    return [g for g in by_label.values() if len(g) > 1]


def _pairs(pairs: Sequence[Sequence[Any]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs)


def _describe(spec: ComparisonSpec) -> dict[str, str]:
    params, para = _pairs(spec.scenario_params), _pairs(spec.paradigm_params)
    paradigm = spec.paradigm + (f" {spec.rate}" if spec.rate is not None else "") + (f" ({para})" if para else "")
    return {"dataset": spec.dataset + (" (coarse)" if spec.coarse else ""), "paradigm": paradigm,
            "labelled_fraction": str(spec.labelled_fraction),
            "scenario": spec.scenario + (f" ({params})" if params else ""), "model": spec.model,
            "train": _pairs(spec.train) or "default", "seeds": str(len(spec.seeds)),
            "shadow_models": str(spec.shadow_models), "device": spec.device,
            "methods": ",".join(m.name for m in spec.methods)}


def _hparams(spec: ComparisonSpec) -> dict[tuple[str, str], str]:
    """``(method, hyper-parameter) -> value`` of every hyper-parameter a method of ``spec`` sets."""
    return {(m.name, k): str(v) for m in spec.methods for k, v in m.hparams}


def spec_to_text(spec: ComparisonSpec) -> str:
    """Canonical JSON text of a spec (hashable, for caches)."""
    return json.dumps(spec.to_json(), sort_keys=True)


def spec_from_text(text: str) -> ComparisonSpec:
    """The spec of :func:`spec_to_text`'s text."""
    return ComparisonSpec.from_json(json.loads(text))
