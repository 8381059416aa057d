"""``engine.training.loop``: ``fit`` is seeded by its generator alone, reports progress per epoch, calls its hooks
around every optimiser step and fails on a non-finite loss; ``predict_logits`` and ``augment``."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from engine.data import ImageData
from engine.errors import RunFailed
from engine.models import build_model
from engine.paradigms.base import Supervision, cross_entropy, one_hot_supervision
from engine.training import (
    StepHook,
    TrainConfig,
    TrainingContext,
    TrainResult,
    augment,
    fit,
    make_optimizer,
    predict_logits,
)

K = 10
FAST = TrainConfig(epochs=2, batch_size=64)


def _train(data: ImageData, key: str = "mlp", cfg: TrainConfig = FAST, seed: int = 0, init_seed: int = 0,
           n: int | None = None, **kw: object) -> tuple[nn.Module, TrainResult]:
    """A model built from ``init_seed`` and fitted with ``seed`` on the first ``n`` training images."""
    model = build_model(key, data.input_shape, K, seed=init_seed)
    x, y = data.x_train[:n], data.y_train[:n]
    return model, fit(model, x, one_hot_supervision(y, K), cross_entropy, cfg, seed, **kw)  # type: ignore[arg-type]


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class Spy(StepHook):
    """Records every hook call: ``begin``'s context, and per step the batch, the step number, and whether the
    gradients were there before the update and the weights moved across it."""

    def __init__(self) -> None:
        self.contexts: list[TrainingContext] = []
        self.batches: list[torch.Tensor] = []
        self.before: list[int] = []
        self.after: list[int] = []
        self.grads_ready: list[bool] = []
        self.moved: list[bool] = []
        self._w: list[torch.Tensor] = []

    def begin(self, model: nn.Module, ctx: TrainingContext) -> None:
        self.contexts.append(ctx)

    def before_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> None:
        self.before.append(step)
        self.grads_ready.append(all(p.grad is not None for p in model.parameters()))
        self._w = [p.detach().clone() for p in model.parameters()]

    def after_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> None:
        self.after.append(step)
        self.batches.append(batch.clone())
        self.moved.append(any(not torch.equal(p, w) for p, w in zip(model.parameters(), self._w, strict=True)))


# ---- determinism -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["mlp", "cnn"])
def test_same_seed_gives_bit_identical_weights(digits: ImageData, key: str) -> None:
    a, ra = _train(digits, key, n=512)
    b, rb = _train(digits, key, n=512)
    assert _same(a, b)
    assert (ra.steps, ra.final_loss) == (rb.steps, rb.final_loss)


def test_a_different_seed_gives_different_weights(digits: ImageData) -> None:
    ref, _ = _train(digits, n=512)
    other_order, _ = _train(digits, n=512, seed=1)  # same initial weights, another mini-batch order
    other_init, _ = _train(digits, n=512, init_seed=1)  # same order, other initial weights
    assert not _same(ref, other_order) and not _same(ref, other_init) and not _same(other_order, other_init)


def test_global_rng_is_neither_read_nor_advanced(digits: ImageData) -> None:
    """Shuffling and augmentation come from ``fit``'s own generator: draws from torch's global RNG between two
    trainings change nothing, and a training leaves the global RNG where it was."""
    cfg = TrainConfig(epochs=1, batch_size=64, augment=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        a, _ = _train(digits, "cnn", cfg, n=256)
        torch.manual_seed(12345)
        torch.rand(1000)
        state = torch.get_rng_state()
        b, _ = _train(digits, "cnn", cfg, n=256)
        assert torch.equal(torch.get_rng_state(), state)
    assert _same(a, b)


# ---- learning, progress, steps -----------------------------------------------------------------------------------
def test_loss_decreases_and_the_model_learns_digits(digits: ImageData) -> None:
    sup = one_hot_supervision(digits.y_train, K)
    model = build_model("mlp", digits.input_shape, K, seed=0)
    with torch.no_grad():
        untrained = float(cross_entropy(model(digits.x_train), sup))
    messages: list[str] = []
    result = fit(model, digits.x_train, sup, cross_entropy, TrainConfig(epochs=3), 0,
                 progress=lambda done, total, msg: messages.append(msg))
    losses = [float(re.search(r"loss (\S+)$", m).group(1)) for m in messages]  # type: ignore[union-attr]
    assert untrained > math.log(K) * 0.8  # an untrained model is about uniform
    assert untrained > losses[0] > losses[1] > losses[2]
    assert result.final_loss == pytest.approx(losses[-1], abs=5e-5)  # the message rounds to 4 decimals
    accuracy = float((predict_logits(model, digits.x_test).argmax(1) == digits.y_test).float().mean())
    assert accuracy > 0.9


def test_progress_is_reported_once_per_epoch(digits: ImageData) -> None:
    calls: list[tuple[int, int, str]] = []
    _train(digits, cfg=TrainConfig(epochs=3, batch_size=64), n=128, progress=lambda d, t, m: calls.append((d, t, m)))
    assert [(d, t) for d, t, _ in calls] == [(1, 3), (2, 3), (3, 3)]
    assert all(re.fullmatch(rf"epoch {d}/3 loss \d+\.\d{{4}}", m) for d, _, m in calls)


def test_hooks_see_every_step_and_each_epoch_visits_every_sample_once(digits: ImageData) -> None:
    n, bs, epochs = 100, 32, 3
    spy = Spy()
    cfg = TrainConfig(epochs=epochs, batch_size=bs)
    _, result = _train(digits, cfg=cfg, n=n, seed=7, hooks=[spy])
    per_epoch = math.ceil(n / bs)
    assert result.steps == epochs * per_epoch
    assert spy.before == spy.after == list(range(result.steps))
    assert all(spy.grads_ready) and all(spy.moved)  # before_step: after backward; after_step: after the update
    assert len(spy.contexts) == 1  # begin, once, with the run's inputs
    ctx = spy.contexts[0]
    assert ctx.cfg == cfg and ctx.seed == 7 and ctx.loss_fn is cross_entropy and ctx.progress is None
    assert torch.equal(ctx.x, digits.x_train[:n]) and torch.equal(ctx.sup.labels, digits.y_train[:n])
    assert [b.numel() for b in spy.batches] == [32, 32, 32, 4] * epochs
    orders = [torch.cat(spy.batches[e * per_epoch:(e + 1) * per_epoch]) for e in range(epochs)]
    for order in orders:
        assert torch.equal(order.sort().values, torch.arange(n))  # a permutation: each sample once per epoch
    assert not torch.equal(orders[0], orders[1])  # reshuffled every epoch


def test_a_one_sample_last_batch_is_skipped(digits: ImageData) -> None:
    """BatchNorm cannot train on one sample: with ``n % batch_size == 1`` the last batch of an epoch is dropped."""
    spy = Spy()
    _, result = _train(digits, cfg=TrainConfig(epochs=2, batch_size=64), n=65, hooks=[spy])
    assert result.steps == 2 and [b.numel() for b in spy.batches] == [64, 64]
    assert all(b.unique().numel() == 64 for b in spy.batches)


def test_final_loss_is_the_mean_over_the_trained_batches(digits: ImageData) -> None:
    """With n % batch_size == 1 the one-sample last batch is skipped and must not count in the mean (it did: the
    reported loss was half the real one for a two-batch epoch)."""
    seen: list[float] = []

    def loss_fn(logits: torch.Tensor, sup: Supervision) -> torch.Tensor:
        loss = cross_entropy(logits, sup)
        seen.append(float(loss.detach()))
        return loss

    model = build_model("mlp", digits.input_shape, K, seed=0)
    result = fit(model, digits.x_train[:65], one_hot_supervision(digits.y_train[:65], K), loss_fn,
                 TrainConfig(epochs=1, batch_size=64), 0)
    assert len(seen) == 1
    assert result.final_loss == pytest.approx(seen[0], rel=1e-6)


# ---- failures and cancellation -----------------------------------------------------------------------------------
def test_a_non_finite_loss_fails_the_run_at_its_epoch(digits: ImageData) -> None:
    calls: list[int] = []
    per_epoch = math.ceil(128 / 64)

    def loss_fn(logits: torch.Tensor, sup: Supervision) -> torch.Tensor:
        calls.append(1)
        loss = cross_entropy(logits, sup)
        return loss * float("nan") if len(calls) > per_epoch else loss  # diverges in epoch 2

    reported: list[int] = []
    model = build_model("mlp", digits.input_shape, K, seed=0)
    with pytest.raises(RunFailed, match=r"diverged at epoch 2 \(loss nan\)"):
        fit(model, digits.x_train[:128], one_hot_supervision(digits.y_train[:128], K), loss_fn,
            TrainConfig(epochs=4, batch_size=64), 0, progress=lambda d, t, m: reported.append(d))
    assert reported == [1] and len(calls) == 2 * per_epoch  # stopped at the end of the failing epoch


def test_an_exception_from_progress_stops_the_training(digits: ImageData) -> None:
    """Cancellation is an exception raised from the progress callback: it stops ``fit`` after that epoch."""

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int, msg: str) -> None:
        raise Cancelled

    spy = Spy()
    with pytest.raises(Cancelled):
        _train(digits, cfg=TrainConfig(epochs=5, batch_size=64), n=256, hooks=[spy], progress=cancel)
    assert len(spy.after) == 256 // 64  # one epoch's steps, not five


# ---- optimiser, schedule, augmentation ---------------------------------------------------------------------------
def test_make_optimizer_follows_the_config() -> None:
    params = [nn.Parameter(torch.zeros(3))]
    sgd = make_optimizer(params, TrainConfig(optimizer="sgd", lr=0.1, momentum=0.5, weight_decay=0.01))
    assert isinstance(sgd, torch.optim.SGD)
    assert (sgd.defaults["lr"], sgd.defaults["momentum"], sgd.defaults["weight_decay"]) == (0.1, 0.5, 0.01)
    adam = make_optimizer(params, TrainConfig(optimizer="adam", lr=0.003, weight_decay=0.0))
    assert isinstance(adam, torch.optim.Adam) and (adam.defaults["lr"], adam.defaults["weight_decay"]) == (0.003, 0.0)


def test_schedule_and_optimizer_change_the_training(digits: ImageData) -> None:
    base, _ = _train(digits, n=256)
    flat, _ = _train(digits, cfg=TrainConfig(epochs=2, batch_size=64, schedule="none"), n=256)
    sgd, _ = _train(digits, cfg=TrainConfig(epochs=2, batch_size=64, optimizer="sgd", lr=0.05), n=256)
    assert not _same(base, flat) and not _same(base, sgd)


def test_augment_is_a_seeded_padded_crop_with_optional_flip() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, 5, 5, generator=gen) + 1.0  # strictly positive: zero padding is recognisable
    out = augment(x, torch.Generator().manual_seed(3))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, augment(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(out, augment(x, torch.Generator().manual_seed(4)))
    xp = nn.functional.pad(x, (4, 4, 4, 4))
    flips = 0
    for i in range(x.shape[0]):
        crops = {(oy, ox, f): xp[i, :, oy:oy + 5, ox:ox + 5].flip(-1) if f else xp[i, :, oy:oy + 5, ox:ox + 5]
                 for oy in range(9) for ox in range(9) for f in (False, True)}
        match = [k for k, c in crops.items() if torch.equal(c, out[i])]
        assert match, f"sample {i} is not a 4-padded crop of its input"
        flips += all(f for _, _, f in match)
    assert 0 < flips < x.shape[0]  # both flipped and unflipped samples


# ---- predict_logits ----------------------------------------------------------------------------------------------
def test_predict_logits_batches_like_one_forward_pass(digits: ImageData) -> None:
    model, _ = _train(digits, "cnn", TrainConfig(epochs=1), n=256)
    x = digits.x_test
    model.eval()
    with torch.no_grad():
        whole = model(x)
    model.train()
    out = predict_logits(model, x)  # 360 rows < the default batch of 2048: one forward
    assert torch.equal(out, whole) and out.dtype == torch.float32 and not out.requires_grad
    chunked = predict_logits(model, x, batch_size=7)
    assert chunked.shape == whole.shape
    torch.testing.assert_close(chunked, whole)  # same rows; only the kernels' blocking differs
    model.eval()
    with torch.no_grad():
        assert torch.equal(chunked[14:21], model(x[14:21]))  # each chunk is exactly its own forward pass
        assert torch.equal(chunked[357:], model(x[357:]))  # the short last chunk too


def test_predict_logits_runs_in_eval_mode_and_restores_the_mode() -> None:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))
    with torch.no_grad():
        model[1].running_mean.copy_(torch.rand(8, generator=gen))
    x = torch.randn(10, 4, generator=gen)
    model.eval()
    with torch.no_grad():
        ref = model(x)
    model.train()
    out = predict_logits(model, x, batch_size=3)
    assert model.training and torch.equal(model[1].num_batches_tracked, torch.tensor(0))  # stats untouched
    torch.testing.assert_close(out, ref)  # no dropout, running statistics
    model.eval()
    predict_logits(model, x)
    assert not model.training
