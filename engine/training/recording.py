"""Training-time state that some methods need, recorded for the original model only when selected.

* ``layer_covariance`` (PGU, seed 003, Sec. 3.2): per Conv/Linear layer, the uncentred covariance
  ``R = sum_i x_i x_i^T`` of its inputs over the whole training set (conv inputs unfolded into patches
  with the layer's kernel and padding at stride 1, as in the official code), accumulated in float64
  in one pass after training, with the model in eval mode. Also the per-sample covariance of any
  subset can be recomputed later (``layer_covariance_of``), which PGU needs for the forget set.
* ``batch_updates`` (Amnesiac ML, Graves et al. 2021; UDRU's baseline): the parameter update of every
  optimiser step and the training indices of its batch, so the steps that saw forget samples can be
  undone. Storage is ``steps x parameters x 4`` bytes; above ``MAX_UPDATE_BYTES`` it is refused.
* ``sisa_shards`` (SISA, Bourtoule et al. 2021; LAF's baseline): ``S`` constituent models trained on disjoint
  shards of the training set, each shard in ``R`` slices with a checkpoint after every slice
  (``engine.training.sharded``). It is not a by-product of the original's training but a training of its own
  from the same inputs, supervision, loss, config and seed, which a recorder receives through
  :class:`~engine.training.loop.TrainingContext` in :meth:`StepHook.begin`. ``S`` and ``R`` come from the
  selecting method's config (``RecorderInfo.options``). Storage is ``(S*R + 1) x parameters x 4`` bytes;
  above ``MAX_CHECKPOINT_BYTES`` it is refused.

Recorder kinds: post-hoc (``during_training=False``: one pass over the trained original), step observers
(``during_training=True``: recorded on the side of the original's training, or by re-running it) and
``separate`` ones (they need the training run's inputs but not its steps, so the runner records them in a job of
their own, handing them the original's initial weights and the training context, never re-running the original).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.errors import RunFailed
from engine.registry import Registry
from engine.training import sharded
from engine.training.loop import StepHook, TrainingContext

MAX_UPDATE_BYTES = 2 * 1024**3
MAX_CHECKPOINT_BYTES = sharded.MAX_CHECKPOINT_BYTES

Feasible = Callable[[int, int, int, dict[str, Any]], str | None]  # (n_train, n_params, steps, options) -> reason


@dataclass(frozen=True)
class RecorderInfo:
    """A registered kind of training-time state."""

    key: str
    title: str
    during_training: bool  # True: needs the training loop (its steps or its inputs); False: one pass over the model
    make: Callable[..., Recorder]  # make(**options)
    feasible: Feasible
    separate: bool = False  # needs the run's inputs only: recorded in its own job, not by re-running the original
    options: tuple[str, ...] = ()  # fields of the selecting method's config that parametrise it (part of its identity)
    indexed: bool = False  # indexed by training-sample position: methods needing it get the forget set's indices

    def __post_init__(self) -> None:
        if self.options and not self.separate:
            raise ValueError(f"recorder {self.key}: only separate recorders take options")

    def options_of(self, method_cfg: object) -> dict[str, Any]:
        """This recorder's options as set in a selecting method's config."""
        return {k: getattr(method_cfg, k) for k in self.options}


class Recorder(StepHook, ABC):
    """Collects state; :meth:`finish` returns tensors only (stored with ``torch.save``, loaded weights-only)."""

    @abstractmethod
    def finish(self, model: nn.Module, x_train: torch.Tensor) -> dict[str, torch.Tensor]:
        """The recorded state of the trained ``model``."""


RECORDERS: Registry[RecorderInfo] = Registry("recorder")


def projectable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Conv2d and Linear layers in definition order (the layers PGU projects)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _layer_inputs(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A layer's inputs as rows: patches (stride 1) for convs, vectors for linears."""
    if isinstance(module, nn.Conv2d):
        patches = nn.functional.unfold(x, module.kernel_size, dilation=module.dilation, padding=module.padding,
                                       stride=1)
        return patches.transpose(1, 2).reshape(-1, patches.shape[1])
    return x.reshape(-1, x.shape[-1])


@torch.no_grad()
def layer_covariance_of(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """``{layer name: sum_i a_i a_i^T}`` (float64) of every Conv/Linear layer's inputs over ``x``."""
    layers = projectable_layers(model)
    acc: dict[str, torch.Tensor] = {}
    handles = []

    def hook(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def fn(mod: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            a = _layer_inputs(mod, inputs[0]).double()
            cov = a.T @ a
            acc[name] = acc[name] + cov if name in acc else cov
        return fn

    for name, mod in layers:
        handles.append(mod.register_forward_hook(hook(name)))
    was = model.training
    model.eval()
    try:
        for i in range(0, x.shape[0], batch_size):
            model(x[i:i + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return acc


class CovarianceRecorder(Recorder):
    """Post-hoc pass: full-training-set layer input covariances."""

    def finish(self, model: nn.Module, x_train: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"cov.{k}": v.cpu() for k, v in layer_covariance_of(model, x_train).items()}


class UpdateRecorder(Recorder):
    """Per-step parameter deltas and batch indices (Amnesiac ML)."""

    def __init__(self) -> None:
        self.before: list[torch.Tensor] = []
        self.deltas: list[torch.Tensor] = []
        self.batches: list[torch.Tensor] = []

    def before_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> None:
        self.before = [p.detach().clone() for p in model.parameters()]

    def after_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> None:
        delta = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), self.before, strict=True)])
        self.deltas.append(delta.cpu())
        self.batches.append(batch.cpu())

    def finish(self, model: nn.Module, x_train: torch.Tensor) -> dict[str, torch.Tensor]:
        sizes = torch.tensor([b.numel() for b in self.batches], dtype=torch.int64)
        return {"updates": torch.stack(self.deltas), "batch_index": torch.cat(self.batches), "batch_sizes": sizes}


class SisaRecorder(Recorder):
    """SISA's shard models: trained from the run's initial weights and inputs (``engine.training.sharded``)."""

    def __init__(self, shards: int = sharded.DEFAULT_SHARDS, slices: int = sharded.DEFAULT_SLICES) -> None:
        self.shards = shards
        self.slices = slices
        self.init: nn.Module | None = None
        self.ctx: TrainingContext | None = None

    def begin(self, model: nn.Module, ctx: TrainingContext) -> None:
        self.init = copy.deepcopy(model)
        self.ctx = ctx

    def finish(self, model: nn.Module, x_train: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.init is None or self.ctx is None:
            raise RunFailed("sisa_shards: the recorder was never handed the training context (begin)")
        state = sharded.train_shards(self.init, self.ctx, self.shards, self.slices)
        return {k: v.cpu() for k, v in state.items()}


def _cov_feasible(n_train: int, n_params: int, steps: int, options: dict[str, Any]) -> str | None:
    return None


def _sisa_feasible(n_train: int, n_params: int, steps: int, options: dict[str, Any]) -> str | None:
    s = int(options.get("shards", sharded.DEFAULT_SHARDS))
    r = int(options.get("slices", sharded.DEFAULT_SLICES))
    if s * r > n_train:
        return f"{s} shards x {r} slices need at least {s * r} training samples; there are {n_train}"
    need = sharded.checkpoint_bytes(n_params, s, r)
    if need > MAX_CHECKPOINT_BYTES:
        return (f"storing the SISA checkpoints needs {need / 1024**3:.1f} GiB ({s} shards x {r} slices + the "
                f"initial weights, {n_params} parameters each); the limit is {MAX_CHECKPOINT_BYTES / 1024**3:.0f} GiB")
    return None


def _updates_feasible(n_train: int, n_params: int, steps: int, options: dict[str, Any]) -> str | None:
    need = steps * n_params * 4
    if need > MAX_UPDATE_BYTES:
        return (f"storing every training update needs {need / 1024**3:.1f} GiB ({steps} steps x {n_params} "
                f"parameters); the limit is {MAX_UPDATE_BYTES / 1024**3:.0f} GiB")
    return None


RECORDERS.register(RecorderInfo(
    "layer_covariance", "Layer input covariances (PGU)", False, CovarianceRecorder, _cov_feasible))
RECORDERS.register(RecorderInfo(
    "batch_updates", "Per-step parameter updates (Amnesiac ML)", True, UpdateRecorder, _updates_feasible,
    indexed=True))
RECORDERS.register(RecorderInfo(
    "sisa_shards", "SISA shard checkpoints", True, SisaRecorder, _sisa_feasible, separate=True,
    options=("shards", "slices"), indexed=True))
