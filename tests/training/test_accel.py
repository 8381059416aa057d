"""The GPU fast path leaves the CPU path bit-for-bit unchanged (issue 6: "numbers on CPU are unchanged"; issue 13
part 6: the per-epoch draws and the device-side augmentation change no CPU number). The fast path itself, switched
on for the CPU, is tested in ``test_gpu_path.py``."""

from __future__ import annotations

import contextlib
import hashlib
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.data import ImageData, load_dataset
from engine.models import build_model
from engine.paradigms.base import Supervision, cross_entropy, one_hot_supervision
from engine.training import StepHook, TrainConfig, fit, predict_logits
from engine.training.accel import (
    amp_enabled,
    autocast,
    compile_enabled,
    has_conv,
    is_channels_last,
    prepare,
    to_device,
    use_channels_last,
)
from engine.training.loop import make_optimizer


@pytest.mark.parametrize("key", ["mlp", "cnn"])
def test_cpu_training_numbers_are_unchanged(key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On CPU, ``fit`` with the fast-path hooks gives bit-identical numbers to ``fit`` with them replaced by the plain
    float32 loop (identity ``prepare``, no autocast). (A recorded golden hash was machine-dependent: float
    summation order differs between CPUs, so it failed on machines other than the one it was recorded on.)"""
    import engine.training.loop as loop

    data = load_dataset("digits", tmp_path, device="cpu")

    def run() -> tuple[float, str]:
        model = build_model(key, data.input_shape, data.num_classes, seed=0)
        result = fit(model, data.x_train, one_hot_supervision(data.y_train, 10), cross_entropy,
                     TrainConfig(epochs=2), seed=0)
        logits = predict_logits(model, data.x_test)
        return result.final_loss, hashlib.sha256(logits.numpy().tobytes()).hexdigest()

    fast = run()
    monkeypatch.setattr(loop, "prepare", lambda model, x: (model, x))
    monkeypatch.setattr(loop, "autocast", lambda device: contextlib.nullcontext())
    assert run() == fast


# ---- the loop before issue 13 part 6, kept verbatim as the oracle of the CPU numbers -------------------------------
def _old_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``augment`` as it was: draws per batch, copied to the device with ``.to`` (a host sync on CUDA)."""
    b, c, h, w = x.shape
    pad = 4
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]
    cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return xp[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def _old_fit(model: nn.Module, x: torch.Tensor, sup: Supervision, cfg: TrainConfig, seed: int,
             hooks: tuple[StepHook, ...] = ()) -> float:
    """``fit``'s CPU path as it was (float32, per-batch augmentation draws); returns the last epoch's loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(model.parameters(), cfg)
    n = x.shape[0]
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total) if cfg.schedule == "cosine" else None
    model.train()
    step = 0
    loss_val = float("nan")
    for _epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(x.device)
        running = torch.zeros((), device=x.device)
        trained = 0
        for b in range(steps_per_epoch):
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if idx.numel() < 2 and n >= 2:
                continue
            xb = x[idx]
            if cfg.augment:
                xb = _old_augment(xb, gen)
            loss = cross_entropy(model(xb), sup.take(idx)).float()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for h in hooks:
                h.before_step(model, idx, step)
            opt.step()
            if sched is not None:
                sched.step()
            running += loss.detach()
            step += 1
            trained += 1
        loss_val = float(running) / max(1, trained)
    return loss_val


class _Batches(StepHook):
    """Records every step's batch indices."""

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def before_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> None:
        self.seen.append(batch.clone())


@pytest.mark.parametrize(("key", "n", "cfg"), [
    ("cnn", 129, TrainConfig(epochs=3, batch_size=64, augment=True)),  # 64 + 64 + 1: the last batch is skipped
    ("cnn", 130, TrainConfig(epochs=2, batch_size=64, augment=True, optimizer="sgd", lr=0.05)),  # 64 + 64 + 2
    ("mlp", 300, TrainConfig(epochs=2, batch_size=128)),  # no augmentation
])
def test_fit_is_bit_identical_to_the_per_batch_loop_it_replaced(digits: ImageData, key: str, n: int,
                                                                cfg: TrainConfig) -> None:
    """Drawing an epoch's augmentation up front (in the per-batch order) and gathering on the device gives the
    old loop's weights, losses and batches exactly, skipped one-sample batches included."""
    sup = one_hot_supervision(digits.y_train[:n], 10)
    old, new = build_model(key, digits.input_shape, 10, seed=0), build_model(key, digits.input_shape, 10, seed=0)
    old_batches, new_batches = _Batches(), _Batches()
    old_loss = _old_fit(old, digits.x_train[:n], sup, cfg, seed=7, hooks=(old_batches,))
    result = fit(new, digits.x_train[:n], sup, cross_entropy, cfg, seed=7, hooks=[new_batches])
    assert result.final_loss == old_loss and result.steps == len(old_batches.seen)
    assert len(new_batches.seen) == len(old_batches.seen)
    assert all(torch.equal(a, b) for a, b in zip(new_batches.seen, old_batches.seen, strict=True))
    so, sn = old.state_dict(), new.state_dict()
    assert so.keys() == sn.keys() and all(torch.equal(so[k], sn[k]) for k in so)


def test_cpu_helpers_are_no_ops() -> None:
    cpu = torch.device("cpu")
    model = build_model("cnn", (1, 8, 8), 10, seed=0)
    x = torch.randn(4, 1, 8, 8)
    forward, x2 = prepare(model, x)
    assert forward is model and x2 is x
    assert not amp_enabled(cpu) and not use_channels_last(model, cpu) and not compile_enabled(cpu)
    assert isinstance(autocast(cpu), contextlib.nullcontext)
    assert has_conv(model) and not has_conv(build_model("mlp", (1, 8, 8), 10, seed=0))
    assert to_device(x, cpu) is x and not is_channels_last(x)


def test_cpu_defaults_ignore_the_environment_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    """``UNLEARN_AMP`` / ``UNLEARN_COMPILE`` are CUDA switches: set on a CPU run they change nothing."""
    cpu = torch.device("cpu")
    monkeypatch.setenv("UNLEARN_AMP", "1")
    monkeypatch.setenv("UNLEARN_COMPILE", "1")
    model = build_model("cnn", (3, 8, 8), 10, seed=0)
    x = torch.randn(2, 3, 8, 8)
    forward, x2 = prepare(model, x)
    assert forward is model and x2 is x and not amp_enabled(cpu) and not compile_enabled(cpu)
    assert isinstance(autocast(cpu), contextlib.nullcontext)
