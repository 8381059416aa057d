"""The CUDA fast path, exercised on the CPU where it can be (issue 13 part 6), and on a GPU where it cannot.

``engine.training.accel`` switches itself on for CUDA only; its helpers take explicit flags, so these tests turn
each part on for the CPU and compare with the default float32 path:

* ``channels_last`` (oneDNN's NHWC convolutions) and ``torch.compile`` (inductor's C++ backend, Debian's gcc)
  compute the same float32 function in another order of floating-point operations: a reduction of ``K`` terms
  reordered moves a result by about ``sqrt(K) * 2**-24`` relative, compounded over a network's layers. They
  are compared with ``rtol=1e-4, atol=1e-5`` (a forward) and ``atol=1e-4`` after a few SGD steps: two orders
  of magnitude above what reordering gives (about 1e-6 here), far below what a real error (a wrong layout, a
  wrong gather, a missing layer) gives (order 1e-1). A ReLU network's *gradient* is less stable: ReLU's
  derivative is a step, so a reordered sum that moves one pre-activation across 0 switches that unit's whole
  backward path. ResNet-18's train-mode gradients on 4 images differ by up to 6e-3 (relative, all parameters
  together) between the two layouts, and float32 differs from float64 by up to 3e-4 the same way; the bound
  is 3e-2.
* bf16 autocast rounds inputs and weights to 8 significant bits (unit roundoff ``2**-9 ~ 2e-3``) and
  accumulates in float32: logits move by about 1e-2 relative, and training reaches the same accuracy. They
  are compared with a 5e-2 relative error on logits and loss, and accuracy within 0.03 (the CUDA test's bound).

Tests marked ``gpu`` need CUDA (``bash bench/gpu_check.sh`` runs them); ``slow`` ones compile with inductor.
"""

from __future__ import annotations

import copy
import functools
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import engine.training.loop as loop
from engine.data import ImageData, load_dataset
from engine.models import build_model
from engine.paradigms.base import Supervision, cross_entropy, one_hot_supervision
from engine.training import TrainConfig, fit, predict_logits
from engine.training.accel import (
    amp_enabled,
    autocast,
    compile_enabled,
    is_channels_last,
    prepare,
    to_device,
    use_channels_last,
)
from engine.training.loop import apply_augment, augment, augment_draws

K = 10
FP32_REORDER = {"rtol": 1e-4, "atol": 1e-5}  # same float32 function, another summation order (module docstring)
RELU_GRAD_REL = 3e-2  # a ReLU net's gradient under reordering, all parameters together (module docstring)
BF16_REL = 5e-2  # bf16 autocast vs float32, relative error of logits / loss (module docstring)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _images(n: int, shape: tuple[int, int, int] = (3, 16, 16), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random images (standard normal, like normalised data) and balanced random labels, from a generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randperm(n, generator=g) % K


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error ``|a - b| / |b|`` (Frobenius norms, in float32)."""
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).norm() / b.norm())


def _flat_grad(model: nn.Module) -> torch.Tensor:
    """Every parameter's gradient, concatenated (all parameters must have one)."""
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads), "a parameter got no gradient"
    return torch.cat([g.flatten() for g in grads if g is not None])


def _assert_close_states(a: nn.Module, b: nn.Module, **tol: float) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], msg=lambda m, k=k: f"{k}: {m}", **tol)  # type: ignore[misc]


class _Layouts:
    """A forward pre-hook recording whether each batch reached the model in ``channels_last``."""

    def __init__(self, model: nn.Module) -> None:
        self.seen: list[bool] = []
        model.register_forward_pre_hook(lambda _m, args: self.seen.append(is_channels_last(args[0])))


# ---- channels_last ------------------------------------------------------------------------------------------------
def test_channels_last_resnet18_forward_and_backward_match_contiguous() -> None:
    """A small ResNet-18 input (4 CIFAR-sized images) through ``prepare(channels_last=True)``: the model and
    the batch switch layout, the weights keep their values, and outputs and gradients match the plain path."""
    x, y = _images(4, (3, 32, 32))
    plain = build_model("resnet18", (3, 32, 32), K, seed=0)
    fast = copy.deepcopy(plain)
    forward, xc = prepare(fast, x, channels_last=True, compile=False)
    assert forward is fast and is_channels_last(xc) and torch.equal(xc, x)
    convs = [m for m in fast.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), fast.state_dict().values(),
                                                    strict=True))
    outs = []
    for model, inp in ((plain, x), (forward, xc)):
        out = model(inp)
        F.cross_entropy(out, y).backward()
        outs.append(out.detach())
    torch.testing.assert_close(outs[1], outs[0], **FP32_REORDER)
    assert _rel(_flat_grad(fast), _flat_grad(plain)) < RELU_GRAD_REL


def test_channels_last_is_a_no_op_without_a_convolution() -> None:
    mlp = build_model("mlp", (3, 8, 8), K, seed=0)
    x = torch.randn(2, 3, 8, 8)
    forward, x2 = prepare(mlp, x, channels_last=True)
    assert not use_channels_last(mlp, torch.device("cpu"), enable=True)
    assert forward is mlp and x2 is x


def test_apply_augment_in_channels_last_gives_the_same_values() -> None:
    """The channels_last gather writes the same pixels (bit for bit) in that layout; the draws come out in
    ``augment``'s order, so ``augment`` equals ``apply_augment`` of ``augment_draws`` from the same state."""
    x, _ = _images(6, (3, 8, 8))
    draws = augment_draws(6, torch.Generator().manual_seed(3))
    plain = apply_augment(x, *draws)
    fast = apply_augment(x.contiguous(memory_format=torch.channels_last), *draws, channels_last=True)
    assert torch.equal(fast, plain) and is_channels_last(fast) and plain.is_contiguous()
    assert torch.equal(augment(x, torch.Generator().manual_seed(3)), plain)
    assert not torch.equal(plain, x)  # the draws did crop or flip something


def test_fit_in_channels_last_on_cpu_matches_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fit`` with ``channels_last`` forced on (CPU): every batch, augmented ones included, reaches the model
    in that layout, and two SGD epochs end at the default path's weights up to float32 reordering."""
    x, y = _images(130)  # 64 + 64 + 2: the short last batch trains too
    cfg = TrainConfig(epochs=2, batch_size=64, optimizer="sgd", lr=0.05, augment=True)
    sup = one_hot_supervision(y, K)
    plain = build_model("cnn", (3, 16, 16), K, seed=0)
    fast = copy.deepcopy(plain)
    ref = fit(plain, x, sup, cross_entropy, cfg, seed=0)
    layouts = _Layouts(fast)
    monkeypatch.setattr(loop, "prepare", functools.partial(prepare, channels_last=True))
    got = fit(fast, x, sup, cross_entropy, cfg, seed=0)
    assert layouts.seen == [True] * 6 and got.steps == ref.steps == 6
    _assert_close_states(fast, plain, rtol=1e-4, atol=1e-4)
    assert got.final_loss == pytest.approx(ref.final_loss, rel=1e-4)


# ---- torch.compile (inductor on the CPU) --------------------------------------------------------------------------
@pytest.mark.slow
def test_compiled_fit_on_cpu_matches_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fit`` with ``torch.compile`` forced on (CPU: inductor generates and builds C++ with the system gcc):
    the forward really is compiled (dynamo captured one new graph, without a graph break), and the trained
    weights and loss match the eager ones."""
    from torch._dynamo.utils import counters  # dynamo's own tallies: the evidence that compilation took place

    torch._dynamo.reset()
    graphs, breaks = counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())
    x, y = _images(128)  # two full batches: one compiled graph (no recompilation for a short last batch)
    cfg = TrainConfig(epochs=2, batch_size=64, optimizer="sgd", lr=0.05, augment=True)
    sup = one_hot_supervision(y, K)
    plain = build_model("cnn", (3, 16, 16), K, seed=0)
    fast = copy.deepcopy(plain)
    ref = fit(plain, x, sup, cross_entropy, cfg, seed=0)
    compiled: list[nn.Module] = []

    def prepare_compiled(model: nn.Module, xs: torch.Tensor) -> tuple[object, torch.Tensor]:
        forward, xs = prepare(model, xs, compile=True)
        compiled.append(forward)  # type: ignore[arg-type]
        return forward, xs

    monkeypatch.setattr(loop, "prepare", prepare_compiled)
    try:
        got = fit(fast, x, sup, cross_entropy, cfg, seed=0)
    finally:
        torch._dynamo.reset()
    assert len(compiled) == 1 and isinstance(compiled[0], torch._dynamo.eval_frame.OptimizedModule)
    assert counters["stats"]["unique_graphs"] == graphs + 1 and sum(counters["graph_break"].values()) == breaks
    assert got.steps == ref.steps == 4
    _assert_close_states(fast, plain, rtol=1e-4, atol=1e-4)
    assert got.final_loss == pytest.approx(ref.final_loss, rel=1e-4)


# ---- bf16 autocast on the CPU -------------------------------------------------------------------------------------
def test_cpu_bf16_autocast_forward_is_close_to_float32() -> None:
    """``autocast(cpu, enable=True)`` really runs in bf16 (the logits come out bf16) and stays within bf16's
    error of the float32 forward and loss (ResNet-18 has BatchNorm, the CNN has none)."""
    cpu = torch.device("cpu")
    assert amp_enabled(cpu, enable=True) and not amp_enabled(cpu)
    for key, shape in (("cnn", (3, 16, 16)), ("resnet18", (3, 32, 32))):
        x, y = _images(8, shape)
        model = build_model(key, shape, K, seed=0)
        ref = model(x)
        with autocast(cpu, enable=True):
            low = model(x)
            low_loss = F.cross_entropy(low, y)
        assert low.dtype == torch.bfloat16 and ref.dtype == torch.float32
        assert 0 < _rel(low, ref) < BF16_REL, key
        assert float(low_loss.detach()) == pytest.approx(float(F.cross_entropy(ref, y).detach()), rel=BF16_REL), key


def test_fit_with_cpu_bf16_autocast_learns_digits_like_float32(digits: ImageData,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``fit`` with bf16 autocast forced on (CPU) trains the CNN on digits to the float32 accuracy (within
    0.03) and a close final loss; its numbers do differ from float32 (the switch really took effect)."""
    cfg = TrainConfig(epochs=8)
    sup = one_hot_supervision(digits.y_train, K)
    results = {}
    for amp in (False, True):
        if amp:
            monkeypatch.setattr(loop, "autocast", functools.partial(autocast, enable=True))
        model = build_model("cnn", digits.input_shape, K, seed=0)
        res = fit(model, digits.x_train, sup, cross_entropy, cfg, seed=0)
        acc = float((predict_logits(model, digits.x_test).argmax(1) == digits.y_test).float().mean())
        results[amp] = (res.final_loss, acc)
    (loss32, acc32), (loss16, acc16) = results[False], results[True]
    assert loss16 != loss32
    assert abs(acc16 - acc32) < 0.03 and acc16 > 0.9
    assert loss16 == pytest.approx(loss32, rel=0.25)  # seen: 0.0223 vs 0.0221 after 8 epochs


def test_to_device_and_compile_defaults_on_cpu() -> None:
    cpu = torch.device("cpu")
    t = torch.arange(5)
    assert to_device(t, cpu) is t
    assert not compile_enabled(cpu) and compile_enabled(cpu, enable=True)


# ---- CUDA only ----------------------------------------------------------------------------------------------------
@pytest.mark.gpu
@needs_cuda
def test_cuda_defaults_switch_the_fast_path_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a bf16-capable GPU the defaults turn autocast and channels_last on, compile only on request."""
    cuda = torch.device("cuda")
    model = build_model("cnn", (3, 16, 16), K, seed=0).to(cuda)
    x = torch.randn(4, 3, 16, 16, device=cuda)
    monkeypatch.delenv("UNLEARN_AMP", raising=False)
    monkeypatch.delenv("UNLEARN_COMPILE", raising=False)
    assert use_channels_last(model, cuda) and not compile_enabled(cuda)
    if torch.cuda.get_device_capability()[0] >= 8:
        assert amp_enabled(cuda)
    monkeypatch.setenv("UNLEARN_AMP", "0")
    monkeypatch.setenv("UNLEARN_COMPILE", "1")
    assert not amp_enabled(cuda) and compile_enabled(cuda)
    monkeypatch.setenv("UNLEARN_COMPILE", "0")
    forward, x2 = prepare(model, x)
    assert forward is model and is_channels_last(x2)
    moved = to_device(torch.arange(3), cuda)
    assert moved.is_cuda and moved.tolist() == [0, 1, 2]


@pytest.mark.gpu
@needs_cuda
def test_cuda_augment_equals_the_cpu_one() -> None:
    """The draws come from the host generator, so augmentation on the GPU is the CPU's, pixel for pixel."""
    x, _ = _images(16, (3, 32, 32))
    cpu = augment(x, torch.Generator().manual_seed(5))
    gpu = augment(x.cuda(), torch.Generator().manual_seed(5))
    assert torch.equal(gpu.cpu(), cpu)


@pytest.mark.gpu
@needs_cuda
def test_cuda_batch_loop_has_no_host_sync(digits: ImageData) -> None:
    """``fit``'s host syncs do not grow with the number of batches (CUDA's sync debug mode counts them): with a
    sync-free loss, 4 and 32 batches per epoch cause the same syncs (about one per epoch, for the loss).

    (The paradigms' own losses, e.g. ``cross_entropy``'s ``bool(mask.all())``, sync once per batch: not
    ``fit``'s.)"""
    cuda = torch.device("cuda")
    x, y = digits.x_train.to(cuda), digits.y_train.to(cuda)

    def plain_ce(logits: torch.Tensor, sup: Supervision) -> torch.Tensor:
        return F.cross_entropy(logits, sup.labels)

    def syncs(n: int) -> int:
        model = build_model("cnn", digits.input_shape, K, seed=0).to(cuda)
        sup = one_hot_supervision(y[:n], K)
        cfg = TrainConfig(epochs=2, batch_size=32, augment=True)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit(model, x[:n], sup, plain_ce, cfg, seed=0)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message) for w in caught)

    few, many = syncs(128), syncs(1024)
    assert few == many
    assert 2 <= few <= 2 * 2 + 2  # at least the two epochs' loss reads: the counting works


@pytest.mark.gpu
@needs_cuda
def test_cuda_fast_path_trains_close_to_fp32(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """bf16 autocast + channels_last (the defaults) and compile on top reach the float32 accuracy on digits."""
    data = load_dataset("digits", tmp_path, device="cuda")
    accs = {}
    for name, env in (("fp32", {"UNLEARN_AMP": "0"}), ("amp", {"UNLEARN_AMP": "1"}),
                      ("amp+compile", {"UNLEARN_AMP": "1", "UNLEARN_COMPILE": "1"})):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        model = build_model("cnn", data.input_shape, data.num_classes, seed=0).cuda()
        try:
            fit(model, data.x_train, one_hot_supervision(data.y_train, K), cross_entropy, TrainConfig(epochs=10),
                seed=0)
        finally:
            torch._dynamo.reset()
        accs[name] = float((predict_logits(model, data.x_test).argmax(1) == data.y_test).float().mean())
        monkeypatch.delenv("UNLEARN_COMPILE", raising=False)
    assert all(abs(a - accs["fp32"]) < 0.03 and a > 0.9 for a in accs.values()), accs
