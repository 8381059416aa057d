"""Shared helpers for the paradigm tests: seeded generators, synthetic labels, a numpy softmax."""

from __future__ import annotations

import numpy as np
import torch

K = 10
N_LARGE = 20_000  # large enough for empirical rates within 0.01 (std of a 0.2 share ~ 0.003)


def gen(seed: int) -> torch.Generator:
    """A fresh CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def labels(n: int = N_LARGE, k: int = K, seed: int = 123) -> torch.Tensor:
    """A seeded random int64 label vector of ``n`` samples over ``k`` classes."""
    return torch.randint(0, k, (n,), generator=gen(seed))


def np_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, computed independently of torch."""
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logits(n: int, k: int = K, seed: int = 7, scale: float = 2.0) -> torch.Tensor:
    """Seeded float64 logits (double precision keeps the reference comparisons tight)."""
    return torch.randn(n, k, generator=gen(seed), dtype=torch.float64) * scale
