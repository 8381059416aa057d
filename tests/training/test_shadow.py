"""``engine.training.shadow``: derived shadow seeds, which models train stacked, and the stacked (``torch.func``)
training against ``fit`` run once per model on a tiny problem."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from engine.errors import RunFailed
from engine.models import build_model
from engine.paradigms.base import Supervision, cross_entropy, one_hot_supervision
from engine.rng import SeededDropout
from engine.training import TrainConfig, fit
from engine.training import shadow as T

K = 3
SHAPE = (1, 4, 4)


def _data(n: int = 40) -> tuple[torch.Tensor, Supervision]:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, *SHAPE, generator=gen), torch.randint(0, K, (n,), generator=gen)
    return x, one_hot_supervision(y, K)


def test_shadow_seeds_are_deterministic_distinct_and_never_the_run_seed() -> None:
    for seed in range(40):
        seeds = T.shadow_seeds(seed, 24)
        assert seeds == T.shadow_seeds(seed, 24) and len(set(seeds)) == 24 and seed not in seeds
        assert all(0 <= s < 2**31 and isinstance(s, int) for s in seeds)
        assert T.shadow_seeds(seed, 5) == seeds[:5]  # more shadow models keep the first ones
    assert not set(T.shadow_seeds(0, 24)) & set(T.shadow_seeds(1, 24))
    assert T.shadow_seeds(3, 0) == []


def test_can_batch_only_without_batchnorm_or_dropout() -> None:
    assert T.can_batch(build_model("mlp", SHAPE, K, seed=0)) and T.can_batch(build_model("cnn", SHAPE, K, seed=0))
    assert T.can_batch(nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, K)))
    for layer in (nn.BatchNorm1d(8), nn.Dropout(0.1), SeededDropout(0.1)):
        assert not T.can_batch(nn.Sequential(nn.Flatten(), nn.Linear(16, 8), layer, nn.Linear(8, K))), layer
    assert not T.can_batch(build_model("allcnn", (3, 8, 8), K, seed=0))  # BatchNorm2d


def _close(a: nn.Module, b: nn.Module) -> None:
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize(("key", "cfg"), [
    ("mlp", TrainConfig(epochs=2, batch_size=8, lr=1e-3)),  # adam + cosine
    ("cnn", TrainConfig(epochs=2, batch_size=8, lr=0.05, optimizer="sgd", schedule="none", augment=True)),
])
def test_stacked_training_equals_fit_one_model_at_a_time(key: str, cfg: TrainConfig) -> None:
    x, sup = _data()
    seeds = T.shadow_seeds(0, 3)
    inits = [build_model(key, SHAPE, K, seed=s) for s in seeds]
    stacked = [copy.deepcopy(m) for m in inits]
    T.fit_stacked(stacked, x, sup, cross_entropy, cfg, seeds)
    for init, model, s in zip(inits, stacked, seeds, strict=True):
        single = copy.deepcopy(init)
        fit(single, x, sup, cross_entropy, cfg, s)
        _close(model, single)  # same training; only the floating-point reduction order differs
        assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), init.parameters(), strict=True))
    assert not torch.equal(stacked[0].head.weight if key == "mlp" else stacked[0].head[1].weight,
                           stacked[1].head.weight if key == "mlp" else stacked[1].head[1].weight)


def test_sequential_shadow_models_are_fit_from_their_own_seed() -> None:
    x, sup = _data()
    cfg = TrainConfig(epochs=1, batch_size=8)
    seeds = T.shadow_seeds(5, 2)
    models = T.train_shadow_models("mlp", SHAPE, K, x, sup, cross_entropy, cfg, seeds, batched=False)
    for model, s in zip(models, seeds, strict=True):
        ref = build_model("mlp", SHAPE, K, seed=s)  # initialised and shuffled from the shadow seed
        fit(ref, x, sup, cross_entropy, cfg, s)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref.state_dict().values(),
                                                      strict=True))
        assert not model.training


def test_progress_counts_model_epochs_across_stacked_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(T, "MAX_STACK", 2)
    x, sup = _data()
    cfg = TrainConfig(epochs=2, batch_size=8)
    calls: list[tuple[int, int, str]] = []
    seeds = T.shadow_seeds(1, 3)
    models = T.train_shadow_models("mlp", SHAPE, K, x, sup, cross_entropy, cfg, seeds,
                                   progress=lambda d, t, m: calls.append((d, t, m)))
    assert [(d, t) for d, t, _ in calls] == [(2, 6), (4, 6), (5, 6), (6, 6)]  # groups of 2 + 1, per epoch
    assert calls[0][2].startswith("models 1-2 of 3: epoch 1/2") and calls[-1][2].startswith("models 3-3 of 3")
    assert len(models) == 3 and not any(m.training for m in models)
    alone = T.train_shadow_models("mlp", SHAPE, K, x, sup, cross_entropy, cfg, seeds[2:])
    _close(models[2], alone[0])  # a model's training does not depend on its group


def test_batched_is_ignored_for_models_that_cannot_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[nn.Module] = []
    real = T.fit

    def spy(model: nn.Module, *args: object, **kwargs: object) -> object:
        calls.append(model)
        return real(model, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(T, "fit", spy)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 3, 8, 8, generator=gen), torch.arange(12) % K
    models = T.train_shadow_models("allcnn", (3, 8, 8), K, x, one_hot_supervision(y, K), cross_entropy,
                                   TrainConfig(epochs=1, batch_size=6), T.shadow_seeds(0, 2), batched=True)
    assert calls == models  # one sequential fit per model


def test_a_non_finite_stacked_loss_fails_the_run() -> None:
    x, sup = _data()
    models = [build_model("mlp", SHAPE, K, seed=s) for s in (1, 2)]

    def nan_loss(logits: torch.Tensor, s: Supervision) -> torch.Tensor:
        return cross_entropy(logits, s) * float("nan")

    with pytest.raises(RunFailed, match="shadow-model training diverged at epoch 1"):
        T.fit_stacked(models, x, sup, nan_loss, TrainConfig(epochs=2, batch_size=8), [1, 2])
