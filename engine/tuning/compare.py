"""Default and tuned side by side (issue 15): run the comparison, tune every method under the one protocol
(:mod:`engine.tuning.study`), then run the tuned configurations as a comparison of their own, on the **reported**
seeds and the **test** split -- so a tuned row is exactly as honest as a default row -- and put both in one table
with ``variant = default | tuned`` and each row's full configuration (``hparams``, JSON).

The tuned comparison is an ordinary comparison (recorded in History, shareable, exportable): its reference rows
(original, retrain) are the default comparison's jobs, shared through the cache.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import build_config, config_dict
from engine.executors.base import EventFn, Executor
from engine.methods import METHODS
from engine.runner.comparison import ComparisonResult, run_comparison
from engine.runner.plan import Plan
from engine.runner.results import summary_table
from engine.spec import ComparisonSpec, MethodSpec
from engine.tuning.protocol import OBJECTIVE, TuneOptions
from engine.tuning.study import MethodStudy, OnTrial, tunable, tune

DEFAULT, TUNED = "default", "tuned"
TUNING_COLUMNS = ["variant", "hparams", "tuning_trials", "tuning_objective", "tuning_seeds"]


@dataclass(frozen=True)
class TunedComparison:
    """A comparison at its defaults, the studies, and the comparison of the tuned configurations (``None`` when the
    run was cancelled before it)."""

    default: ComparisonResult
    tuned: ComparisonResult | None
    studies: dict[str, MethodStudy]
    reasons: dict[str, str]  # method -> why it was not tuned ("" = tuned)
    options: TuneOptions
    tuning_seconds: float

    def table(self) -> pd.DataFrame:
        """One row per method x seed x variant: the default comparison's rows (``variant = default``), then the
        tuned rows of every tuned method (with its own model before unlearning, e.g. SISA's ensemble) -- and of every
        applicable method with nothing to search, whose tuned configuration is its default -- with the chosen
        configuration, the trials and the best objective."""
        rows = [_with_variant(self.default.wide, self.default.plan, DEFAULT, {})]
        if self.tuned is not None:
            same = [m for m, why in self.reasons.items() if why == "no searchable hyper-parameter"]
            # a tuned method's own model before unlearning (SISA's ensemble) is tuned with it
            own = [METHODS.get(m).own_original[0] for m in [*self.studies, *same] if METHODS.get(m).own_original]
            keep = self.tuned.wide["method"].isin([*self.studies, *same, *own])
            rows.append(_with_variant(self.tuned.wide[keep], self.tuned.plan, TUNED, self.studies))
        return pd.concat(rows, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """Mean and std over the reported seeds per method and variant (``summary_table``'s columns)."""
        table = self.table()
        parts = []
        for variant in (DEFAULT, TUNED):
            sub = table[table["variant"] == variant]
            if not sub.empty:
                s = summary_table(sub)
                s.insert(1, "variant", variant)
                parts.append(s)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _config_json(spec: MethodSpec) -> str:
    method = METHODS.get(spec.name)
    return json.dumps(config_dict(build_config(method.config, spec.hparam_dict(), f"methods.{spec.name}")),
                      sort_keys=True)


def _with_variant(wide: pd.DataFrame, plan: Plan, variant: str, studies: dict[str, MethodStudy]) -> pd.DataFrame:
    out = wide.copy()
    configs = {m.name: _config_json(m) for m in plan.spec.methods}
    out.insert(out.columns.get_loc("method") + 1, "variant", variant)
    out["hparams"] = out["method"].map(configs).fillna("")
    trials = {m: f"{sum(t.state == 'complete' for t in s.trials)}/{len(s.trials)}" for m, s in studies.items()}
    best = {m: (s.best.value if s.best is not None else np.nan) for m, s in studies.items()}
    seeds = {m: " ".join(map(str, s.seeds)) for m, s in studies.items()}
    out["tuning_trials"] = out["method"].map(trials).fillna("")
    out["tuning_objective"] = out["method"].map(best).astype(float)
    out["tuning_seeds"] = out["method"].map(seeds).fillna("")
    return out


def tuned_spec(spec: ComparisonSpec, studies: dict[str, MethodStudy]) -> ComparisonSpec:
    """``spec`` with every tuned method at its best configuration (the others as they are)."""
    methods = tuple(MethodSpec(m.name, tuple(sorted(studies[m.name].best_hparams().items())))
                    if m.name in studies else m for m in spec.methods)
    return replace(spec, methods=methods)


def run_tuned(spec: ComparisonSpec, options: TuneOptions, cache_dir: Path, data_dir: Path, executor: Executor,
              on_event: EventFn | None = None, cancel: threading.Event | None = None,
              on_trial: OnTrial | None = None, plan: Plan | None = None) -> TunedComparison:
    """Run ``spec`` at its defaults, tune its methods (:func:`engine.tuning.study.tune`), and run the tuned
    configurations on the same reported seeds and the test split."""
    options.check(spec.seeds)
    cancel = cancel or threading.Event()
    default = run_comparison(spec, cache_dir, data_dir, executor, on_event, cancel, plan=plan)
    started = time.perf_counter()
    studies = tune(spec, options, cache_dir, data_dir, executor, on_event, cancel, on_trial)
    seconds = time.perf_counter() - started
    reasons = tunable(spec, options.fixed_work)
    tuned = None
    if not cancel.is_set():
        tuned = run_comparison(tuned_spec(spec, studies), cache_dir, data_dir, executor, on_event, cancel)
    return TunedComparison(default, tuned, studies, reasons, options, seconds)


__all__ = ["DEFAULT", "OBJECTIVE", "TUNED", "TUNING_COLUMNS", "TunedComparison", "run_tuned", "tuned_spec"]
