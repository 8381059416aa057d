"""``engine.training.ensemble`` (SISA's aggregation, Bourtoule et al. 2021 Sec. IV): the output is the log of the
weighted mean of the members' probabilities or of their vote shares; describe() / build_ensemble round trip."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from engine.data import ImageData
from engine.models import build_model
from engine.training import predict_logits
from engine.training.ensemble import VOTE_FLOOR, EnsembleModel, build_ensemble

K = 5


def _members(n: int = 3) -> list[nn.Module]:
    return [build_model("mlp", (1, 2, 2), K, seed=s) for s in range(n)]


def _x(n: int = 32) -> torch.Tensor:
    return torch.randn(n, 1, 2, 2, generator=torch.Generator().manual_seed(0))


def _probs(members: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([torch.softmax(m(x).double(), -1) for m in members])  # (S, B, K), float64 reference


def test_average_is_the_log_of_the_weighted_mean_probability() -> None:
    members, x = _members(), _x()
    p = _probs(members, x)
    with torch.no_grad():
        plain = EnsembleModel(members, "average")(x)
        weighted = EnsembleModel(members, "average", torch.tensor([2.0, 1.0, 0.0]))(x)
    assert plain.dtype == torch.float32 and plain.shape == (32, K)
    torch.testing.assert_close(plain.double(), torch.log(p.mean(0)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weighted.double(), torch.log((2 * p[0] + p[1]) / 3), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.softmax(plain, -1).sum(-1), torch.ones(32))  # softmax(log p) = p


def test_a_single_member_average_is_its_log_softmax() -> None:
    (m,), x = _members(1), _x()
    with torch.no_grad():
        torch.testing.assert_close(EnsembleModel([m])(x), torch.log_softmax(m(x), -1))


def test_vote_is_the_log_of_the_weighted_vote_share_floored() -> None:
    members, x = _members(4), _x()
    votes = _probs(members, x).argmax(-1)  # (S, B)
    w = torch.tensor([1.0, 1.0, 2.0, 0.0])
    with torch.no_grad():
        out = EnsembleModel(members, "vote", w)(x)
    share = torch.zeros(32, K, dtype=torch.float64)
    for s in range(4):
        share[torch.arange(32), votes[s]] += float(w[s]) / float(w.sum())
    torch.testing.assert_close(out.double(), torch.log(share.clamp_min(VOTE_FLOOR)), rtol=1e-6, atol=1e-6)
    assert bool(torch.isfinite(out).all()) and float(out.min()) == pytest.approx(float(torch.log(
        torch.tensor(VOTE_FLOOR))))  # classes nobody voted for sit at the floor


class Constant(nn.Module):
    """A member whose logits are the same row for every input."""

    def __init__(self, row: list[float]) -> None:
        super().__init__()
        self.row = nn.Parameter(torch.tensor(row))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.row.expand(x.shape[0], -1)


def test_vote_ties_go_to_the_lowest_class() -> None:
    x = torch.zeros(2, 3)
    with torch.no_grad():
        tied_member = EnsembleModel([Constant([0.0, 1.0, 1.0])], "vote")(x)  # a member's tied argmax: class 1
        assert tied_member.argmax(-1).tolist() == [1, 1] and float(tied_member[0, 1]) == 0.0
        split = EnsembleModel([Constant([0.0, 0.0, 1.0]), Constant([0.0, 1.0, 0.0])], "vote")(x)  # 1 vote each
        torch.testing.assert_close(torch.exp(split[0]), torch.tensor([VOTE_FLOOR, 0.5, 0.5]))
        assert split.argmax(-1).tolist() == [1, 1]  # the ensemble's tie: the lower class


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"aggregation": "max"}, "aggregation must be one of"),
    ({"weights": torch.tensor([1.0, 1.0])}, "one non-negative weight per member"),
    ({"weights": torch.tensor([1.0, -1.0, 1.0])}, "one non-negative weight per member"),
    ({"weights": torch.zeros(3)}, "not all zero"),
])
def test_bad_arguments_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EnsembleModel(_members(), **kwargs)
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleModel([])


def test_weights_are_a_saved_buffer_copied_from_the_argument() -> None:
    w = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    ens = EnsembleModel(_members(), "average", w)
    w[1] = 5.0
    assert ens.weights.dtype == torch.float32 and ens.weights.tolist() == [1.0, 0.0, 1.0]
    assert "weights" in ens.state_dict() and "weights" not in dict(ens.named_parameters())


@pytest.mark.parametrize("aggregation", ["average", "vote"])
def test_describe_and_build_ensemble_round_trip(digits: ImageData, aggregation: str) -> None:
    members = [build_model("mlp", digits.input_shape, 10, seed=s) for s in range(3)]
    ens = EnsembleModel(members, aggregation, torch.tensor([1.0, 0.0, 1.0]))
    doc = json.loads(json.dumps(ens.describe()))  # stored as JSON in the job's meta
    assert doc == {"members": 3, "aggregation": aggregation}
    built: list[nn.Module] = []

    def make() -> nn.Module:
        built.append(build_model("mlp", digits.input_shape, 10, seed=99))
        return built[-1]

    rebuilt = build_ensemble(doc, make)
    assert len(built) == 3 and all(a is b for a, b in zip(rebuilt.members, built, strict=True))
    rebuilt.load_state_dict(ens.state_dict())
    assert rebuilt.weights.tolist() == [1.0, 0.0, 1.0]  # the left-out member stays out, through the state
    assert rebuilt.describe() == ens.describe()
    assert torch.equal(predict_logits(rebuilt, digits.x_test), predict_logits(ens, digits.x_test))
