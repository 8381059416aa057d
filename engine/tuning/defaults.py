"""The tuner run that chooses the shipped digits defaults (issue 15 deliverable 4), its stability rule and its record.

One run, one budget, one protocol for every method, seed methods and baselines alike: the setting of
:data:`SETTING_TEXT` (digits / cnn, class 3 forgotten, every method, 3 reported seeds), :data:`TRIALS` trials per
method on the default tuning seeds, each study starting from the method module's own (pre-tuning) defaults, with the
fields that scale the work (epochs, steps, samples, batch sizes) kept at their values (``fixed_work``: a shipped
default must not buy its quality with compute, and the suite's cost stays what it is).

**Stability rule.** A study's best configuration was chosen *on* the tuning seeds, so its objective there is biased
downwards (the winner's curse: with 20 trials and 2 seeds, noise alone produces a "better" trial). Before it is
shipped, the best and the pre-tuning configuration are both evaluated on :data:`CONFIRM_SEEDS` (new seeds, disjoint
from the tuning and the reported ones; validation split only). The tuned values are adopted only when they are
better there by more than seed noise: a paired one-sided t-test (``scipy.stats.ttest_rel``) over the confirmation
seeds at level :data:`ALPHA`, and only when on no confirmation seed they lose more than :data:`MAX_RETAIN_LOSS` of
retain accuracy against the pre-tuning values (the utility guard: the average gap to retrain treats a model broken
on some seeds and one that forgot nothing alike, and a shipped default must not break the model). Otherwise the
method keeps its pre-tuning defaults and the record says why.

``python -m engine tune-defaults`` runs it (cached: a run already done is replayed) and writes
``engine/methods/shared/tuned_defaults.json``, which :mod:`engine.methods.shared.tuned_defaults` applies when the
methods register.
"""

from __future__ import annotations

import datetime
import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import config_dict
from engine.executors.base import EventFn, Executor
from engine.methods import METHODS
from engine.methods.shared.tuned_defaults import RECORD, pretuned_config
from engine.spec import ComparisonSpec, MethodSpec
from engine.tuning.compare import TunedComparison, run_tuned
from engine.tuning.protocol import DEFAULT_TUNING_SEEDS, OBJECTIVE, TuneOptions
from engine.tuning.study import MethodStudy, evaluate_configs

TRIALS = 20
SEEDS = 3  # reported seeds 0..2 (the tuned rows' check; the defaults come from the tuning seeds alone)
CONFIRM_SEEDS = (102, 103, 104, 105, 106)  # the stability rule's seeds: neither tuned on nor reported
ALPHA = 0.05  # the stability rule's level (paired one-sided t-test over the confirmation seeds)
MAX_RETAIN_LOSS = 0.05  # ... and its utility guard: retain accuracy may drop at most this much on any seed
OPTIONS = TuneOptions(trials=TRIALS, seeds=DEFAULT_TUNING_SEEDS, fixed_work=True)
COMMAND = (f"python -m engine tune-defaults (the setting of: python -m engine compare --dataset digits --model cnn "
           f"--scenario class --forget-class 3 --methods all --tune {TRIALS} --seeds {SEEDS}; every method starting "
           "from its pre-tuning defaults, epochs, steps, samples and batch sizes kept; adopted only where better on "
           f"confirmation seeds {', '.join(map(str, CONFIRM_SEEDS))} by a paired t-test at p < {ALPHA}, never "
           f"losing more than {MAX_RETAIN_LOSS:g} retain accuracy)")
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


@dataclass(frozen=True)
class Confirmation:
    """A study's best configuration against its pre-tuning one on the confirmation seeds (validation objective per
    seed; ``error``: why either has none)."""

    default: dict[int, float]
    tuned: dict[int, float]
    error: str = ""
    # retain accuracy per confirmation seed (the utility guard: a default must not break the model)
    default_retain: dict[int, float] = field(default_factory=dict)
    tuned_retain: dict[int, float] = field(default_factory=dict)

    def retain_loss(self) -> float:
        """The largest drop of retain accuracy from the pre-tuning to the tuned values over the confirmation seeds
        (0 when it never drops; ``nan`` without retain accuracies)."""
        d = [self.default_retain[s] - self.tuned_retain[s] for s in self.default_retain if s in self.tuned_retain]
        return max(0.0, max(d)) if d else math.nan

    def differences(self) -> list[float]:
        """Default minus tuned objective per confirmation seed (positive: the tuned values are better)."""
        return [self.default[s] - self.tuned[s] for s in sorted(self.default) if s in self.tuned]

    def p_value(self) -> float:
        """The paired one-sided t-test's p-value that the tuned objective is lower (``nan`` without two seeds)."""
        d = self.differences()
        if len(d) < 2:
            return math.nan
        if max(d) == min(d):  # no spread: the t statistic is infinite (or undefined at 0)
            return 0.0 if d[0] > 0 else 1.0
        from scipy.stats import ttest_1samp

        return float(ttest_1samp(d, 0.0, alternative="greater").pvalue)

    def adopted(self) -> bool:
        """The stability rule: every confirmation seed evaluated, ``p < ALPHA``, and on no seed a drop of retain
        accuracy over :data:`MAX_RETAIN_LOSS` (a better average gap bought by breaking the model on some seeds is
        not a default)."""
        return (not self.error and len(self.differences()) == len(CONFIRM_SEEDS) and self.p_value() < ALPHA
                and not self.retain_loss() > MAX_RETAIN_LOSS)

    def why(self) -> str:
        """The rule's verdict in words."""
        if self.error:
            return f"not confirmed: {self.error}"
        d = self.differences()
        verdict = "adopted" if self.adopted() else "kept the pre-tuning defaults"
        loss = self.retain_loss()
        guard = "" if math.isnan(loss) else (f"; largest retain-accuracy drop {loss:.3f}, rule at most "
                                             f"{MAX_RETAIN_LOSS:g}")
        return (f"{verdict}: on confirmation seeds the objective is {_mean(self.default.values()):.4f} at the "
                f"pre-tuning defaults and {_mean(self.tuned.values()):.4f} at the tuned values (mean gain "
                f"{_mean(d):+.4f}, paired t-test p = {self.p_value():.3g}, rule p < {ALPHA}{guard})")


def _nullable(x: float) -> float | None:
    """``x``, or ``None`` for NaN (strict JSON has no NaN)."""
    return None if math.isnan(x) else x


def _mean(xs: Any) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else math.nan


@dataclass(frozen=True)
class DefaultsRun:
    """The defaults run: the tuned comparison and, per method whose best trial is not its pre-tuning one, the
    confirmation of the stability rule."""

    result: TunedComparison
    confirmations: dict[str, Confirmation]


def _improved(study: MethodStudy) -> bool:
    first, best = (study.trials[0] if study.trials else None), study.best
    return best is not None and first is not None and first.value is not None and best.number != first.number


def run_defaults(cache_dir: Path, data_dir: Path, executor: Executor, on_event: EventFn | None = None,
                 cancel: threading.Event | None = None) -> DefaultsRun:
    """Run (or replay from the cache) the defaults run and its confirmation on :data:`CONFIRM_SEEDS`."""
    spec = defaults_spec()
    result = run_tuned(spec, OPTIONS, cache_dir, data_dir, executor, on_event, cancel)
    configs: dict[str, MethodSpec] = {}
    for name, study in result.studies.items():
        if _improved(study):
            configs[f"{name} default"] = MethodSpec(name, tuple(sorted(study.base.items())))
            configs[f"{name} tuned"] = MethodSpec(name, tuple(sorted(study.best_hparams().items())))
    got = evaluate_configs(spec, configs, CONFIRM_SEEDS, cache_dir, data_dir, executor, on_event, cancel)
    retain = evaluate_configs(spec, configs, CONFIRM_SEEDS, cache_dir, data_dir, executor, on_event, cancel,
                              metric="retain_acc")  # the same evaluations (cached): their retain accuracy
    confirmations = {}
    for name in result.studies:
        if f"{name} default" in got:
            (d, d_err), (t, t_err) = got[f"{name} default"], got[f"{name} tuned"]
            confirmations[name] = Confirmation(d, t, d_err or t_err, retain.get(f"{name} default", ({}, ""))[0],
                                               retain.get(f"{name} tuned", ({}, ""))[0])
    return DefaultsRun(result, confirmations)


def make_record(run: DefaultsRun) -> dict[str, Any]:
    """The JSON record of a defaults run: the run (command, setting, budget, seeds, objective, stability rule, date)
    and per tuned method the values shipped (those the stability rule adopted; none otherwise), the tuner's best and
    the pre-tuning values, the objective at both, the trials that completed and the rule's verdict."""
    result = run.result
    methods = {}
    for name, study in result.studies.items():
        first = study.trials[0] if study.trials else None
        best = study.best
        if best is None or first is None or first.value is None:
            continue  # no trial completed, or the pre-tuning defaults failed: nothing to compare; keep them
        found = dict(best.params)
        conf = run.confirmations.get(name)
        adopted = conf is not None and conf.adopted()
        entry: dict[str, Any] = {
            "values": found if adopted else {}, "found": found, "pretuned": {k: study.base.get(k) for k in found},
            "objective_default": first.value, "objective_tuned": best.value,
            "trials": f"{sum(t.state == 'complete' for t in study.trials)}/{len(study.trials)} trials complete",
            "best_trial": best.number,
            "stability": conf.why() if conf is not None else "kept the pre-tuning defaults: no trial beat them"}
        if conf is not None:
            entry["confirmation"] = {"seeds": list(CONFIRM_SEEDS), "default": _nullable(_mean(conf.default.values())),
                                     "tuned": _nullable(_mean(conf.tuned.values())),
                                     "p_value": _nullable(conf.p_value()),
                                     "adopted": adopted,
                                     "default_per_seed": {str(k): v for k, v in sorted(conf.default.items())},
                                     "tuned_per_seed": {str(k): v for k, v in sorted(conf.tuned.items())},
                                     "retain_acc_drop": _nullable(conf.retain_loss())}
        methods[name] = entry
    return {"run": {"label": f"issue 15 run of {datetime.date.today().isoformat()}", "command": COMMAND,
                    "setting": SETTING_TEXT, "trials": TRIALS, "tuning_seeds": list(DEFAULT_TUNING_SEEDS),
                    "objective": OBJECTIVE, "fixed_work": True, "confirm_seeds": list(CONFIRM_SEEDS),
                    "alpha": ALPHA, "max_retain_loss": MAX_RETAIN_LOSS,
                    "tuning_seconds": round(result.tuning_seconds, 1)},
            "methods": methods}


def write_record(run: DefaultsRun, out: Path = RECORD) -> Path:
    """Write :func:`make_record` of ``run`` as JSON to ``out`` (atomically)."""
    text = json.dumps(make_record(run), indent=1, allow_nan=False) + "\n"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return out


__all__ = ["ALPHA", "COMMAND", "CONFIRM_SEEDS", "OPTIONS", "TRIALS", "Confirmation", "DefaultsRun", "defaults_spec",
            "make_record", "pretuned_hparams", "run_defaults", "write_record"]
