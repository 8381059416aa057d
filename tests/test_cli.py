"""CLI: the documented example writes the CSV; bad input exits 2 naming the field and writes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest

from engine.cli import main
from engine.metrics import METRICS
from engine.runner import ID_COLUMNS, SIZE_COLUMNS

FAST = ["--train", "epochs=4"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=os.getcwd())


def test_compare_writes_one_row_per_method_and_seed(tmp_path):
    out = tmp_path / "results.csv"
    rc = main(["compare", "--dataset", "digits", "--model", "cnn", "--paradigm", "supervised", "--scenario", "class",
               "--forget-class", "3", "--methods", "original,retrain,finetune", "--seeds", "2",
               "--cache-dir", str(tmp_path / "c"), "--out", str(out), *FAST, "--hparam", "finetune.epochs=1"])
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df.columns) == [*ID_COLUMNS, *SIZE_COLUMNS, *METRICS.keys(), "note"]
    assert (df["n_val"] > 0).all() and (df["n_test"] > 0).all()
    assert len(df) == 6 and set(df["seed"]) == {0, 1}
    assert set(df["status"]) == {"ok"}
    assert (df.loc[df["method"] == "retrain", "forget_acc"] == 0).all()
    raw = out.read_text()
    assert ",NA," in raw  # not-applicable cells are explicit (pandas reads NA as missing)


@pytest.mark.parametrize(("args", "field"), [
    (["--dataset", "nope"], "dataset"),
    (["--model", "nope"], "model"),
    (["--paradigm", "nope"], "paradigm"),
    (["--scenario", "nope"], "scenario"),
    (["--methods", "finetune,nope"], "methods"),
    (["--forget-class", "10"], "forget_class"),
    (["--forget-class", "-1"], "forget_class"),
    (["--scenario", "within_class", "--fraction", "0.0001"], "fraction"),
    (["--paradigm", "noisy_label", "--rate", "1.0"], "rate"),
    (["--paradigm", "noisy_label", "--rate", "-0.1"], "rate"),
    (["--scenario", "noisy_labels"], "scenario"),
    (["--hparam", "finetune.lr=5"], "methods.finetune.lr"),
    (["--hparam", "finetune.nope=1"], "methods.finetune.nope"),
    (["--seeds", "0"], "seeds"),
    (["--train", "epochs=0"], "train.epochs"),
    (["--shadow-models", "1"], "shadow_models"),
    (["--shadow-models", "101"], "shadow_models"),
    (["--shadow-models", "-3"], "shadow_models"),
    # issue #11: one more of each kind the hostile-input review found (tests/test_cli_hostile.py has them all)
    (["--paradigm", "noisy_label", "--rate", "-inf"], "rate"),  # argparse took "-inf" for an option
    (["--seeds", "21"], "seeds"),
    (["--device", "cuda:abc"], "device"),
    (["--hparam", "finetune.epochs=1", "--hparam", "finetune.epochs=2"], "hparam"),
    (["--seeds", "x"], "seeds"),  # argparse's own errors read the same
])
def test_bad_input_exits_2_naming_the_field_and_writes_nothing(tmp_path, args, field):
    out = tmp_path / "r.csv"
    cache = tmp_path / "cache"
    proc = run_cli("compare", "--methods", "finetune", "--cache-dir", str(cache), "--out", str(out), *args)
    assert proc.returncode == 2, proc.stderr
    assert re.search(rf"error: (scenario\.)?{re.escape(field)}:", proc.stderr), proc.stderr
    assert not out.exists() and not cache.exists()


@pytest.mark.parametrize("kind", ["datasets", "paradigms", "scenarios", "models", "methods", "metrics"])
def test_list(kind, capsys):
    assert main(["list", kind]) == 0
    assert len(capsys.readouterr().out.splitlines()) >= 4


@pytest.mark.parametrize("where", ["option", "environment"])
def test_unknown_executor_exits_2_naming_the_field(tmp_path, monkeypatch, capsys, where):
    args = ["compare", "--methods", "finetune", "--cache-dir", str(tmp_path / "c")]
    if where == "option":
        args += ["--executor", "dask"]
    else:
        monkeypatch.setenv("UNLEARN_EXECUTOR", "dask")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: executor:") and "'dask'" in err and "local, ray" in err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(("args", "field"), [
    (["--seeds", "3"], "seeds"),
    (["--model", "resnet18"], "model"),
    (["--train", "epochs=100"], "train.epochs"),
    (["--hparam", "finetune.epochs=50"], "methods.finetune.epochs"),
])
def test_demo_mode_caps_exit_2_naming_the_field(tmp_path, monkeypatch, capsys, args, field):
    monkeypatch.setenv("UNLEARN_DEMO", "1")
    rc = main(["compare", "--methods", "finetune", "--cache-dir", str(tmp_path / "c"), *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}:") and "demo mode" in err
    assert not (tmp_path / "c").exists()


def test_paths_are_checked_before_any_work(tmp_path):
    """``--out`` naming a directory, ``--cache-dir`` naming a file: exit 2 before anything is trained or written."""
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    proc = run_cli("compare", "--methods", "finetune", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "d"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: out: ") and "is a directory" in proc.stderr
    proc = run_cli("compare", "--methods", "finetune", "--cache-dir", str(tmp_path / "f"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: cache_dir: ") and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"] and not list((tmp_path / "d").iterdir())


def test_shadow_models_option_reaches_the_spec():
    from engine.cli import _parser, build_spec

    assert build_spec(_parser().parse_args(["compare", "--methods", "finetune"])).shadow_models == 0
    spec = build_spec(_parser().parse_args(["compare", "--methods", "finetune", "--shadow-models", "8"]))
    assert spec.shadow_models == 8 and spec.to_json()["shadow_models"] == 8


# -- paper presets --------------------------------------------------------------------------------------------------
def _preset_spec(*argv: str):
    from engine.cli import _parser, build_preset_spec, given_options

    args = _parser().parse_args(["compare", *argv])
    args.given = given_options(args, ["compare", *argv])
    return build_preset_spec(args)


def test_list_presets_names_key_paper_setting_and_size(capsys):
    from engine.presets import PRESETS

    assert main(["list", "presets"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert list(lines) == PRESETS.keys()
    for key, p in PRESETS.items():
        line = lines[key]
        assert p.paper_short in line and f"{p.dataset} / {p.model}" in line and p.title in line
        assert ("GPU recommended" in line) == p.gpu_recommended


@pytest.mark.parametrize("key", ["udru_sl", "laf_noisy_removal", "pgu_incremental", "pgu_depoison", "ppu_privacy",
                                 "udru_cifar10", "ugradsl_subclass", "ppu_privacy_cifar10"])
def test_preset_alone_is_exactly_the_presets_spec(key):
    from engine.methods import METHODS
    from engine.presets import PRESETS

    assert _preset_spec("--preset", key) == PRESETS.get(key).spec(METHODS.keys())  # same keys as the dashboard's


def test_given_options_override_the_preset_and_merge_by_name():
    spec = _preset_spec("--preset", "pgu_depoison", "--seeds", "1", "--methods", "original,retrain,pgu",
                        "--hparam", "pgu.eps=0.2", "--train", "epochs=2")
    assert spec.seeds == (0,) and [m.name for m in spec.methods] == ["original", "retrain", "pgu"]
    pgu = next(m for m in spec.methods if m.name == "pgu").hparam_dict()
    assert pgu["lam"] == -0.2 and pgu["trust_region"] is True and pgu["eps"] == "0.2"  # the preset's, then ours
    assert (spec.paradigm, spec.rate, spec.scenario) == ("noisy_label", 0.1, "noisy_labels")
    assert dict(spec.train) == {"epochs": "2"}
    # an option given at the CLI's own default still overrides the preset; the preset's rest stays
    spec = _preset_spec("--preset", "udru_cifar10", "--dataset", "digits", "--model", "cnn", "--forget-class", "3")
    assert (spec.dataset, spec.model, spec.scenario) == ("digits", "cnn", "within_class")
    assert dict(spec.scenario_params) == {"forget_class": 3, "fraction": 0.2}
    # paradigm options merge by name over the preset's
    spec = _preset_spec("--preset", "laf_noisy_removal", "--train-loss", "gce")
    assert dict(spec.paradigm_params) == {"noise": "class_subset", "classes": "0,1,2,3,4",
                                          "targets": "0,1,2,3,4,5,6,7,8", "train_loss": "gce"}
    # another paradigm or scenario drops the preset's rate, options and scenario parameters (they are its own)
    spec = _preset_spec("--preset", "laf_noisy_removal", "--paradigm", "supervised", "--scenario", "class")
    assert spec.rate is None and spec.paradigm_params == () and spec.scenario_params == ()


def test_compare_with_a_preset_writes_the_csv(tmp_path):
    out = tmp_path / "preset.csv"
    rc = main(["compare", "--preset", "pgu_depoison", "--seeds", "1", "--methods", "original,retrain,pgu",
               "--train", "epochs=1", "--hparam", "pgu.epochs=2", "--cache-dir", str(tmp_path / "c"),
               "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df["method"]) == ["original", "retrain", "pgu"] and set(df["seed"]) == {0}
    assert set(df["status"]) == {"ok"}
    assert set(df["paradigm"]) == {"noisy_label"} and set(df["scenario"]) == {"noisy_labels"}


def test_unknown_preset_exits_2_naming_the_field(tmp_path):
    out, cache = tmp_path / "r.csv", tmp_path / "cache"
    proc = run_cli("compare", "--preset", "nope", "--cache-dir", str(cache), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: preset: ") and "pgu_depoison" in proc.stderr  # lists the valid keys
    assert not out.exists() and not cache.exists()


def test_pair_noise_with_ce_end_to_end_has_observed_columns(tmp_path):
    """``--paradigm noisy_label --noise pair --train-loss ce`` (PGU's de-poisoning noise): every row ok, and the
    label-based metrics come against the observed (noisy) training label too."""
    out = tmp_path / "n.csv"
    rc = main(["compare", "--paradigm", "noisy_label", "--noise", "pair", "--noise-pairs", "3-5,1-7",
               "--train-loss", "ce", "--rate", "0.3", "--scenario", "noisy_labels", "--methods",
               "original,retrain,finetune", "--train", "epochs=3", "--cache-dir", str(tmp_path / "c"),
               "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert (df["status"] == "ok").all()
    for col in ("forget_acc_observed", "retain_acc_observed"):
        assert df[col].notna().all()
    # the forget set is the mislabelled samples: observed label != true label on each, so a prediction matches
    # at most one of them (a short CE training on digits mostly predicts the true class: it has not memorised)
    for _, row in df.iterrows():
        assert row["forget_acc_observed"] + row["forget_acc"] <= 1.0 + 1e-9
    assert (df["retain_acc_observed"] == df["retain_acc"]).all()  # retain labels are clean in this scenario


def test_paradigm_options_reach_the_spec():
    from engine.cli import _parser, build_spec

    args = _parser().parse_args(["compare", "--paradigm", "noisy_label", "--noise", "class_subset",
                                 "--noise-classes", "0,1,2,3,4", "--train-loss", "ce"])
    spec = build_spec(args)
    assert dict(spec.paradigm_params) == {"noise": "class_subset", "classes": "0,1,2,3,4", "train_loss": "ce"}
    args = _parser().parse_args(["compare", "--paradigm", "partial_label", "--official-generator"])
    assert dict(build_spec(args).paradigm_params) == {"official": True}


def test_compare_tune_writes_default_and_tuned_rows(tmp_path, capsys):
    """``--tune N`` (issue 15): one CSV with a default and a tuned row per applicable method and reported seed, the
    chosen configuration beside each; the tuning seeds appear nowhere in it."""
    out = tmp_path / "tuned.csv"
    rc = main(["compare", "--model", "mlp", "--forget-class", "3", "--methods", "original,retrain,finetune,ssd",
               "--seeds", "1", "--tune", "2", "--tune-seeds", "100", "--cache-dir", str(tmp_path / "c"),
               "--out", str(out), *FAST])
    assert rc == 0
    df = pd.read_csv(out)
    assert {"variant", "hparams", "tuning_trials", "tuning_objective", "tuning_seeds"} <= set(df.columns)
    got = {(m, v) for m, v in zip(df["method"], df["variant"], strict=True)}
    assert got == {("original", "default"), ("retrain", "default"), ("finetune", "default"), ("ssd", "default"),
                   ("finetune", "tuned"), ("ssd", "tuned")}
    assert set(df["seed"]) == {0} and set(df["status"]) == {"ok"}
    assert (df.loc[df["variant"] == "tuned", "tuning_trials"] == "2/2").all()
    printed = capsys.readouterr().out
    assert "tuning: 2 trials per method on seeds 100" in printed and "not tuned: a reference model" in printed


@pytest.mark.parametrize(("args", "field"), [
    (["--tune", "0"], "tune"),
    (["--tune", "2", "--tune-seeds", "0"], "tune_seeds"),  # a reported seed
    (["--tune", "2", "--tune-seeds", "a,b"], "tune_seeds"),
])
def test_bad_tuning_input_exits_2_naming_the_field(tmp_path, capsys, args, field):
    out = tmp_path / "x.csv"
    rc = main(["compare", "--methods", "original,retrain,finetune", "--cache-dir", str(tmp_path / "c"),
               "--out", str(out), *FAST, *args])
    assert rc == 2 and not out.exists()
    assert field in capsys.readouterr().err
