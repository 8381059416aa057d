"""The validation split (DESIGN.md "Evaluation protocol": three held-apart splits).

Every problem has three splits: ``train`` (the original and retrain fit on it; forget is a subset of it),
``val`` and ``test``, with ``val`` and ``test`` disjoint parts of the dataset's held-out split. ``val`` is drawn
per seed, stratified by class, from the held-out split with the run's generator; ``test`` is the rest. Anything
that stops, selects a checkpoint or calibrates reads ``val`` only; every reported test metric and every
membership attack's non-member set read ``test`` only.

Sizes (:data:`VAL_SIZES`): ``digits`` 180 of its 360 held-out images (180 stay for test); the torchvision sets
2 000 of their test split (MNIST, Fashion-MNIST, CIFAR-10/100: 8 000 stay for test; SVHN: 24 032). A held-out
split smaller than twice the size gives half of itself to ``val``.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.data.base import ImageData

VAL_SIZES: dict[str, int] = {"digits": 180, "mnist": 2000, "fashion_mnist": 2000, "cifar10": 2000,
                             "cifar100": 2000, "svhn": 2000}
DEFAULT_VAL_SIZE = 2000


def val_size(dataset: str, n_heldout: int) -> int:
    """How many held-out samples of ``dataset`` go to ``val`` (at most half of the held-out split)."""
    return min(VAL_SIZES.get(dataset, DEFAULT_VAL_SIZE), n_heldout // 2)


def stratified_val_indices(y: torch.Tensor, n_val: int, generator: torch.Generator) -> torch.Tensor:
    """Sorted indices of ``n_val`` samples of ``y`` drawn per class in proportion to its size.

    Per-class quotas are the largest-remainder rounding of ``n_val * n_c / n``; within a class the samples
    are a uniform draw from ``generator`` (CPU).
    """
    y = y.cpu()
    n = int(y.numel())
    classes, counts = torch.unique(y, return_counts=True)
    exact = counts.double() * n_val / max(n, 1)
    quota = exact.floor().long()
    short = n_val - int(quota.sum())
    if short > 0:  # largest remainders first (ties: lower class first, deterministic)
        order = torch.argsort(exact - quota.double(), descending=True, stable=True)
        quota[order[:short]] += 1
    picked = []
    for c, q in zip(classes.tolist(), quota.tolist(), strict=True):
        members = torch.nonzero(y == c).flatten()
        perm = torch.randperm(members.numel(), generator=generator)
        picked.append(members[perm[:q]])
    return torch.cat(picked).sort().values if picked else torch.zeros(0, dtype=torch.int64)


def split_validation(data: ImageData, generator: torch.Generator) -> tuple[ImageData, torch.Tensor, torch.Tensor]:
    """Split ``data``'s held-out split into ``val`` and ``test`` (see the module docstring).

    Returns the data with ``x_val``/``y_val`` set and ``x_test``/``y_test`` (and ``groups_test``) restricted
    to the test part, plus the indices of ``val`` and ``test`` in the dataset's original held-out split.
    """
    if data.x_val is not None:
        raise ValueError("the data already has a validation split")
    n = int(data.y_test.numel())
    val_idx = stratified_val_indices(data.y_test, val_size(data.name, n), generator)
    keep = torch.ones(n, dtype=torch.bool)
    keep[val_idx] = False
    test_idx = torch.nonzero(keep).flatten()
    dev = data.y_test.device
    v, t = val_idx.to(dev), test_idx.to(dev)
    split = replace(data, x_val=data.x_test[v], y_val=data.y_test[v], x_test=data.x_test[t], y_test=data.y_test[t],
                    groups_val=None if data.groups_test is None else data.groups_test[v],
                    groups_test=None if data.groups_test is None else data.groups_test[t])
    return split, val_idx, test_idx
