"""An ensemble of constituent models whose output is the log of the aggregated class probabilities.

Used for SISA (Bourtoule et al. 2021, Sec. IV "Aggregation"): the constituents are the shard models and the
ensemble is what the unlearning method returns and what the evaluation sees. Its forward returns
``log p(x)``, so every metric that reads logits (argmax, softmax, losses, entropies, attacks on output vectors)
sees exactly the aggregated distribution: ``softmax(log p) = p``.

* ``average``: ``p = sum_k w_k softmax(f_k(x)) / sum_k w_k`` (the official code's ``--output_type softmax``).
* ``vote``: ``p = sum_k w_k onehot(argmax f_k(x)) / sum_k w_k`` (``--output_type argmax``, the official
  default), floored at ``VOTE_FLOOR`` before the log so that outputs stay finite; ties go to the lowest class,
  as ``np.argmax`` does in the official ``aggregation.py``.

``weights`` (a buffer, saved with the state) is 1 per constituent, 0 for one left out (a shard with no
training sample left). It lives in ``engine/training`` rather than ``engine/models`` because the model zoo
holds registered architectures only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

AGGREGATIONS = ("average", "vote")
VOTE_FLOOR = 1e-6


class EnsembleModel(nn.Module):
    """``S`` member models combined by averaging their softmax or by a (weighted) majority vote."""

    def __init__(self, members: Sequence[nn.Module], aggregation: str = "average",
                 weights: torch.Tensor | None = None) -> None:
        super().__init__()
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.aggregation = aggregation
        w = torch.ones(len(members)) if weights is None else weights.detach().to(torch.float32).clone()
        if w.shape != (len(members),) or not bool((w >= 0).all()) or float(w.sum()) <= 0:
            raise ValueError("weights: one non-negative weight per member, not all zero")
        device = next(iter(members[0].parameters()), torch.zeros(())).device
        self.register_buffer("weights", w.to(device))

    def describe(self) -> dict[str, Any]:
        """What :func:`build_ensemble` needs to rebuild this module before loading its state (JSON)."""
        return {"members": len(self.members), "aggregation": self.aggregation}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([m(x) for m in self.members]).float()  # (S, B, K)
        w = (self.weights / self.weights.sum()).to(logits.device)
        if self.aggregation == "average":
            return torch.logsumexp(torch.log_softmax(logits, dim=-1) + torch.log(w)[:, None, None], dim=0)
        votes = nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)  # (S, B, K)
        share = (votes * w[:, None, None]).sum(0)
        return torch.log(share.clamp_min(VOTE_FLOOR))


def build_ensemble(describe: dict[str, Any], make_member: Callable[[], nn.Module]) -> EnsembleModel:
    """An ensemble shaped as ``describe`` (from :meth:`EnsembleModel.describe`) with members ``make_member()``."""
    n = int(describe["members"])
    return EnsembleModel([make_member() for _ in range(n)], str(describe["aggregation"]))
