"""Randomness that threads cannot disturb (DESIGN.md "Evaluation protocol": randomness from the job).

Every random draw in the engine comes from an explicit ``torch.Generator`` (or a seeded numpy / sklearn
generator) derived from the job. torch's *global* RNG is shared by every thread of the process (the dashboard
plans and runs comparisons in several), so the engine never reads it: models are built on the ``meta`` device and
initialised from a generator (:func:`engine.models.build_model`, :mod:`engine.models.init`), and Dropout draws its
masks from :class:`SeededDropout`'s own seed. ``tests/test_rng_lint.py`` fails on any global-RNG use in
``engine/``.

CPU thread count: :func:`fix_threads` pins torch's intra-op threads for CPU jobs (``UNLEARN_THREADS``, default 1):
results differ slightly between thread counts (reductions are summed in a different order), so the count is
fixed and recorded in every job's metadata (:func:`run_info`).
"""

from __future__ import annotations

import hashlib
import os

import torch
from torch import nn

THREADS_ENV = "UNLEARN_THREADS"
DEFAULT_THREADS = 1


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (job identity, stream names, counters): SHA-256 of their ``repr``."""
    h = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(h[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def generator(*parts: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by :func:`derive_seed` of ``parts``."""
    return torch.Generator().manual_seed(derive_seed(*parts))


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` whose masks come from its own seed and call counter, never from torch's global RNG.

    ``seed_dropout(model, seed)`` sets the seed of every such layer of a model; the ``i``-th training-mode call
    then draws its mask from ``generator(seed, i)`` on the input's device. Eval mode is the identity.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)
        self.rng_seed = 0
        self.rng_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        g = torch.Generator(device=x.device).manual_seed(derive_seed("dropout", self.rng_seed, self.rng_calls))
        self.rng_calls += 1
        keep = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)


def seed_dropout(model: nn.Module, seed: int) -> None:
    """Give every :class:`SeededDropout` layer of ``model`` its own seed derived from ``seed`` (counters reset)."""
    for i, m in enumerate(mod for mod in model.modules() if isinstance(mod, SeededDropout)):
        m.rng_seed = derive_seed(int(seed), i)
        m.rng_calls = 0


def thread_count() -> int:
    """The intra-op thread count CPU jobs run with: ``$UNLEARN_THREADS`` or 1."""
    raw = os.environ.get(THREADS_ENV, "")
    try:
        n = int(raw) if raw else DEFAULT_THREADS
    except ValueError:
        n = DEFAULT_THREADS
    return max(1, n)


def fix_threads(device: torch.device) -> int:
    """Pin torch's intra-op threads for a job on ``device`` (CPU: :func:`thread_count`); returns the count in use."""
    if device.type == "cpu":
        n = thread_count()
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    return torch.get_num_threads()
