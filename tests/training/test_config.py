"""``engine.training.config``: a valid default for every registered dataset x model, and TrainConfig's schema
validation through ``build_config`` (every bad value names its field)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from engine.config import COST_INVERSE, COST_LINEAR, build_config, config_dict, schema
from engine.data import DATASETS
from engine.errors import SpecError
from engine.models import MODELS
from engine.training import DEFAULTS, TrainConfig, default_train_config

PAIRS = [(d, m) for d in DATASETS.keys() for m in MODELS.keys()]
FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def test_every_registered_dataset_has_a_default() -> None:
    for dataset in DATASETS.keys():
        assert (dataset, "*") in DEFAULTS or all((dataset, m) in DEFAULTS for m in MODELS.keys()), dataset


def test_the_table_names_registered_components_and_config_fields() -> None:
    for (dataset, model), over in DEFAULTS.items():
        assert dataset in DATASETS and (model == "*" or model in MODELS), (dataset, model)
        assert over and set(over) <= FIELDS, (dataset, model, sorted(set(over) - FIELDS))


@pytest.mark.parametrize(("dataset", "model"), PAIRS)
def test_every_pair_default_passes_validation(dataset: str, model: str) -> None:
    cfg = default_train_config(dataset, model)
    assert build_config(TrainConfig, config_dict(cfg), "train") == cfg  # within every range and choice list


def test_a_model_specific_row_overrides_the_dataset_row() -> None:
    assert default_train_config("digits", "resnet18") == TrainConfig(epochs=15, batch_size=128, lr=1e-3)
    assert default_train_config("digits", "mlp") == TrainConfig(epochs=30, batch_size=64, lr=2e-3)
    cifar = default_train_config("cifar10", "cnn")
    assert (cifar.optimizer, cifar.augment, cifar.lr, cifar.batch_size) == ("sgd", True, 0.1, 256)
    assert default_train_config("not_a_dataset", "mlp") == TrainConfig()


@pytest.mark.parametrize(("name", "value"), [
    ("epochs", 0), ("epochs", 1001), ("epochs", 2.5), ("epochs", "many"), ("batch_size", 0), ("lr", 0.0),
    ("lr", 11.0), ("lr", "nan"), ("lr", float("inf")), ("optimizer", "rmsprop"), ("momentum", 1.0),
    ("weight_decay", -0.1), ("schedule", "step"), ("augment", "maybe"), ("epochs", None), ("epochs", "٣"),
])
def test_a_bad_value_names_its_field(name: str, value: Any) -> None:
    with pytest.raises(SpecError) as err:
        build_config(TrainConfig, {name: value}, "train")
    assert err.value.field == f"train.{name}"
    assert str(err.value).startswith(f"train.{name}: ")


def test_an_unknown_field_is_named_with_the_valid_ones() -> None:
    with pytest.raises(SpecError) as err:
        build_config(TrainConfig, {"epoch": 3}, "train")
    assert err.value.field == "train.epoch"
    assert all(name in err.value.message for name in FIELDS)


def test_text_values_are_coerced_to_the_field_types() -> None:
    cfg = build_config(TrainConfig, {"epochs": "3", "lr": "0.01", "augment": "true", "batch_size": 32.0}, "train")
    assert cfg == TrainConfig(epochs=3, lr=0.01, augment=True, batch_size=32)
    assert isinstance(cfg.epochs, int) and isinstance(cfg.batch_size, int) and isinstance(cfg.lr, float)


def test_config_is_frozen_and_declares_its_costs() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 3  # type: ignore[misc]
    costs = {p.name: p.cost for p in schema(TrainConfig)}
    assert costs["epochs"] == COST_LINEAR and costs["batch_size"] == COST_INVERSE  # read by the demo caps
    assert {p.name for p in schema(TrainConfig)} == FIELDS
