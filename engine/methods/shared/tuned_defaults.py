"""Shipped defaults chosen by the tuner (issue 15; DESIGN.md "Evaluation protocol": one tuning protocol).

``tuned_defaults.json`` (next to this module) is the record of one tuner run, written by
``python -m engine tune-defaults`` (:mod:`engine.tuning.defaults`): the command, the setting, the budget, the tuning
seeds, the objective and, per method, the values the study found (with its objective at the pre-tuning defaults and
at the tuned values). Every method with an entry gets those values as its defaults when it registers
(:func:`tuned_config`): a subclass of its config dataclass whose fields carry the tuned defaults, each field's
``source`` saying the value came from the tuner and what it was before. The literals in the method modules are the
**pre-tuning** defaults (the papers' / the earlier hand-chosen values); :func:`pretuned_config` gives them back, and
the tuner run that chose the shipped values starts from them, so it is reproducible after they are applied.

Full-size paper presets pass the papers' values explicitly (``PAPER_DEFAULTS``) and are not affected.

Only values the run's stability rule adopted are applied (``values``; the tuner's best is kept in ``found`` either
way): see :mod:`engine.tuning.defaults`. A method that runs another one first (PPU-after's base) runs it at the base's
pre-tuning defaults. The first, unconfirmed defaults run (2026-12-01, work fields searched, no stability rule) is
kept in ``docs/tuning/defaults-run-2026-12-01.json``: applied as it was, fine-tuning's tuned learning rate diverged
under PPU-after.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

RECORD = Path(__file__).with_name("tuned_defaults.json")
PRETUNED = "__pretuned__"  # attribute of a tuned config class: the class it was derived from


@functools.cache
def record() -> dict[str, Any]:
    """The tuner run's record (``{}`` when none has been recorded)."""
    if not RECORD.exists():
        return {}
    return json.loads(RECORD.read_text())


def entry(method: str) -> dict[str, Any] | None:
    """The record's entry for ``method`` (``values``, ``pretuned``, ``objective_default``, ``objective_tuned``,
    ``trials``), or ``None``."""
    return record().get("methods", {}).get(method)


def tuned_config(method: str, config: type) -> type:
    """``config`` with the tuner's values for ``method`` as its defaults (``config`` itself when the record has no
    values for it). Raises ``ValueError`` for a recorded field the config does not have (a stale record)."""
    e = entry(method)
    values = {} if e is None else dict(e.get("values", {}))
    fields = {f.name: f for f in dataclasses.fields(config)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"tuned_defaults.json: method {method!r} has no field(s) {', '.join(unknown)}; record the "
                         "tuner run again (python -m engine tune-defaults)")
    changed = {k: v for k, v in values.items() if fields[k].default != v}
    if not changed:
        return config
    run = record().get("run", {})
    ns: dict[str, Any] = {"__annotations__": {}, "__module__": config.__module__, "__qualname__": config.__qualname__,
                          "__doc__": config.__doc__, PRETUNED: config}
    for name, value in changed.items():
        f = fields[name]
        meta = dict(f.metadata)
        meta["source"] = (f"tuner ({run.get('label', 'recorded run')}); before: {f.default!r}"
                          + (f"; {f.metadata['source']}" if f.metadata.get("source") else ""))
        ns["__annotations__"][name] = f.type
        ns[name] = dataclasses.field(default=value, metadata=meta)
    return dataclasses.dataclass(frozen=True)(type(config.__name__, (config,), ns))


def pretuned_config(config: type) -> type:
    """The config class with the method module's own (pre-tuning) defaults."""
    return getattr(config, PRETUNED, config) if PRETUNED in vars(config) else config


def chosen_text(method: str, before: str = "") -> str | None:
    """How ``method``'s shipped defaults were chosen, for the Methods page (``None`` when the tuner run has no entry
    for it): the tuner's values where the stability rule adopted them, else ``before`` (how the module's own
    literals were chosen) with what the tuner found and why it was not adopted."""
    e, run = entry(method), record().get("run", {})
    if e is None or not run:
        return None
    found_values = e.get("found", e.get("values", {}))
    changed = {k: v for k, v in found_values.items() if e.get("pretuned", {}).get(k) != v}
    found = ", ".join(f"{k}={_short(v)}" for k, v in changed.items()) or "the pre-tuning defaults (no trial beat them)"
    stability = f" Stability rule: {e['stability']}." if e.get("stability") else ""
    how = (f"`{run['command']}` ({run['setting']}; {run['trials']} trials per method on tuning seeds "
           f"{', '.join(map(str, run['tuning_seeds']))}; objective: {run['objective']}). Found: {found}. Validation "
           f"objective {e['objective_default']:.4f} at the pre-tuning defaults, {e['objective_tuned']:.4f} at the "
           f"tuner's best ({e['trials']}).{stability}")
    if e.get("values"):
        return f"chosen by the tuner under the one protocol: {how} Full-size presets keep the papers' values"
    return (f"{before.rstrip('.') or 'the module defaults'}. Checked by the tuner under the one protocol, and kept: "
            f"{how}")


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
