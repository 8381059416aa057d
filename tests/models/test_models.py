"""Model zoo: every registered architecture x input shape builds, splits cleanly and is deterministic."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterator

import pytest
import torch
from torch import nn

import engine.models
from engine.models import MODELS, SplitModel, build_model

EXPECTED = {"mlp", "cnn", "allcnn", "smallvgg", "resnet18", "resnet50"}
SHAPES: list[tuple[int, int, int]] = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
K = 10


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Batch-2 forwards gain nothing from intra-op threads, and spin-waiting threads crawl on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    _seeded.cache_clear()  # release the cached models (about 0.4 GB with three ResNet-50s)


@functools.cache
def _seeded(key: str, shape: tuple[int, int, int]) -> tuple[SplitModel, dict[str, torch.Tensor]]:
    """Build (once per session) ``key`` for ``shape`` under ``torch.manual_seed(0)``, with its initial state."""
    torch.manual_seed(0)
    model = build_model(key, shape, K, seed=0)
    return model, {name: t.clone() for name, t in model.state_dict().items()}


def test_every_module_registers() -> None:
    """Each module in engine/models (bar base, init and __init__) registers at least one key; the zoo is complete."""
    names = [m.name for m in pkgutil.iter_modules(engine.models.__path__) if m.name not in ("base", "init")]
    for name in names:
        importlib.import_module(f"engine.models.{name}")
    assert set(MODELS.keys()) == EXPECTED
    owners = {info.builder.__module__ for _, info in MODELS.items()}
    assert owners == {f"engine.models.{name}" for name in names}
    for key, info in MODELS.items():
        assert info.key == key and info.title and info.source
    assert {k for k, info in MODELS.items() if info.large} == {"resnet18", "resnet50"}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_shapes_and_split(key: str, shape: tuple[int, int, int]) -> None:
    """Logits are (N, K), features are 2-D, and ``head(features(x)) == model(x)`` in eval mode."""
    model, _ = _seeded(key, shape)
    x = torch.randn(2, *shape)
    model.eval()
    with torch.no_grad():
        z = model.features(x)
        logits = model(x)
        assert z.ndim == 2 and z.shape[0] == 2
        assert logits.shape == (2, K)
        torch.testing.assert_close(model.head(z), logits, rtol=0, atol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_seeded_build_is_deterministic(key: str, shape: tuple[int, int, int]) -> None:
    """Building twice under ``torch.manual_seed(0)`` gives identical parameters and buffers."""
    _, a = _seeded(key, shape)
    torch.manual_seed(0)
    b = build_model(key, shape, K, seed=0).state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_dry_forward_leaves_buffers_untouched() -> None:
    """Building smallvgg leaves BatchNorm statistics alone (eval-mode dry forward) and the model in train mode."""
    model = build_model("smallvgg", (1, 8, 8), K, seed=0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            assert int(m.num_batches_tracked) == 0
            assert torch.all(m.running_mean == 0)
    assert model.training
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, K)  # train mode: Dropout and BatchNorm1d on a batch


def test_mlp_is_bias_free() -> None:
    """UDRU's MLP has no bias parameters and the 512-256-128 widths."""
    model = build_model("mlp", (1, 28, 28), K, seed=0)
    assert not [n for n, _ in model.named_parameters() if n.endswith("bias")]
    widths = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    assert widths == [512, 256, 128, K]


def test_cnn_learns_on_digits_shape() -> None:
    """A few SGD steps on random 1x8x8 data reduce the cross-entropy of ``cnn``."""
    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), K, seed=0)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, K, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        before = loss_fn(model(x), y).item()
    for _ in range(30):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        after = loss_fn(model(x), y).item()
    assert after < 0.9 * before  # 2.31 -> 1.81 with this seed


def test_build_model_isolated_from_the_global_rng() -> None:
    """``build_model(seed=s)`` is a function of ``s`` alone and leaves the global RNG untouched."""
    torch.manual_seed(1)
    expected = build_model("cnn", (1, 8, 8), K, seed=7).state_dict()
    torch.manual_seed(99)
    state = torch.random.get_rng_state()
    got = build_model("cnn", (1, 8, 8), K, seed=7).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_build_model_is_thread_safe() -> None:
    """Models built in threads that also draw from the global RNG equal the ones built alone."""
    import threading

    alone = {s: build_model("mlp", (1, 8, 8), K, seed=s).state_dict() for s in range(4)}
    out: dict[int, dict[str, torch.Tensor]] = {}
    stop = threading.Event()

    def noise() -> None:
        while not stop.is_set():
            torch.rand(100)  # a careless neighbour drawing from the global RNG

    def build(s: int) -> None:
        for _ in range(5):
            out[s] = build_model("mlp", (1, 8, 8), K, seed=s).state_dict()

    t_noise = threading.Thread(target=noise)
    t_noise.start()
    workers = [threading.Thread(target=build, args=(s,)) for s in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    t_noise.join()
    for s in range(4):
        assert all(torch.equal(alone[s][k], out[s][k]) for k in alone[s])


def test_seeded_dropout_masks_come_from_the_model_seed() -> None:
    """smallvgg's dropout masks depend on the build seed only, not on the global RNG."""
    x = torch.randn(8, 1, 8, 8)

    def forward(global_seed: int, seed: int) -> torch.Tensor:
        m = build_model("smallvgg", (1, 8, 8), K, seed=seed).train()
        torch.manual_seed(global_seed)
        return m.features(x)

    assert torch.equal(forward(1, 0), forward(2, 0))
    assert not torch.equal(forward(1, 0), forward(1, 1))
