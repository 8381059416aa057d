"""SISA's sharded, isolated, sliced training (Bourtoule et al., "Machine Unlearning", IEEE S&P 2021, Sec. IV).

Shared by the ``sisa_shards`` recorder (training at original time, ``engine.training.recording``) and the
``sisa`` method (retraining the affected shards, ``engine.methods.sisa``), so that both train a slice in
exactly the same way.

* **Sharding**: a seeded random permutation of the training set cut into ``S`` contiguous chunks (sizes differ
  by at most one); shard ``k`` trains constituent model ``k`` in isolation.
* **Slicing**: shard ``k`` is cut into ``R`` contiguous chunks of that permutation. Training step ``r``
  (``r = 0..R-1``) trains on slices ``0..r`` for ``e_r`` epochs and saves a checkpoint ``theta_{k,r}``.
* **Epochs per slice** (official ``sisa.py``): ``e_r = floor((r+1) * 2e/(R+1)) - floor(r * 2e/(R+1))``, so
  ``sum_r e_r (r+1)/R = e`` passes over the shard when ``2e/(R+1)`` is an integer (about ``e`` otherwise): the
  same number of sample visits as training the shard for the original's ``e`` epochs at once.
* **Slice seeds**: slice ``r`` of shard ``k`` is trained by :func:`engine.training.loop.fit` with its own seed
  (:func:`slice_seed`) and a fresh optimiser, so retraining a slice from checkpoint ``theta_{k,r-1}`` on the
  same data reproduces it bit for bit, and on the data minus the forgotten samples gives exactly what training
  from scratch without them would have given.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from engine.paradigms.base import Supervision
from engine.training.config import TrainConfig
from engine.training.loop import LossFn, Progress, TrainingContext, fit

DEFAULT_SHARDS = 5
DEFAULT_SLICES = 5
MAX_CHECKPOINT_BYTES = 2 * 1024**3  # storage limit of the S*R checkpoints (+ the initial weights)

SliceData = Callable[[torch.Tensor], tuple[torch.Tensor, Supervision]]  # training indices -> (inputs, supervision)


def partition(n: int, shards: int, slices: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(shard, slice)`` id of every training sample: contiguous chunks of a seeded permutation (int64, CPU)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + 4242))
    shard = torch.empty(n, dtype=torch.int64)
    slc = torch.empty(n, dtype=torch.int64)
    for k, chunk in enumerate(torch.tensor_split(perm, shards)):
        shard[chunk] = k
        for r, part in enumerate(torch.tensor_split(chunk, slices)):
            slc[part] = r
    return shard, slc


def slice_epochs(epochs: int, slices: int) -> list[int]:
    """``e_r`` for ``r = 0..R-1`` (integer arithmetic for ``floor((r+1) * 2e/(R+1)) - floor(r * 2e/(R+1))``)."""
    return [((r + 1) * 2 * epochs) // (slices + 1) - (r * 2 * epochs) // (slices + 1) for r in range(slices)]


def slice_seed(seed: int, shard: int, r: int) -> int:
    """The training seed of slice ``r`` of shard ``shard`` (distinct for shard, slice < 1000)."""
    return (seed * 1000 + shard) * 1000 + r + 1


def checkpoint_bytes(n_params: int, shards: int, slices: int) -> int:
    """Storage of the recorded state: ``S*R`` checkpoints plus the initial weights, float32 parameters."""
    return (shards * slices + 1) * n_params * 4


def prefix(shard: int, r: int) -> str:
    """Key prefix of checkpoint ``theta_{shard,r}`` in the recorded state (``init.`` for the initial weights)."""
    return "init." if r < 0 else f"ckpt.{shard}.{r}."


def pack(state: dict[str, torch.Tensor], pre: str) -> dict[str, torch.Tensor]:
    """A state dict under a key prefix (detached copies)."""
    return {pre + k: v.detach().clone() for k, v in state.items()}


def unpack(state: dict[str, torch.Tensor], pre: str) -> dict[str, torch.Tensor]:
    """The state dict stored under ``pre``."""
    return {k[len(pre):]: v for k, v in state.items() if k.startswith(pre)}


def train_slices(net: nn.Module, shard_k: int, start: int, shard: torch.Tensor, slc: torch.Tensor,
                 keep: torch.Tensor | None, epochs: list[int], data: SliceData, loss_fn: LossFn, cfg: TrainConfig,
                 seed: int, on_checkpoint: Callable[[int, nn.Module], None],
                 progress: Progress | None = None) -> None:
    """Train ``net`` (holding ``theta_{k,start-1}``) through slices ``start..R-1`` of shard ``k``, in place.

    Step ``r`` trains on the samples of shard ``k`` in slices ``0..r`` that ``keep`` (a bool mask over the
    training set, ``None`` = all) retains, for ``epochs[r]`` epochs with seed :func:`slice_seed`, then calls
    ``on_checkpoint(r, net)``. A step with no epochs or fewer than two samples leaves the weights as they are
    (BatchNorm cannot train on one sample).
    """
    mine = shard == shard_k if keep is None else (shard == shard_k) & keep
    for r in range(start, len(epochs)):
        idx = torch.nonzero(mine & (slc <= r)).flatten()
        if epochs[r] > 0 and idx.numel() >= 2:
            x, sup = data(idx)
            fit(net, x, sup, loss_fn, replace(cfg, epochs=epochs[r]), slice_seed(seed, shard_k, r))
        on_checkpoint(r, net)
        if progress is not None:
            progress(r + 1, len(epochs), f"shard {shard_k + 1} slice {r + 1}/{len(epochs)}")


def _overall(progress: Progress | None, k: int, shards: int, slices: int) -> Progress | None:
    """Shard ``k``'s per-slice progress as progress over all ``S*R`` slices."""
    if progress is None:
        return None
    return lambda done, total, msg: progress(k * slices + done, shards * slices, msg)


def train_shards(init: nn.Module, ctx: TrainingContext, shards: int, slices: int) -> dict[str, torch.Tensor]:
    """SISA training at original time: every shard from ``init``'s weights, a checkpoint after every slice.

    Returns tensors only: ``shard``/``slice`` ids per training sample, ``epochs`` (``e_r``), ``seed``, the
    initial weights under ``init.`` and checkpoint ``theta_{k,r}`` under ``ckpt.k.r.`` (on ``init``'s device).
    """
    n = ctx.x.shape[0]
    shard, slc = partition(n, shards, slices, ctx.seed)
    epochs = slice_epochs(ctx.cfg.epochs, slices)
    state: dict[str, torch.Tensor] = {"shard": shard, "slice": slc, "epochs": torch.tensor(epochs),
                                      "seed": torch.tensor(ctx.seed, dtype=torch.int64)}
    state.update(pack(init.state_dict(), prefix(0, -1)))

    def data(idx: torch.Tensor) -> tuple[torch.Tensor, Supervision]:
        idx = idx.to(ctx.x.device)
        return ctx.x[idx], ctx.sup.take(idx)

    for k in range(shards):
        net = copy.deepcopy(init)

        def save(r: int, m: nn.Module, k: int = k) -> None:
            state.update(pack(m.state_dict(), prefix(k, r)))

        train_slices(net, k, 0, shard, slc, None, epochs, data, ctx.loss_fn, ctx.cfg, ctx.seed, save,
                     _overall(ctx.progress, k, shards, slices))
    return state
