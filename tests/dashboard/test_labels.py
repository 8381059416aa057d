"""Readable names of metrics and parameters, and what value of a metric is best (from the engine's catalogue)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from dashboard import labels
from engine import api


@pytest.fixture(scope="module")
def catalogue():
    return api.metric_catalogue()


@pytest.mark.parametrize(("key", "label"), [
    ("retain_other_classes_acc", "Retain acc., other classes"), ("forget_acc", "Forget acc."),
    ("mia_efficacy", "MIA efficacy"), ("unlearn_seconds", "Time (s)"), ("speedup_vs_retrain", "Speed-up ×"),
    ("gap_to_retrain", "Gap to retrain"), ("test_retain_acc", "Test acc., remaining classes"),
    ("forget_acc_std", "Forget acc. std")])
def test_metric_label_examples(key, label):
    assert labels.metric_label(key) == label


def test_every_catalogue_metric_has_a_short_label(catalogue):
    for key in catalogue["key"]:
        label = labels.metric_label(key)
        assert label.strip() and label != key, key
        assert len(label) <= labels.MAX_LABEL, (key, label)
    assert len({labels.metric_label(k) for k in catalogue["key"]}) == len(catalogue)  # no two metrics look alike


def test_unknown_metric_falls_back_to_a_readable_name():
    assert labels.metric_label("kl_to_shadow") == "KL to shadow"
    assert labels.metric_target("no_such_metric") == ""


def test_metric_target_agrees_with_the_catalogue(catalogue):
    for _, r in catalogue.iterrows():
        target = labels.metric_target(r["key"])
        ideal = float(r["ideal"]) if str(r["ideal"]).strip() not in ("", "nan", "None") else math.nan
        if not math.isnan(ideal):
            assert target == f"{ideal:g} = attacker cannot tell" and labels.metric_ideal(r["key"]) == ideal
        else:
            assert labels.metric_ideal(r["key"]) is None
            assert target == {"higher": "higher", "lower": "lower",
                              "closer_to_retrain": "closer to retrain"}[r["direction"]], r["key"]
    assert labels.metric_target("mia_loss_acc") == "0.5 = attacker cannot tell"
    assert labels.metric_target("mia_efficacy") == "closer to retrain"
    assert labels.metric_target("test_acc") == "higher" and labels.metric_target("unlearn_seconds") == "lower"


def test_metric_help_has_the_full_title_key_and_best_value(catalogue):
    for _, r in catalogue.iterrows():
        text = labels.metric_help(r["key"])
        assert r["title"] in text and f"`{r['key']}`" in text and labels.metric_target(r["key"]) in text
    assert labels.metric_help("mia_asr") == ("MIA attack success rate (XGBoost on sorted softmax) (`mia_asr`); "
                                             "best: 0.5 = attacker cannot tell")


@pytest.mark.parametrize(("name", "label"), [
    ("forget_class", "Forgotten class"), ("fraction", "Forget fraction"), ("lr", "Learning rate"),
    ("epochs", "Epochs"), ("batch_size", "Batch size"), ("weight_decay", "Weight decay"),
    ("unlearn_lr", "Unlearn LR"), ("kl_weight", "KL weight"), ("mia_rounds", "MIA rounds"),
    ("lr_decay_epochs", "LR decay epochs"), ("no_l1_epochs", "No L1 epochs"), ("temperature", "Temperature")])
def test_param_label(name, label):
    assert labels.param_label(name) == label


def test_every_config_parameter_gets_a_label():
    import engine.catalogue as cat

    names = {p.name for k in api.method_keys() for p in api.method_schema(k)}
    names |= {p.name for k in cat.SCENARIOS for p in api.scenario_schema(k)}
    names |= {p.name for k in cat.PARADIGMS for p in api.paradigm_schema(k)}
    for n in names:
        label = labels.param_label(n)
        assert label and "_" not in label, (n, label)
        assert label[0].isupper() or len(label) == 1, (n, label)  # k, p: the papers' symbols stay as they are


def test_importing_labels_does_not_load_the_catalogue():
    code = "import sys, dashboard.labels; print('engine.catalogue' in sys.modules, 'engine.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
