"""The tuner (issue 15): val-only objective, sealed from the test split, reproducible, resumable, failures counted.

Small on purpose: digits / mlp trained 4 epochs (the runner tests' shared setting), one tuning seed, 2-3 trials.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.config import config_dict
from engine.data import splits
from engine.errors import SpecError
from engine.executors import ExecSettings, LocalExecutor
from engine.jobs.model import EVALUATE, SPLIT_VAL, UNLEARN
from engine.methods import METHODS
from engine.problem import build_problem, resolve
from engine.runner.plan import make_plan
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store
from engine.tuning import TuneOptions, recorded_studies, run_tuned, tunable, tune
from engine.tuning.study import COMPLETE, FAILED, OBJECTIVE_METRICS, evaluate_configs
from tests.runner.conftest import SETTINGS

pytestmark = pytest.mark.usefixtures("one_thread")
DATA = Path("data")
BASE = SETTINGS["mlp"]  # digits, class 3, mlp, 4 epochs (the runner tests' shared setting)
OPTS = TuneOptions(trials=3, seeds=(100,))


def spec(*methods: MethodSpec, **kw) -> ComparisonSpec:  # noqa: ANN003
    return dataclasses.replace(BASE, methods=(MethodSpec("original"), MethodSpec("retrain"), *methods), **kw)


class Recording(LocalExecutor):
    """The in-process executor, recording every job it computed (not those answered from the cache), and optionally
    cancelling during a run."""

    def __init__(self, cancel_on_call: int | None = None, cancel: threading.Event | None = None) -> None:
        super().__init__(workers=1)
        self.jobs: list[str] = []
        self.calls = 0
        self.cancel_on_call, self.cancel = cancel_on_call, cancel

    def run(self, jobs, settings, on_event=None, cancel=None):  # noqa: ANN001, ANN201
        self.calls += 1
        if self.calls == self.cancel_on_call and self.cancel is not None:
            self.cancel.set()  # as if the user pressed Cancel while this batch runs
        outcomes = super().run(jobs, settings, on_event, cancel)
        self.jobs.extend(k for k, o in outcomes.items() if o.status == "done")
        return outcomes


def test_val_view_has_no_test_split_and_the_scenario_mask_of_val():
    setting = resolve(BASE)
    p = build_problem(setting, 100, DATA)
    v = p.validation_view()
    assert torch.equal(v.data.x_test, p.data.x_val) and torch.equal(v.data.y_test, p.data.y_val)
    assert v.data.x_val is None and v.val_supervision is None
    assert torch.equal(v.test_forget_mask, p.data.y_val == 3)  # class 3: the val samples of the forgotten class
    assert torch.equal(p.test_forget_mask, p.data.y_test == 3)
    assert torch.equal(v.forget_idx, p.forget_idx) and torch.equal(v.retain_idx, p.retain_idx)


def test_val_plan_evaluates_only_the_objective_on_val_with_its_own_keys():
    s = spec(MethodSpec("finetune"), seeds=(100,))
    test_plan, val_plan = make_plan(s, DATA), make_plan(s, DATA, split=SPLIT_VAL, metrics=OBJECTIVE_METRICS)
    evals = [j for j in val_plan.jobs if j.kind == EVALUATE]
    assert evals and all(j.payload.split == SPLIT_VAL and j.payload.metrics == OBJECTIVE_METRICS
                         and not j.payload.prepared for j in evals)
    assert not {j.key for j in evals} & {j.key for j in test_plan.jobs}  # never mistaken for a reported number
    shared = {j.key for j in val_plan.jobs if j.kind != EVALUATE}
    assert shared <= {j.key for j in test_plan.jobs}  # the models (original, unlearn, ...) are the same jobs


def test_tuning_seeds_must_differ_from_the_reported_ones():
    with pytest.raises(SpecError) as e:
        TuneOptions(trials=2, seeds=(0, 100)).check((0, 1))
    assert e.value.field == "tune_seeds"
    for bad in (0, 501, True):
        with pytest.raises(SpecError) as e:
            TuneOptions(trials=bad).check()
        assert e.value.field == "tune"


def test_reference_and_inapplicable_methods_are_not_tuned():
    s = spec(MethodSpec("finetune"), MethodSpec("gradient_ascent"))
    assert tunable(s) == {"original": "a reference model (nothing to tune)",
                          "retrain": "a reference model (nothing to tune)", "finetune": "", "gradient_ascent": ""}
    lf = tunable(dataclasses.replace(spec(MethodSpec("finetune")), paradigm="label_free"))
    assert "label" in lf["finetune"]


def _poison_test_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test image replaced by noise and every test label shifted: what the tuner reads must not change."""
    real = splits.split_validation

    def poisoned(data, generator):  # noqa: ANN001, ANN202
        out, v, t = real(data, generator)
        g = torch.Generator().manual_seed(7)
        noise = torch.rand(out.x_test.shape, generator=g).to(out.x_test.dtype)
        return dataclasses.replace(out, x_test=noise, y_test=(out.y_test + 1) % out.num_classes), v, t

    monkeypatch.setattr("engine.problem.split_validation", poisoned)


def test_the_tuner_never_reads_the_test_split(tmp_path, monkeypatch):
    """Sealed from the test split: the same study over a dataset whose test images and labels are garbage proposes
    and scores exactly the same trials, while the reported (test) numbers of the two runs differ."""
    s = spec(MethodSpec("gradient_ascent"))
    clean = run_tuned(s, OPTS, tmp_path / "a", DATA, Recording())
    _poison_test_split(monkeypatch)
    dirty = run_tuned(s, OPTS, tmp_path / "b", DATA, Recording())
    a, b = clean.studies["gradient_ascent"], dirty.studies["gradient_ascent"]
    assert [(t.params, t.value, t.state) for t in a.trials] == [(t.params, t.value, t.state) for t in b.trials]
    assert a.best_hparams() == b.best_hparams()
    ta, tb = clean.table(), dirty.table()
    assert not np.allclose(ta["test_acc"].to_numpy(), tb["test_acc"].to_numpy())  # the poison did reach the test


def test_a_seeded_study_is_reproducible(tmp_path):
    s = spec(MethodSpec("finetune"))
    one = tune(s, OPTS, tmp_path / "a", DATA, Recording())["finetune"]
    two = tune(s, OPTS, tmp_path / "b", DATA, Recording())["finetune"]
    assert [(t.params, t.value) for t in one.trials] == [(t.params, t.value) for t in two.trials]
    defaults = config_dict(METHODS.get("finetune").config())  # the shipped defaults (tuned_defaults.json)
    assert len(one.trials) == 3 and one.trials[0].params == {k: defaults[k] for k in ("epochs", "lr", "batch_size")}
    assert all(t.state == COMPLETE for t in one.trials)
    other = tune(s, dataclasses.replace(OPTS, sampler_seed=1), tmp_path / "c", DATA, Recording())["finetune"]
    assert [t.params for t in other.trials][1:] != [t.params for t in one.trials][1:]  # the seed matters


def test_an_interrupted_study_resumes_without_redoing_finished_trials(tmp_path):
    s = spec(MethodSpec("finetune"))
    cancel = threading.Event()
    first = Recording(cancel_on_call=2, cancel=cancel)  # cancelled while trial 1's batch runs
    ended = []
    got = tune(s, OPTS, tmp_path, DATA, first, cancel=cancel, on_trial=lambda m, t: ended.append(t.number))
    assert ended == [0] and len(got["finetune"].trials) == 1 and first.calls == 2
    resumed = Recording()
    again = tune(s, OPTS, tmp_path, DATA, resumed)["finetune"]
    assert [t.number for t in again.trials] == [0, 1, 2]
    # trial 0's jobs were not computed again
    trial0 = make_plan(dataclasses.replace(s, methods=(MethodSpec("finetune", tuple(
        sorted(again.trials[0].params.items()))),), seeds=OPTS.seeds), DATA, SPLIT_VAL, OBJECTIVE_METRICS)
    assert not {j.key for j in trial0.jobs if j.kind in (UNLEARN, EVALUATE)} & set(resumed.jobs)
    # and asking for the finished study again runs nothing at all; a larger budget runs only the new trial
    idle = Recording()
    tune(s, OPTS, tmp_path, DATA, idle)
    assert idle.jobs == []
    more = Recording()
    longer = tune(s, dataclasses.replace(OPTS, trials=4), tmp_path, DATA, more)["finetune"]
    assert [t.params for t in longer.trials][:3] == [t.params for t in again.trials]
    assert {k.split("-")[0] for k in more.jobs} == {UNLEARN, EVALUATE} and len(more.jobs) == 2
    assert set(recorded_studies(s, OPTS, tmp_path)) == {"finetune"}


def test_a_failing_trial_is_counted_failed_and_the_study_goes_on(tmp_path):
    # the comparison's own configuration (trial 0) diverges: gradient ascent at lr 0.4 for 10 epochs
    s = spec(MethodSpec("gradient_ascent", (("epochs", 10), ("lr", 0.4))))
    study = tune(s, OPTS, tmp_path, DATA, Recording())["gradient_ascent"]
    assert study.trials[0].state == FAILED and "nan" in study.trials[0].error.lower()
    assert len(study.trials) == 3 and any(t.state == COMPLETE for t in study.trials)
    assert study.best is not None and study.best.number > 0
    rec = Store(tmp_path).study(study.key)
    assert rec["trials"][0]["state"] == FAILED


def test_default_and_tuned_rows_on_the_reported_seeds(tmp_path):
    s = spec(MethodSpec("finetune"), MethodSpec("ssd"))
    result = run_tuned(s, dataclasses.replace(OPTS, trials=2), tmp_path, DATA, Recording())
    table = result.table()
    got = table.groupby("variant")["method"].apply(list).to_dict()
    assert got == {"default": ["original", "retrain", "finetune", "ssd"], "tuned": ["finetune", "ssd"]}
    assert set(table["seed"]) == {0}  # reported seeds only; the tuning seed 100 is nowhere in the table
    tuned = table[table["variant"] == "tuned"].set_index("method")
    assert tuned.loc["finetune", "tuning_trials"] == "2/2" and tuned.loc["finetune", "tuning_seeds"] == "100"
    assert np.isfinite(tuned.loc["finetune", "tuning_objective"])
    import json

    chosen = json.loads(tuned.loc["finetune", "hparams"])
    assert chosen == result.studies["finetune"].best_hparams()
    summary = result.summary()
    assert set(zip(summary["method"], summary["variant"], strict=True)) >= {("finetune", "default"),
                                                                            ("finetune", "tuned")}
    # the tuned configurations form a comparison of their own, recorded for History
    assert Store(tmp_path).comparison(result.tuned.plan.key) is not None


def test_executor_settings_are_the_specs_device(tmp_path):
    """A trial's jobs run on the comparison's device setting (here ``auto`` -> the CPU of this machine)."""
    seen: list[ExecSettings] = []

    class Spy(Recording):
        def run(self, jobs, settings, on_event=None, cancel=None):  # noqa: ANN001, ANN201
            seen.append(settings)
            return super().run(jobs, settings, on_event, cancel)

    tune(spec(MethodSpec("finetune")), dataclasses.replace(OPTS, trials=1), tmp_path, DATA, Spy())
    assert seen and all(x.device == BASE.device and x.store_dir == tmp_path for x in seen)


def test_evaluate_configs_gives_a_trials_objective_on_other_seeds(tmp_path):
    """The defaults run's confirmation: the same val objective as a trial's, per seed, for configurations given."""
    s = spec(MethodSpec("finetune"))
    studies = tune(s, OPTS, tmp_path, DATA, LocalExecutor(workers=1))
    first = studies["finetune"].trials[0]
    d = studies["finetune"].base
    got = evaluate_configs(s, {"same": MethodSpec("finetune", tuple(sorted(d.items()))),
                               "bad": MethodSpec("finetune", (("lr", -1.0),))},
                           (100, 102), tmp_path, DATA, LocalExecutor(workers=1))
    values, why = got["same"]
    assert why == "" and values[100] == pytest.approx(first.seed_values[100]) and set(values) == {100, 102}
    assert got["bad"][0] == {} and got["bad"][1].startswith("methods.finetune.lr")
    ss = tunable(s, fixed_work=True)
    assert ss["finetune"] == ""  # lr is still searched
