"""The GPU fast path leaves the CPU path bit-for-bit unchanged (issue 6: "numbers on CPU are unchanged")."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import pytest
import torch

from engine.data import load_dataset
from engine.models import build_model
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.training import TrainConfig, fit, predict_logits
from engine.training.accel import amp_enabled, autocast, has_conv, prepare, use_channels_last

# Recorded with the plain float32 loop before the fast path existed (commit 588567c, torch 2.14.1, 1 thread).
GOLDEN = {
    "mlp": (0.17749317832615064, "ef6ba4552dff5752"),
    "cnn": (0.5204541164895763, "9649bb75046af930"),
}


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_cpu_training_numbers_are_unchanged(key: str, tmp_path: Path) -> None:
    data = load_dataset("digits", tmp_path, device="cpu")
    torch.manual_seed(0)
    model = build_model(key, data.input_shape, data.num_classes, seed=0)
    result = fit(model, data.x_train, one_hot_supervision(data.y_train, 10), cross_entropy, TrainConfig(epochs=2),
                 seed=0)
    logits = predict_logits(model, data.x_test)
    loss, digest = GOLDEN[key]
    assert result.final_loss == loss
    assert hashlib.sha256(logits.numpy().tobytes()).hexdigest()[:16] == digest


def test_cpu_helpers_are_no_ops() -> None:
    cpu = torch.device("cpu")
    model = build_model("cnn", (1, 8, 8), 10, seed=0)
    x = torch.randn(4, 1, 8, 8)
    forward, x2 = prepare(model, x)
    assert forward is model and x2 is x
    assert not amp_enabled(cpu) and not use_channels_last(model, cpu)
    assert isinstance(autocast(cpu), contextlib.nullcontext)
    assert has_conv(model) and not has_conv(build_model("mlp", (1, 8, 8), 10, seed=0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fast_path_trains_close_to_fp32(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On a GPU: bf16 autocast + channels_last reach the same accuracy as float32 (within noise)."""
    data = load_dataset("digits", tmp_path, device="cuda")
    accs = {}
    for amp in ("0", "1"):
        monkeypatch.setenv("UNLEARN_AMP", amp)
        torch.manual_seed(0)
        model = build_model("cnn", data.input_shape, data.num_classes, seed=0).cuda()
        fit(model, data.x_train, one_hot_supervision(data.y_train, 10), cross_entropy, TrainConfig(epochs=10), seed=0)
        accs[amp] = float((predict_logits(model, data.x_test).argmax(1) == data.y_test).float().mean())
    assert abs(accs["0"] - accs["1"]) < 0.03 and accs["1"] > 0.9
