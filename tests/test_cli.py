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


def test_shadow_models_option_reaches_the_spec():
    from engine.cli import _parser, build_spec

    assert build_spec(_parser().parse_args(["compare", "--methods", "finetune"])).shadow_models == 0
    spec = build_spec(_parser().parse_args(["compare", "--methods", "finetune", "--shadow-models", "8"]))
    assert spec.shadow_models == 8 and spec.to_json()["shadow_models"] == 8
