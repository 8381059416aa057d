"""``engine.training.recording``: the registered recorders, their feasibility checks, the layer covariances against
an independent computation, and per-step updates that replay to the trained weights."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from engine.data import ImageData
from engine.errors import RunFailed
from engine.models import build_model
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.training import TrainConfig, fit, sharded
from engine.training.recording import (
    MAX_CHECKPOINT_BYTES,
    MAX_UPDATE_BYTES,
    RECORDERS,
    CovarianceRecorder,
    Recorder,
    RecorderInfo,
    SisaRecorder,
    UpdateRecorder,
    layer_covariance_of,
    projectable_layers,
)

K = 10


# ---- registry ----------------------------------------------------------------------------------------------------
def test_registered_recorders_and_their_kinds() -> None:
    assert RECORDERS.keys() == ["layer_covariance", "batch_updates", "sisa_shards"]
    for key, info in RECORDERS.items():
        assert info.key == key and info.title
    cov, upd, sisa = (RECORDERS.get(k) for k in RECORDERS.keys())
    assert (cov.during_training, cov.separate, cov.indexed, cov.options) == (False, False, False, ())
    assert (upd.during_training, upd.separate, upd.indexed, upd.options) == (True, False, True, ())
    assert (sisa.during_training, sisa.separate, sisa.indexed, sisa.options) == (True, True, True, ("shards", "slices"))
    assert isinstance(cov.make(), CovarianceRecorder) and isinstance(upd.make(), UpdateRecorder)
    rec = sisa.make(shards=2, slices=3)
    assert isinstance(rec, SisaRecorder) and (rec.shards, rec.slices) == (2, 3)
    assert all(isinstance(info.make(), Recorder) for _, info in RECORDERS.items())


def test_only_separate_recorders_take_options() -> None:
    with pytest.raises(ValueError, match="only separate recorders take options"):
        RecorderInfo("x", "X", True, UpdateRecorder, lambda *a: None, options=("shards",))


@dataclass(frozen=True)
class MethodConfig:
    """A selecting method's config (as ``sisa``'s): the recorder's options and a field of its own."""

    shards: int = 3
    slices: int = 2
    aggregation: str = "vote"


def test_options_of_reads_the_selecting_methods_config() -> None:
    assert RECORDERS.get("sisa_shards").options_of(MethodConfig()) == {"shards": 3, "slices": 2}
    assert RECORDERS.get("batch_updates").options_of(MethodConfig()) == {}
    assert RECORDERS.get("layer_covariance").options_of(object()) == {}


# ---- feasibility -------------------------------------------------------------------------------------------------
def test_layer_covariance_is_always_feasible() -> None:
    assert RECORDERS.get("layer_covariance").feasible(10**7, 10**9, 10**9, {}) is None


def test_batch_updates_are_refused_above_the_storage_limit() -> None:
    feasible = RECORDERS.get("batch_updates").feasible
    n_params = 1024
    steps = MAX_UPDATE_BYTES // (4 * n_params)  # exactly the limit
    assert feasible(1000, n_params, steps, {}) is None
    reason = feasible(1000, n_params, steps + 1, {})
    assert reason is not None and f"{steps + 1} steps x {n_params} parameters" in reason
    assert "GiB" in reason and "limit is 2 GiB" in reason


def test_sisa_shards_are_refused_with_too_few_samples_or_too_much_storage() -> None:
    feasible = RECORDERS.get("sisa_shards").feasible
    assert feasible(6, 10, 0, {"shards": 2, "slices": 3}) is None  # one sample per slice is enough
    reason = feasible(5, 10, 0, {"shards": 2, "slices": 3})
    assert reason is not None and "need at least 6 training samples; there are 5" in reason
    reason = feasible(24, 10, 0, {})  # the defaults: 5 shards x 5 slices
    assert reason is not None and "5 shards x 5 slices" in reason
    n_params = MAX_CHECKPOINT_BYTES // (4 * (2 * 3 + 1))  # exactly the limit for 2 x 3 (+ the initial weights)
    assert sharded.checkpoint_bytes(n_params, 2, 3) <= MAX_CHECKPOINT_BYTES
    assert feasible(1000, n_params, 0, {"shards": 2, "slices": 3}) is None
    reason = feasible(1000, n_params + 1, 0, {"shards": 2, "slices": 3})
    assert reason is not None and "GiB" in reason and f"{n_params + 1} parameters each" in reason


# ---- layer_covariance --------------------------------------------------------------------------------------------
def _patch_cov(x: torch.Tensor, k: int, pad: int) -> torch.Tensor:
    """Reference ``sum`` of outer products of the ``k x k`` stride-1 patches of a one-channel image batch."""
    h, w = x.shape[-2:]
    xp = nn.functional.pad(x[:, 0].double(), (pad, pad, pad, pad))
    cols = torch.stack([xp[:, dy:dy + h + 2 * pad - k + 1, dx:dx + w + 2 * pad - k + 1].reshape(-1)
                        for dy in range(k) for dx in range(k)])  # (k*k, N*positions), row-major kernel offsets
    return cols @ cols.T


def test_layer_covariance_shapes_and_values(digits: ImageData) -> None:
    model = build_model("cnn", digits.input_shape, K, seed=0)
    x = digits.x_train[:200]
    state = CovarianceRecorder().finish(model, x)
    names = [n for n, _ in projectable_layers(model)]
    assert names == ["features.0", "features.3", "features.7", "head.0", "head.1"]  # definition order
    assert list(state) == [f"cov.{n}" for n in names]
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes == {"cov.features.0": (25, 25), "cov.features.3": (400, 400), "cov.features.7": (128, 128),
                      "cov.head.0": (256, 256), "cov.head.1": (128, 128)}
    for v in state.values():
        assert v.dtype == torch.float64 and v.device.type == "cpu"
        torch.testing.assert_close(v, v.T)
        assert float(torch.linalg.eigvalsh(v).min()) > -1e-6 * float(v.diagonal().max())  # PSD
    torch.testing.assert_close(state["cov.features.0"], _patch_cov(x, 5, 2))  # unfold = stride-1 patches
    features = model.features(x).double()  # the 256-d embedding is the head's first input
    torch.testing.assert_close(state["cov.head.0"], features.T @ features)


def test_layer_covariance_of_an_mlp_is_the_gram_matrix_of_its_inputs(digits: ImageData) -> None:
    model = build_model("mlp", digits.input_shape, K, seed=0)
    x = digits.x_train[:300]
    cov = layer_covariance_of(model, x)
    flat = x.flatten(1).double()
    torch.testing.assert_close(cov["features.1"], flat.T @ flat)
    assert set(cov) == {"features.1", "features.3", "features.5", "head"}


def test_layer_covariance_sums_over_samples_and_leaves_the_model_as_it_was(digits: ImageData) -> None:
    model = build_model("cnn", digits.input_shape, K, seed=0)
    x = digits.x_train[:150]
    model.train()
    whole = layer_covariance_of(model, x)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed
    parts = [layer_covariance_of(model, x[:100]), layer_covariance_of(model, x[100:])]
    small = layer_covariance_of(model, x, batch_size=7)
    for name, v in whole.items():  # float64 sums of float32 activations (whose kernels block by batch size)
        tol = {"rtol": 1e-5, "atol": 1e-6 * float(v.abs().max())}
        torch.testing.assert_close(parts[0][name] + parts[1][name], v, **tol)  # additive (PGU: the forget set's)
        torch.testing.assert_close(small[name], v, **tol)  # independent of the batch size
    model.eval()
    layer_covariance_of(model, x[:10])
    assert not model.training


# ---- batch_updates -----------------------------------------------------------------------------------------------
@pytest.fixture
def recorded(digits: ImageData) -> tuple[nn.Module, nn.Module, dict[str, torch.Tensor], int]:
    """An MLP trained on 100 digits (batch 32, 2 epochs), its initial copy and the recorded updates."""
    n = 100
    model = build_model("mlp", digits.input_shape, K, seed=0)
    init = copy.deepcopy(model)
    rec = UpdateRecorder()
    fit(model, digits.x_train[:n], one_hot_supervision(digits.y_train[:n], K), cross_entropy,
        TrainConfig(epochs=2, batch_size=32), 3, hooks=[rec])
    return init, model, rec.finish(model, digits.x_train[:n]), n


def test_batch_updates_hold_one_entry_per_optimiser_step(recorded) -> None:  # noqa: ANN001
    init, model, state, n = recorded
    n_params = sum(p.numel() for p in model.parameters())
    assert set(state) == {"updates", "batch_index", "batch_sizes"}
    assert state["updates"].shape == (8, n_params) and state["updates"].dtype == torch.float32  # 2 x ceil(100/32)
    assert state["batch_sizes"].tolist() == [32, 32, 32, 4] * 2 and state["batch_sizes"].dtype == torch.int64
    assert state["batch_index"].shape == (2 * n,)
    for epoch in state["batch_index"].split(n):
        assert torch.equal(epoch.sort().values, torch.arange(n))
    assert bool((state["updates"].abs().sum(1) > 0).all())


def test_replaying_the_updates_reconstructs_the_weights(recorded) -> None:  # noqa: ANN001
    init, model, state, _ = recorded
    flat = torch.cat([p.detach().flatten() for p in init.parameters()])
    for delta in state["updates"]:
        flat = flat + delta
    torch.testing.assert_close(flat, torch.cat([p.detach().flatten() for p in model.parameters()]),
                               rtol=0, atol=1e-6)


def test_recording_does_not_change_the_training(recorded, digits: ImageData) -> None:  # noqa: ANN001
    init, model, _, n = recorded
    plain = copy.deepcopy(init)
    fit(plain, digits.x_train[:n], one_hot_supervision(digits.y_train[:n], K), cross_entropy,
        TrainConfig(epochs=2, batch_size=32), 3)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), model.state_dict().values(),
                                                  strict=True))


# ---- sisa_shards -------------------------------------------------------------------------------------------------
def test_sisa_recorder_needs_begin() -> None:
    with pytest.raises(RunFailed, match="begin"):
        SisaRecorder(2, 2).finish(nn.Linear(2, 2), torch.zeros(4, 2))


def test_sisa_recorder_stores_the_initial_weights_and_every_checkpoint() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 1, 2, 2, generator=gen), torch.randint(0, 3, (24,), generator=gen)
    model = build_model("mlp", (1, 2, 2), 3, seed=0)
    init = copy.deepcopy(model)
    rec = SisaRecorder(2, 2)
    cfg = TrainConfig(epochs=3, batch_size=4)
    fit(model, x, one_hot_supervision(y, 3), cross_entropy, cfg, 5, hooks=[rec])
    state = rec.finish(model, x)
    names = list(init.state_dict())
    expected = {"shard", "slice", "epochs", "seed"} | {f"init.{k}" for k in names} | {
        f"ckpt.{s}.{r}.{k}" for s in range(2) for r in range(2) for k in names}
    assert set(state) == expected
    assert int(state["seed"]) == 5 and state["epochs"].tolist() == sharded.slice_epochs(3, 2)
    assert all(torch.equal(state[f"init.{k}"], v) for k, v in init.state_dict().items())
    assert not torch.equal(state["ckpt.0.1.head.weight"], state["ckpt.1.1.head.weight"])  # distinct shards
    assert all(v.device.type == "cpu" for v in state.values())
    assert rec.ctx is not None and rec.ctx.cfg == cfg and rec.ctx.seed == 5 and rec.ctx.x is x
