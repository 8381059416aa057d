"""``engine.training.sharded`` (SISA, Bourtoule et al. 2021): the shard/slice partition covers every training index
exactly once, the epochs-per-slice schedule, checkpoint keys, and slice training that resumes bit for bit."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from torch import nn

from engine.models import build_model
from engine.paradigms.base import Supervision, cross_entropy, one_hot_supervision
from engine.training import TrainConfig, TrainingContext, fit
from engine.training.sharded import (
    checkpoint_bytes,
    pack,
    partition,
    prefix,
    slice_epochs,
    slice_seed,
    train_shards,
    train_slices,
    unpack,
)

K = 3
CFG = TrainConfig(epochs=4, batch_size=4, lr=0.05, optimizer="sgd", schedule="none")


@pytest.mark.parametrize(("n", "shards", "slices", "seed"), [
    (10, 3, 2, 1), (90, 3, 3, 0), (1437, 5, 5, 7), (7, 7, 1, 2), (25, 1, 5, 3), (6, 1, 1, 0), (100, 4, 10, 11)])
def test_partition_covers_every_index_exactly_once(n: int, shards: int, slices: int, seed: int) -> None:
    shard, slc = partition(n, shards, slices, seed)
    assert shard.shape == slc.shape == (n,) and shard.dtype == slc.dtype == torch.int64
    assert bool(((shard >= 0) & (shard < shards)).all()) and bool(((slc >= 0) & (slc < slices)).all())
    cells = [torch.nonzero((shard == k) & (slc == r)).flatten() for k in range(shards) for r in range(slices)]
    assert torch.equal(torch.cat(cells).sort().values, torch.arange(n))  # disjoint cells, all of the set
    sizes = torch.bincount(shard, minlength=shards)
    assert int(sizes.max() - sizes.min()) <= 1  # tensor_split: sizes differ by at most one
    for k in range(shards):
        per_slice = torch.bincount(slc[shard == k], minlength=slices)
        assert int(per_slice.max() - per_slice.min()) <= 1
    if n >= shards * slices:
        assert all(c.numel() > 0 for c in cells)
    again = partition(n, shards, slices, seed)
    assert torch.equal(again[0], shard) and torch.equal(again[1], slc)


def test_partition_depends_on_the_seed_and_not_on_the_global_rng() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        a = partition(200, 4, 3, seed=0)
        torch.manual_seed(1)
        b = partition(200, 4, 3, seed=0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = partition(200, 4, 3, seed=1)
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("epochs", [1, 2, 5, 10, 30, 41])
@pytest.mark.parametrize("slices", [1, 2, 3, 5, 9])
def test_slice_epochs_match_the_original_sample_visits(epochs: int, slices: int) -> None:
    e = slice_epochs(epochs, slices)
    assert len(e) == slices and all(er >= 0 for er in e)
    visits = sum(er * (r + 1) / slices for r, er in enumerate(e))  # passes over the shard
    if 2 * epochs % (slices + 1) == 0:
        assert visits == pytest.approx(epochs, abs=1e-12)
    else:
        assert abs(visits - epochs) < 1
    assert sum(e) == 2 * epochs * slices // (slices + 1)
    if slices == 1:
        assert e == [epochs]


def test_slice_seeds_are_distinct_and_checkpoint_storage() -> None:
    seeds = [slice_seed(s, k, r) for s in range(3) for k in range(20) for r in range(20)]
    assert len(set(seeds)) == len(seeds)
    assert slice_seed(2, 3, 4) == slice_seed(2, 3, 4)
    assert checkpoint_bytes(1000, 5, 5) == 26 * 1000 * 4


def test_prefix_pack_unpack_round_trip() -> None:
    assert prefix(0, -1) == "init." and prefix(2, 3) == "ckpt.2.3."
    net = nn.Linear(3, 2)
    state: dict[str, torch.Tensor] = {}
    for r in range(11):
        state.update(pack({k: v + r for k, v in net.state_dict().items()}, prefix(1, r)))
    state.update(pack(net.state_dict(), prefix(0, -1)))
    one = unpack(state, prefix(1, 1))
    assert set(one) == {"weight", "bias"}  # "ckpt.1.1." does not pick up "ckpt.1.10."
    assert torch.equal(one["weight"], net.weight.detach() + 1)
    init = unpack(state, prefix(0, -1))
    assert torch.equal(init["bias"], net.bias.detach())
    with torch.no_grad():
        net.bias.add_(1.0)
    assert not torch.equal(init["bias"], net.bias.detach())  # packed copies are detached clones


def _data() -> tuple[torch.Tensor, Supervision]:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 1, 2, 2, generator=gen), torch.randint(0, K, (40,), generator=gen)
    return x, one_hot_supervision(y, K)


def _slices(net: nn.Module, start: int, keep: torch.Tensor | None, epochs: list[int]
            ) -> tuple[list[int], dict[int, dict[str, torch.Tensor]]]:
    """Train shard 0 of a 2 x 3 partition of :func:`_data` from slice ``start``; the checkpoints by slice."""
    x, sup = _data()
    shard, slc = partition(40, 2, 3, seed=0)
    order: list[int] = []
    ckpts: dict[int, dict[str, torch.Tensor]] = {}

    def save(r: int, m: nn.Module) -> None:
        order.append(r)
        ckpts[r] = {k: v.detach().clone() for k, v in m.state_dict().items()}

    train_slices(net, 0, start, shard, slc, keep, epochs, lambda idx: (x[idx], sup.take(idx)), cross_entropy, CFG,
                 9, save)
    return order, ckpts


def test_train_slices_trains_growing_prefixes_with_the_slice_seeds() -> None:
    x, sup = _data()
    shard, slc = partition(40, 2, 3, seed=0)
    init = build_model("mlp", (1, 2, 2), K, seed=0)
    order, ckpts = _slices(copy.deepcopy(init), 0, None, [2, 2, 2])
    assert order == [0, 1, 2]
    ref = copy.deepcopy(init)  # the reference: fit on slices 0..r of shard 0, one after the other
    for r in range(3):
        idx = torch.nonzero((shard == 0) & (slc <= r)).flatten()
        fit(ref, x[idx], sup.take(idx), cross_entropy, replace(CFG, epochs=2), slice_seed(9, 0, r))
        assert all(torch.equal(ckpts[r][k], v) for k, v in ref.state_dict().items())


def test_resuming_from_a_checkpoint_reproduces_the_later_slices() -> None:
    init = build_model("mlp", (1, 2, 2), K, seed=0)
    _, full = _slices(copy.deepcopy(init), 0, None, [1, 2, 1])
    resumed = copy.deepcopy(init)
    resumed.load_state_dict(full[0])
    order, tail = _slices(resumed, 1, None, [1, 2, 1])
    assert order == [1, 2]
    for r in (1, 2):
        assert all(torch.equal(tail[r][k], full[r][k]) for k in full[r])


def test_a_slice_without_epochs_or_samples_keeps_the_weights() -> None:
    init = build_model("mlp", (1, 2, 2), K, seed=0)
    _, ckpts = _slices(copy.deepcopy(init), 0, None, [0, 2, 0])
    assert all(torch.equal(ckpts[0][k], v) for k, v in init.state_dict().items())  # no epochs in slice 0
    assert all(torch.equal(ckpts[2][k], ckpts[1][k]) for k in ckpts[1])  # nor in slice 2
    shard, _ = partition(40, 2, 3, seed=0)
    keep = shard != 0  # every sample of shard 0 forgotten
    keep[torch.nonzero(shard == 0).flatten()[0]] = True  # but one: still nothing to train on
    _, none = _slices(copy.deepcopy(init), 0, keep, [2, 2, 2])
    assert all(torch.equal(none[r][k], v) for r in range(3) for k, v in init.state_dict().items())


def test_train_shards_records_every_checkpoint_and_reports_overall_progress() -> None:
    x, sup = _data()
    init = build_model("mlp", (1, 2, 2), K, seed=0)
    before = copy.deepcopy(init.state_dict())
    calls: list[tuple[int, int]] = []
    ctx = TrainingContext(x, sup, cross_entropy, CFG, 4, lambda d, t, m: calls.append((d, t)))
    state = train_shards(init, ctx, 2, 3)
    assert calls == [(d, 6) for d in range(1, 7)]  # S*R slices in all
    assert all(torch.equal(v, before[k]) for k, v in init.state_dict().items())  # init is not trained in place
    assert torch.equal(state["shard"], partition(40, 2, 3, 4)[0]) and torch.equal(state["slice"],
                                                                                  partition(40, 2, 3, 4)[1])
    assert state["epochs"].tolist() == slice_epochs(CFG.epochs, 3) and int(state["seed"]) == 4
    for k in range(2):
        for r in range(3):
            assert set(unpack(state, prefix(k, r))) == set(before)
    assert not torch.equal(state["ckpt.0.2.head.weight"], state["ckpt.1.2.head.weight"])
    again = train_shards(init, TrainingContext(x, sup, cross_entropy, CFG, 4), 2, 3)
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)  # deterministic
