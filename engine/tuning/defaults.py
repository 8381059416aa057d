"""The tuner run that chooses the shipped digits defaults (issue 15 deliverable 4), and its record.

One run, one budget, one protocol for every method, seed methods and baselines alike: the setting of
:data:`SETTING` (digits / cnn, class 3 forgotten, every method, 3 reported seeds), :data:`TRIALS` trials per method
on the default tuning seeds, each study starting from the method module's own (pre-tuning) defaults. ``python -m
engine tune-defaults`` runs it (cached: a run already done is replayed) and writes
``engine/methods/shared/tuned_defaults.json``, which :mod:`engine.methods.shared.tuned_defaults` applies when the
methods register.
"""

from __future__ import annotations

import datetime
import json
import threading
from pathlib import Path
from typing import Any

from engine.config import config_dict
from engine.executors.base import EventFn, Executor
from engine.methods import METHODS
from engine.methods.shared.tuned_defaults import RECORD, pretuned_config
from engine.spec import ComparisonSpec, MethodSpec
from engine.tuning.compare import TunedComparison, run_tuned
from engine.tuning.protocol import DEFAULT_TUNING_SEEDS, OBJECTIVE, TuneOptions

TRIALS = 20
SEEDS = 3  # reported seeds 0..2 (the tuned rows' check; the defaults come from the tuning seeds alone)
COMMAND = (f"python -m engine tune-defaults (the setting of: python -m engine compare --dataset digits --model cnn "
           f"--scenario class --forget-class 3 --methods all --tune {TRIALS} --seeds {SEEDS}; every method starting "
           "from its pre-tuning defaults)")
SETTING_TEXT = "digits / cnn, class 3 forgotten, supervised"


def pretuned_hparams(method: str) -> dict[str, Any]:
    """The method module's own defaults (before the tuner's values are applied)."""
    return config_dict(pretuned_config(METHODS.get(method).config)())


def defaults_spec() -> ComparisonSpec:
    """The setting of the defaults run, every method at its pre-tuning defaults given explicitly (so the run is the
    same before and after the tuned values are shipped)."""
    return ComparisonSpec(scenario="class", scenario_params=(("forget_class", 3),), model="cnn",
                          methods=tuple(MethodSpec(k, tuple(sorted(pretuned_hparams(k).items())))
                                        for k in METHODS.keys()),
                          seeds=tuple(range(SEEDS)))


def run_defaults(cache_dir: Path, data_dir: Path, executor: Executor, on_event: EventFn | None = None,
                 cancel: threading.Event | None = None) -> TunedComparison:
    """Run (or replay from the cache) the defaults run."""
    return run_tuned(defaults_spec(), TuneOptions(trials=TRIALS, seeds=DEFAULT_TUNING_SEEDS), cache_dir, data_dir,
                     executor, on_event, cancel)


def make_record(result: TunedComparison) -> dict[str, Any]:
    """The JSON record of a defaults run: the run (command, setting, budget, seeds, objective, date) and per tuned
    method the values found, the pre-tuning values, the objective at both and the trials that completed."""
    methods = {}
    for name, study in result.studies.items():
        first = study.trials[0] if study.trials else None
        best = study.best
        if best is None or first is None or first.value is None:
            continue  # no trial completed, or the pre-tuning defaults failed: nothing to compare; keep them
        chosen = {k: v for k, v in best.params.items()}
        methods[name] = {"values": chosen, "pretuned": {k: study.base.get(k) for k in chosen},
                         "objective_default": first.value, "objective_tuned": best.value,
                         "trials": f"{sum(t.state == 'complete' for t in study.trials)}/{len(study.trials)} "
                                   "trials complete", "best_trial": best.number}
    return {"run": {"label": f"issue 15 run of {datetime.date.today().isoformat()}", "command": COMMAND,
                    "setting": SETTING_TEXT, "trials": TRIALS, "tuning_seeds": list(DEFAULT_TUNING_SEEDS),
                    "objective": OBJECTIVE, "tuning_seconds": round(result.tuning_seconds, 1)},
            "methods": methods}


def write_record(result: TunedComparison, out: Path = RECORD) -> Path:
    """Write :func:`make_record` of ``result`` as JSON to ``out`` (atomically)."""
    text = json.dumps(make_record(result), indent=1) + "\n"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return out


__all__ = ["COMMAND", "TRIALS", "defaults_spec", "make_record", "pretuned_hparams", "run_defaults", "write_record"]
