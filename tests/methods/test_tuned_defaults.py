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
from engine.tuning.defaults import COMMAND, TRIALS, defaults_spec, make_record, pretuned_hparams

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
        assert "chosen by the tuner" in method.defaults_chosen


def test_the_defaults_run_starts_from_the_pretuned_values():
    spec = defaults_spec()
    assert [m.name for m in spec.methods] == METHODS.keys() and spec.seeds == (0, 1, 2)
    for m in spec.methods:
        assert m.hparam_dict() == pretuned_hparams(m.name)


def test_make_record_keeps_methods_whose_defaults_ran():
    space = search_space("finetune")
    d = space.defaults()
    trials = (Trial(0, d, "complete", 0.5, {100: 0.5}), Trial(1, {**d, "lr": 0.05}, "complete", 0.3, {100: 0.3}),
              Trial(2, {**d, "lr": 0.9}, "failed", None))
    ok = MethodStudy("finetune", "k", space, pretuned_hparams("finetune"), trials, (100,))
    bad = MethodStudy("gradient_ascent", "k2", search_space("gradient_ascent"), {},
                      (Trial(0, search_space("gradient_ascent").defaults(), "failed", None),), (100,))
    rec = make_record(SimpleNamespace(studies={"finetune": ok, "gradient_ascent": bad}, tuning_seconds=12.0))
    assert list(rec["methods"]) == ["finetune"]
    e = rec["methods"]["finetune"]
    assert e["values"]["lr"] == 0.05 and e["pretuned"]["lr"] == pretuned_hparams("finetune")["lr"]
    assert e["trials"] == "2/3 trials complete" and e["best_trial"] == 1
    assert rec["run"]["command"] == COMMAND
    json.dumps(rec)  # plain JSON
    assert dataclasses.is_dataclass(FinetuneConfig)


def test_the_recorded_defaults_run_fits_todays_methods(monkeypatch: pytest.MonkeyPatch):
    """The first defaults run (kept in docs/, not shipped) still applies cleanly: every recorded field exists, every
    value is inside its method's search space, and applying it changes the defaults it names."""
    from pathlib import Path

    rec = json.loads((Path(__file__).parents[2] / "docs/tuning/defaults-run-2026-12-01.json").read_text())
    monkeypatch.setattr(tuned_defaults, "record", lambda: rec)
    assert rec["run"]["trials"] == TRIALS and rec["run"]["tuning_seeds"] == [100, 101]
    for name, e in rec["methods"].items():
        base = tuned_defaults.pretuned_config(METHODS.get(name).config)
        cls = tuned_defaults.tuned_config(name, base)
        space = {d.name: d for d in search_space(name).dimensions}
        for k, v in e["values"].items():
            assert space[k].contains(v), (name, k, v)
            assert getattr(cls(), k) == v
        assert e["objective_tuned"] <= e["objective_default"]
