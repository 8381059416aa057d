"""Shipped defaults from the tuner (issue 15 deliverable 4): the record's values become the methods' defaults,
the pre-tuning literals stay reachable, and the record says how they were chosen."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from engine.config import config_dict, schema
from engine.methods import METHODS
from engine.methods.finetune import FinetuneConfig
from engine.methods.shared import tuned_defaults
from engine.tuning import MethodStudy, Trial, search_space
from engine.tuning.defaults import (
    ALPHA,
    COMMAND,
    CONFIRM_SEEDS,
    OPTIONS,
    TRIALS,
    Confirmation,
    DefaultsRun,
    defaults_spec,
    make_record,
    pretuned_hparams,
)
from engine.tuning.space import FIXED_WORK

RUN = {"label": "test run", "command": "python -m engine compare --tune 20", "setting": "digits", "trials": 20,
       "tuning_seeds": [100, 101], "objective": "gap on val"}


@pytest.fixture
def fake_record(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    rec = {"run": RUN, "methods": {"finetune": {"values": {"lr": 0.05, "epochs": 5}, "pretuned": {"lr": 0.01,
                                                                                                  "epochs": 5},
                                                "objective_default": 0.5, "objective_tuned": 0.3,
                                                "trials": "11/20 trials complete", "best_trial": 4}}}
    monkeypatch.setattr(tuned_defaults, "record", lambda: rec)
    return rec


def test_recorded_values_become_the_defaults_and_say_where_they_came_from(fake_record):
    cls = tuned_defaults.tuned_config("finetune", FinetuneConfig)
    assert cls is not FinetuneConfig and issubclass(cls, FinetuneConfig)
    assert cls().lr == 0.05 and cls().epochs == 5 and FinetuneConfig().lr == 0.01  # the module's literal is kept
    lr = next(p for p in schema(cls) if p.name == "lr")
    assert lr.default == 0.05 and lr.source.startswith("tuner (test run); before: 0.01")
    assert lr.range == next(p for p in schema(FinetuneConfig) if p.name == "lr").range  # range, help: unchanged
    assert [p.name for p in schema(cls)] == [p.name for p in schema(FinetuneConfig)]  # field order kept
    assert tuned_defaults.pretuned_config(cls) is FinetuneConfig
    assert tuned_defaults.pretuned_config(FinetuneConfig) is FinetuneConfig
    text = tuned_defaults.chosen_text("finetune")
    assert RUN["command"] in text and "lr=0.05" in text and "epochs" not in text.split("Found:")[1].split(".")[0]
    assert "0.5000" in text and "0.3000" in text


def test_a_stale_record_is_refused(fake_record):
    fake_record["methods"]["finetune"]["values"]["nope"] = 1
    with pytest.raises(ValueError, match="nope"):
        tuned_defaults.tuned_config("finetune", FinetuneConfig)


def test_no_values_no_change(fake_record):
    assert tuned_defaults.tuned_config("gradient_ascent", FinetuneConfig) is FinetuneConfig


def test_shipped_record_is_applied_to_every_method_it_names():
    rec = tuned_defaults.record()
    if not rec:
        pytest.skip("no tuner record shipped")
    assert rec["run"]["command"] == COMMAND and rec["run"]["trials"] == TRIALS
    for name, e in rec["methods"].items():
        method = METHODS.get(name)
        effective = config_dict(method.config())
        assert {k: effective[k] for k in e["values"]} == e["values"], name
        assert e["objective_tuned"] <= e["objective_default"], name  # trial 0 is the pre-tuning default
        assert pretuned_hparams(name) == {**effective, **{k: v for k, v in e["pretuned"].items()}}, name
        assert ("chosen by the tuner" if e["values"] else "Checked by the tuner") in method.defaults_chosen


def test_the_defaults_run_starts_from_the_pretuned_values():
    spec = defaults_spec()
    assert [m.name for m in spec.methods] == METHODS.keys() and spec.seeds == (0, 1, 2)
    for m in spec.methods:
        assert m.hparam_dict() == pretuned_hparams(m.name)


def _studies() -> dict[str, MethodStudy]:
    space = search_space("finetune")
    d = space.defaults()
    trials = (Trial(0, d, "complete", 0.5, {100: 0.5}), Trial(1, {**d, "lr": 0.05}, "complete", 0.3, {100: 0.3}),
              Trial(2, {**d, "lr": 0.9}, "failed", None))
    ok = MethodStudy("finetune", "k", space, pretuned_hparams("finetune"), trials, (100,))
    bad = MethodStudy("gradient_ascent", "k2", search_space("gradient_ascent"), {},
                      (Trial(0, search_space("gradient_ascent").defaults(), "failed", None),), (100,))
    return {"finetune": ok, "gradient_ascent": bad}


def _confirmation(gains: list[float]) -> Confirmation:
    default = {s: 0.5 for s in CONFIRM_SEEDS}
    return Confirmation(default, {s: 0.5 - g for s, g in zip(CONFIRM_SEEDS, gains, strict=True)})


def test_make_record_ships_values_only_where_the_stability_rule_adopts_them():
    studies = _studies()
    run = DefaultsRun(SimpleNamespace(studies=studies, tuning_seconds=12.0),  # type: ignore[arg-type]
                      {"finetune": _confirmation([0.2, 0.21, 0.19, 0.2, 0.22])})
    rec = make_record(run)
    assert list(rec["methods"]) == ["finetune"]  # gradient_ascent's defaults failed: nothing to compare
    e = rec["methods"]["finetune"]
    assert e["values"]["lr"] == 0.05 and e["found"]["lr"] == 0.05
    assert e["pretuned"]["lr"] == pretuned_hparams("finetune")["lr"]
    assert e["trials"] == "2/3 trials complete" and e["best_trial"] == 1
    assert e["confirmation"]["adopted"] and e["confirmation"]["p_value"] < ALPHA
    assert e["stability"].startswith("adopted")
    assert rec["run"]["command"] == COMMAND and rec["run"]["confirm_seeds"] == list(CONFIRM_SEEDS)
    json.dumps(rec)  # plain JSON
    # a gain within seed noise is not shipped: the tuner's best is recorded, the defaults stay
    noisy = make_record(DefaultsRun(run.result, {"finetune": _confirmation([0.2, -0.25, 0.1, -0.1, 0.02])}))
    e = noisy["methods"]["finetune"]
    assert e["values"] == {} and e["found"]["lr"] == 0.05 and not e["confirmation"]["adopted"]
    assert e["stability"].startswith("kept the pre-tuning defaults")
    # no confirmation (the best trial is the default): nothing shipped
    assert make_record(DefaultsRun(run.result, {}))["methods"]["finetune"]["values"] == {}
    assert dataclasses.is_dataclass(FinetuneConfig)


def test_the_stability_rule():
    assert _confirmation([0.05] * 5).adopted()  # a constant gain: no spread, p = 0
    assert not _confirmation([-0.05] * 5).adopted()
    assert not _confirmation([0.3, -0.3, 0.3, -0.3, 0.01]).adopted()
    assert _confirmation([0.3, 0.29, 0.31, 0.3, 0.28]).p_value() < 1e-4
    missing = Confirmation({s: 0.5 for s in CONFIRM_SEEDS}, {CONFIRM_SEEDS[0]: 0.1})
    assert not missing.adopted()  # every confirmation seed must be evaluated
    failed = Confirmation({}, {}, "lr: diverged")
    assert not failed.adopted() and "diverged" in failed.why()
    # the utility guard: a better average gap bought by breaking the model on one seed is not a default
    good = _confirmation([0.2, 0.21, 0.19, 0.2, 0.22])
    keep = {s: 1.0 for s in CONFIRM_SEEDS}
    broken = dataclasses.replace(good, default_retain=keep, tuned_retain={**keep, CONFIRM_SEEDS[1]: 0.11})
    assert good.adopted() and not broken.adopted() and broken.retain_loss() == pytest.approx(0.89)
    assert "retain-accuracy drop 0.890" in broken.why()
    slight = dataclasses.replace(broken, tuned_retain={**keep, CONFIRM_SEEDS[1]: 0.97})
    assert slight.adopted() and slight.retain_loss() == pytest.approx(0.03)


def test_the_defaults_run_keeps_the_work_fields():
    assert OPTIONS.fixed_work and OPTIONS.trials == TRIALS
    assert not set(CONFIRM_SEEDS) & (set(OPTIONS.seeds) | set(defaults_spec().seeds))
    space = search_space("finetune", fixed_work=True)
    assert [d.name for d in space.dimensions] == ["lr"]
    assert space.fixed["epochs"] == FIXED_WORK and space.fixed["batch_size"] == FIXED_WORK
    assert {d.name for d in search_space("finetune").dimensions} == {"epochs", "lr", "batch_size"}


def test_ppu_after_runs_its_base_at_the_base_modules_own_defaults(fake_record):
    """A base's shipped tuned values are for the base alone: PPU-after starts from the pre-tuning base."""
    from engine.methods import ppu_after

    tuned = tuned_defaults.tuned_config("finetune", FinetuneConfig)
    assert tuned().lr == 0.05
    cfg = ppu_after.base_config(SimpleNamespace(config=tuned, key="finetune"))  # type: ignore[arg-type]
    assert type(cfg) is FinetuneConfig and cfg == FinetuneConfig()


def test_the_recorded_defaults_run_fits_todays_methods(monkeypatch: pytest.MonkeyPatch):
    """The first defaults run (kept in docs/, never shipped) still applies cleanly: every recorded field exists, every
    value of a field still searched is inside its method's search space, and applying it changes the defaults it
    names."""
    from pathlib import Path

    rec = json.loads((Path(__file__).parents[2] / "docs/tuning/defaults-run-2026-12-01.json").read_text())
    monkeypatch.setattr(tuned_defaults, "record", lambda: rec)
    assert rec["run"]["trials"] == TRIALS and rec["run"]["tuning_seeds"] == [100, 101]
    for name, e in rec["methods"].items():
        base = tuned_defaults.pretuned_config(METHODS.get(name).config)
        cls = tuned_defaults.tuned_config(name, base)
        full = search_space(name)
        space = {d.name: d for d in full.dimensions}
        for k, v in e["values"].items():
            assert k in space or k in full.fixed, (name, k)  # ppu_after's base is no longer searched (a choice of
            assert k not in space or space[k].contains(v), (name, k, v)  # method), but the field is still there
            assert getattr(cls(), k) == v
        assert e["objective_tuned"] <= e["objective_default"]
