"""Training configuration of the original and the retrained models, with fast defaults per dataset x model.

Defaults are "the fastest that reach the papers' accuracy" (DESIGN.md), not the papers' epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import param


@dataclass(frozen=True)
class TrainConfig:
    """How the original model (and the retrained reference, identically) is trained."""

    epochs: int = param(30, "passes over the training set", range=(1, 1000), cost="linear")
    batch_size: int = param(64, "mini-batch size", range=(1, 100_000), cost="inverse")
    lr: float = param(2e-3, "learning rate", range=(1e-7, 10.0), log=True)
    optimizer: str = param("adam", "optimiser", choices=("adam", "sgd"))
    momentum: float = param(0.9, "SGD momentum", range=(0.0, 0.999))
    weight_decay: float = param(5e-4, "weight decay", range=(0.0, 1.0))
    schedule: str = param("cosine", "learning-rate schedule", choices=("none", "cosine"))
    augment: bool = param(False, "random crop (pad 4) + horizontal flip, on tensors")


# (dataset, model) -> overrides of TrainConfig; "*" matches any model. Figures in docs/training.md.
DEFAULTS: dict[tuple[str, str], dict[str, object]] = {
    ("digits", "*"): {"epochs": 30, "batch_size": 64, "lr": 2e-3},
    ("digits", "resnet18"): {"epochs": 15, "batch_size": 128, "lr": 1e-3},
    ("digits", "resnet50"): {"epochs": 15, "batch_size": 128, "lr": 1e-3},
    ("mnist", "*"): {"epochs": 5, "batch_size": 128, "lr": 1e-3},
    ("fashion_mnist", "*"): {"epochs": 10, "batch_size": 128, "lr": 1e-3},
    ("cifar10", "*"): {"epochs": 30, "batch_size": 256, "lr": 0.1, "optimizer": "sgd", "augment": True},
    ("cifar100", "*"): {"epochs": 40, "batch_size": 256, "lr": 0.1, "optimizer": "sgd", "augment": True},
    ("svhn", "*"): {"epochs": 15, "batch_size": 256, "lr": 0.05, "optimizer": "sgd"},
}


def default_train_config(dataset: str, model: str) -> TrainConfig:
    """The fast default for ``dataset`` x ``model``."""
    over = DEFAULTS.get((dataset, model), DEFAULTS.get((dataset, "*"), {}))
    return TrainConfig(**over)  # type: ignore[arg-type]
