"""SISA (Bourtoule et al. 2021): only the shards holding forget samples are retrained, from the checkpoint before
their first such slice, and the result is exactly a from-scratch SISA training without the forget samples; the
ensemble's output is the log of the aggregated member probabilities."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from torch import nn

from engine.methods import METHODS, UnlearnContext, UnlearnData
from engine.methods.sisa import SisaConfig
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.training import TrainConfig, fit
from engine.training.ensemble import EnsembleModel
from engine.training.recording import RECORDERS, SisaRecorder
from engine.training.sharded import partition, prefix, slice_epochs, slice_seed, unpack

SISA = METHODS.get("sisa")
N, K, S, R = 90, 3, 3, 3
CFG = TrainConfig(epochs=4, batch_size=8, lr=0.1, optimizer="sgd", schedule="none")  # e_r = 2, 2, 2


def _setup() -> tuple[torch.Tensor, torch.Tensor, nn.Module, dict[str, torch.Tensor]]:
    """Tiny data, the initial model and the recorded SISA state (through ``fit``, as the original records it)."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(N, 1, 2, 2, generator=gen), torch.randint(0, K, (N,), generator=gen)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, K))
    init = copy.deepcopy(model)
    rec = SisaRecorder(S, R)
    fit(model, x, one_hot_supervision(y, K), cross_entropy, CFG, seed=3, hooks=[rec])
    return x, y, init, rec.finish(model, x)


@pytest.fixture(scope="module")
def recorded() -> tuple[torch.Tensor, torch.Tensor, nn.Module, dict[str, torch.Tensor]]:
    return _setup()


def _data(x: torch.Tensor, y: torch.Tensor, forget: torch.Tensor, state: dict, gone: torch.Tensor | None = None
          ) -> UnlearnData:
    """The view the runner builds: retain = training set minus every request so far, in ascending order."""
    keep = torch.ones(x.shape[0], dtype=torch.bool)
    keep[forget] = False
    if gone is not None:
        keep[gone] = False
    return UnlearnData(x_forget=x[forget], sup_forget=None, x_retain=x[keep],
                       sup_retain=one_hot_supervision(y[keep], K), num_classes=K, paradigm="supervised",
                       loss=cross_entropy, train_state={"sisa_shards": state}, forget_train_idx=forget)


def _ctx(request: int = 0) -> UnlearnContext:
    return UnlearnContext(seed=0, device=torch.device("cpu"), train_cfg=CFG, model_key="mlp", input_shape=(1, 2, 2),
                          request=request)


def _scratch(x: torch.Tensor, y: torch.Tensor, init: nn.Module, shard: torch.Tensor, slc: torch.Tensor, k: int,
             removed: torch.Tensor) -> nn.Module:
    """Shard ``k`` trained from scratch, slice by slice, on its data minus ``removed`` (the reference)."""
    net = copy.deepcopy(init)
    keep = torch.ones(x.shape[0], dtype=torch.bool)
    keep[removed] = False
    for r, e in enumerate(slice_epochs(CFG.epochs, R)):
        idx = torch.nonzero((shard == k) & (slc <= r) & keep).flatten()
        fit(net, x[idx], one_hot_supervision(y[idx], K), cross_entropy, replace(CFG, epochs=e), slice_seed(3, k, r))
    return net


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_partition_and_slice_schedule() -> None:
    shard, slc = partition(10, 3, 2, seed=1)
    assert torch.bincount(shard).tolist() == [4, 3, 3]  # contiguous chunks of a permutation, sizes differ by <= 1
    assert all(torch.bincount(slc[shard == k]).tolist() in ([2, 2], [2, 1]) for k in range(3))
    assert torch.equal(partition(10, 3, 2, seed=1)[0], shard)  # seeded
    assert slice_epochs(30, 5) == [10, 10, 10, 10, 10]  # 2e/(R+1) = 10 epochs per slice
    e = slice_epochs(20, 4)  # 2e/(R+1) = 8: floor(8 r) increments
    assert e == [8, 8, 8, 8] and sum(er * (r + 1) / 4 for r, er in enumerate(e)) == 20  # same sample visits as e
    assert slice_epochs(4, R) == [2, 2, 2] and slice_epochs(5, 3) == [2, 3, 2]  # floor(2.5 r) increments


def test_recorder_trains_every_shard_on_its_slices(recorded) -> None:  # noqa: ANN001
    x, y, init, state = recorded
    shard, slc = state["shard"], state["slice"]
    assert torch.equal(shard, partition(N, S, R, 3)[0]) and state["epochs"].tolist() == slice_epochs(CFG.epochs, R)
    assert _equal(unpack(state, prefix(0, -1)), init.state_dict())
    nothing = torch.zeros(0, dtype=torch.int64)
    for k in range(S):  # the final checkpoint is a from-scratch SISA training of the shard
        assert _equal(unpack(state, prefix(k, R - 1)), _scratch(x, y, init, shard, slc, k, nothing).state_dict())


def test_retrains_exactly_the_shards_holding_forget_samples(recorded) -> None:  # noqa: ANN001
    x, y, init, state = recorded
    shard, slc = state["shard"], state["slice"]
    forget = torch.nonzero(shard == 1).flatten()[:3]  # shard 1 only
    ctx = _ctx()
    out = SISA.unlearn(copy.deepcopy(init), _data(x, y, forget, state), SisaConfig(shards=S, slices=R), ctx)
    assert isinstance(out, EnsembleModel) and len(out.members) == S
    for k in (0, 2):  # untouched shards: bit-identical to the recorded final checkpoints
        assert _equal(out.members[k].state_dict(), unpack(state, prefix(k, R - 1)))
    assert not _equal(out.members[1].state_dict(), unpack(state, prefix(1, R - 1)))
    first = int(slc[forget].min())
    ckpts = ctx.carry["sisa.state"]["ckpts"]
    for r in range(first):  # the checkpoints before the first slice with a forget sample are kept
        assert _equal(ckpts[(1, r)], unpack(state, prefix(1, r)))


@pytest.mark.parametrize("where", [0, 1])
def test_affected_shard_equals_a_from_scratch_training_without_the_forget_samples(recorded, where) -> None:  # noqa: ANN001
    x, y, init, state = recorded
    shard, slc = state["shard"], state["slice"]
    forget = torch.nonzero((shard == 2) & (slc == where)).flatten()[:2]  # in the first (or second) slice of shard 2
    out = SISA.unlearn(copy.deepcopy(init), _data(x, y, forget, state), SisaConfig(shards=S, slices=R), _ctx())
    assert _equal(out.members[2].state_dict(), _scratch(x, y, init, shard, slc, 2, forget).state_dict())


def test_incremental_requests_continue_from_the_previous_checkpoints(recorded) -> None:  # noqa: ANN001
    x, y, init, state = recorded
    shard, slc = state["shard"], state["slice"]
    first = torch.nonzero((shard == 0) & (slc == 1)).flatten()[:2]
    second = torch.nonzero((shard == 0) & (slc == 2)).flatten()[:2]
    ctx, cfg = _ctx(), SisaConfig(shards=S, slices=R)
    model = SISA.unlearn(copy.deepcopy(init), _data(x, y, first, state), cfg, ctx)
    ctx.request = 1
    model = SISA.unlearn(model, _data(x, y, second, state, gone=first), cfg, ctx)
    both = torch.cat([first, second])
    assert _equal(model.members[0].state_dict(), _scratch(x, y, init, shard, slc, 0, both).state_dict())
    assert _equal(model.members[1].state_dict(), unpack(state, prefix(1, R - 1)))


def test_forgetting_nothing_gives_the_recorded_ensemble(recorded) -> None:  # noqa: ANN001
    """What the ``sisa_original`` row evaluates: the ensemble of the recorded final checkpoints."""
    x, y, init, state = recorded
    out = SISA.unlearn(copy.deepcopy(init), _data(x, y, torch.zeros(0, dtype=torch.int64), state),
                       SisaConfig(shards=S, slices=R), _ctx())
    for k in range(S):
        assert _equal(out.members[k].state_dict(), unpack(state, prefix(k, R - 1)))


def test_config_must_match_the_recorded_state(recorded) -> None:  # noqa: ANN001
    from engine.errors import RunFailed

    x, y, init, state = recorded
    with pytest.raises(RunFailed, match="3 shards x 3 slices"):
        SISA.unlearn(copy.deepcopy(init), _data(x, y, torch.tensor([0]), state), SisaConfig(shards=4, slices=R),
                     _ctx())


def test_ensemble_output_is_the_log_of_the_aggregated_probabilities() -> None:
    torch.manual_seed(0)
    members = [nn.Linear(4, 5) for _ in range(3)]
    x = torch.randn(7, 4)
    probs = torch.stack([torch.softmax(m(x), -1) for m in members])
    avg = EnsembleModel(members, "average")
    torch.testing.assert_close(avg(x), torch.log(probs.mean(0)))
    torch.testing.assert_close(torch.softmax(avg(x), -1), probs.mean(0))
    dropped = EnsembleModel(members, "average", torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(dropped(x), torch.log(probs[[0, 2]].mean(0)))
    vote = EnsembleModel(members, "vote")(x)
    share = torch.nn.functional.one_hot(probs.argmax(-1), 5).float().mean(0)
    torch.testing.assert_close(torch.exp(vote), share.clamp_min(1e-6))
    assert torch.isfinite(vote).all()
    assert torch.equal(vote.argmax(-1), share.argmax(-1))


def test_storage_limit_and_slice_count_are_refused_with_a_reason() -> None:
    feasible = RECORDERS.get("sisa_shards").feasible
    assert feasible(1000, 10_000, 0, {"shards": 5, "slices": 5}) is None
    reason = feasible(1000, 30_000_000, 0, {"shards": 5, "slices": 5})  # 26 x 30M x 4 B = 2.9 GiB
    assert reason is not None and "GiB" in reason and "limit" in reason
    reason = feasible(20, 100, 0, {"shards": 5, "slices": 5})
    assert reason is not None and "25" in reason


def test_not_applicable_without_labels() -> None:
    from engine.jobs.method_inputs import not_applicable_reason
    from engine.paradigms import PARADIGMS

    assert not_applicable_reason(SISA, PARADIGMS.get("label_free")) is not None
    assert not_applicable_reason(SISA, PARADIGMS.get("noisy_label")) is None
