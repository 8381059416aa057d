"""Menus and catalogues of every registry: the one source for the CLI's ``list`` and the dashboard's menus.

Plain values (dicts, lists, pandas tables), no Streamlit. Reached through :mod:`engine.api`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from engine.config import ParamSchema, schema
from engine.data import DATASETS
from engine.methods import METHODS
from engine.metrics import METRICS
from engine.models import MODELS
from engine.paradigms import PARADIGMS
from engine.registry import COMPONENT_KINDS
from engine.runner.plan import applicability
from engine.scenarios import SCENARIOS
from engine.training.config import default_train_config

KINDS = COMPONENT_KINDS
# the dashboard's first selection: both references, the common baselines, every seed method
DEFAULT_METHODS = ("original", "retrain", "finetune", "gradient_ascent", "neggrad_plus", "random_label", "udru",
                   "ugradsl", "ugradsl_plus", "pgu", "ppu", "laf")


def menu(kind: str) -> dict[str, str]:
    """``key -> title`` of every component of ``kind`` (datasets that download are marked), in registry order."""
    if kind == "datasets":
        return {k: f"{d.title}{'' if d.offline else ' (download)'}" for k, d in DATASETS.items()}
    registry = {"paradigms": PARADIGMS, "scenarios": SCENARIOS, "models": MODELS, "methods": METHODS,
                "metrics": METRICS}.get(kind)
    if registry is None:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    return {k: item.title for k, item in registry.items()}


def describe(kind: str) -> list[tuple[str, str]]:
    """``(key, one-line description)`` for every component of ``kind`` (the CLI's ``list``): its title plus details."""
    if kind == "datasets":
        return [(k, f"{d.title} - {d.num_classes} classes, {'x'.join(map(str, d.input_shape))}"
                 f"{' (offline)' if d.offline else ''}") for k, d in DATASETS.items()]
    if kind == "paradigms":
        return [(k, f"{p.title} - loss: {p.loss_name}") for k, p in PARADIGMS.items()]
    if kind == "scenarios":
        return [(k, f"{s.title} - {s.description}") for k, s in SCENARIOS.items()]
    if kind == "methods":
        return [(k, f"{m.title} [{m.family}] - needs {m.needs.describe()}") for k, m in METHODS.items()]
    if kind == "metrics":
        return [(k, f"{m.title} ({m.direction})") for k, m in METRICS.items()]
    return list(menu(kind).items())


# -- datasets, paradigms, scenarios, models ----------------------------------------------------------------------
def dataset_offline(key: str) -> bool:
    """Whether the dataset ships with the code (no download)."""
    return key in DATASETS and DATASETS.get(key).offline


def dataset_has_groups(key: str) -> bool:
    """Whether the dataset has coarse groups of its classes (CIFAR-100's 20 superclasses: the subclass scenario)."""
    return key in DATASETS and DATASETS.get(key).has_groups


def paradigm_rate(key: str) -> tuple[str | None, float | None]:
    """The paradigm's rate name (``None`` if it takes none) and its default value."""
    p = PARADIGMS.get(key, "paradigm")
    return p.rate_name, p.default_rate


def paradigm_schema(key: str) -> list[ParamSchema]:
    """The paradigm's generator / training-loss options (noisy labels: noise, pairs, classes, train loss, ...)."""
    config = PARADIGMS.get(key, "paradigm").config
    return [] if config is None else schema(config)


def scenario_description(key: str) -> str:
    return SCENARIOS.get(key, "scenario").description


def scenario_schema(key: str) -> list[ParamSchema]:
    return schema(SCENARIOS.get(key, "scenario").config)


def default_epochs(dataset: str, model: str) -> int:
    """Epochs of the default training config of ``dataset`` x ``model``."""
    return int(default_train_config(dataset, model).epochs)


# -- methods -----------------------------------------------------------------------------------------------------
def _own_originals() -> dict[str, str]:
    """Row key -> title of the extra rows methods add (their own model before unlearning, ``Method.own_original``)."""
    return {m.own_original[0]: m.own_original[1] for _, m in METHODS.items() if m.own_original is not None}


def method_keys() -> list[str]:
    """Every registered method key, in catalogue order."""
    return list(METHODS.keys())


def method_title(key: str) -> str:
    """The method's title; a row that is no registered method (e.g. ``sisa_original``, a method's own model before
    unlearning) gets the title its method declares, anything else its key."""
    if key in METHODS:
        return METHODS.get(key).title
    return _own_originals().get(key, key)


def method_family(key: str) -> str:
    """The method's family (``reference`` for rows that evaluate a model before unlearning, else ``""``)."""
    if key in METHODS:
        return METHODS.get(key).family
    return "reference" if key in _own_originals() else ""


def method_schema(key: str) -> list[ParamSchema]:
    """Hyper-parameter schema of a registered method (an unknown key has none: building a spec rejects it)."""
    return schema(METHODS.get(key).config) if key in METHODS else []


def not_applicable(paradigm: str) -> dict[str, str]:
    """``method -> reason`` for every method that cannot run under ``paradigm`` (a reference model always can)."""
    p = PARADIGMS.get(paradigm, "paradigm")
    out = {}
    for k, m in METHODS.items():
        reason = applicability(m, p)
        if reason:
            out[k] = reason
    return out


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


def method_catalogue() -> list[dict[str, Any]]:
    """Everything the Methods page shows about each registered method (its schema as a table)."""
    from engine.tuning.space import search_space

    out = []
    for k, m in METHODS.items():
        searched = searched_text(search_space(k))
        out.append({
            "key": k, "title": m.title, "family": m.family, "paper": m.paper, "doc": m.doc or "",
            "needs": m.needs.describe(), "paradigms": ", ".join(m.paradigms) if m.paradigms else "all",
            "defaults_chosen": m.defaults_chosen, "ours_fields": ", ".join(m.ours_fields()),
            "schema": pd.DataFrame([{"name": p.name, "type": p.type, "default": _text(p.default),
                                     "range": _text(p.range or p.choices or ""), "help": p.help,
                                     "source": p.source, "tuner searches": searched.get(p.name, "")}
                                    for p in schema(m.config)]),
        })
    return out


def searched_text(space: Any) -> dict[str, str]:
    """Field -> what the tuner searches of it (``engine.tuning.space``): ``log 1e-07 … 1``, ``2 … 10``,
    ``one of …``, or ``not searched: <why>``."""
    out = {}
    for d in space.dimensions:
        if d.kind == "categorical":
            out[d.name] = "one of " + ", ".join(map(_text, d.choices))
        else:
            out[d.name] = f"{'log ' if d.log else ''}{d.low:g} … {d.high:g}"
    out.update({name: f"not searched: {why}" for name, why in space.fixed.items()})
    return out


# -- metrics -----------------------------------------------------------------------------------------------------
def metric_catalogue() -> pd.DataFrame:
    """One row per metric: key, title, direction, ideal, group and the papers' names for it."""
    return pd.DataFrame([{"key": k, "title": m.title, "direction": m.direction,
                          "ideal": "" if m.ideal is None else _text(m.ideal), "group": m.group,
                          "papers": m.papers} for k, m in METRICS.items()])
