"""``sisa`` (SISA training): exact unlearning by retraining only the shard models that saw a forget sample.

Paper: Bourtoule, Chandrasekaran, Choquette-Choo, Jia, Travers, Zhang, Lie & Papernot, "Machine Unlearning",
IEEE S&P 2021 (arXiv 1912.03817), Sec. IV; an exact-unlearning baseline of LAF (seed 001). Official code:
cleverhans-lab/machine-unlearning (``sisa.py``, ``sharded.py``, ``aggregation.py``, ``distribution.py``), read for
the slice schedule, the checkpoint/resume rule and the aggregation. Defaults: ``S = 5`` shards (the smallest
setting of the official example scripts), ``R = 5`` slices (ours; the official scripts run ``R = 1``), softmax
averaging (the official ``--output_type softmax``; its default is the argmax vote, offered as ``vote``).
Needs: the ``sisa_shards`` training-time state (S x R checkpoints trained at original time), the forget set's
training indices, and retain inputs + labels to retrain the affected shards (so not under ``label_free``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.errors import RunFailed
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.paradigms.base import Supervision
from engine.training import sharded
from engine.training.ensemble import AGGREGATIONS, EnsembleModel

_CARRY = "sisa.state"  # ctx.carry: the current checkpoints and the samples removed so far (incremental requests)


@dataclass(frozen=True)
class SisaConfig:
    """Hyper-parameters of SISA (``shards`` and ``slices`` shape the training at original time)."""

    shards: int = param(sharded.DEFAULT_SHARDS, "S: disjoint shards of the training set, one constituent model "
                                                "each", range=(1, 100),
                        source="official example scripts: 5, 10, 20 shards (smallest taken)", cost="linear")
    slices: int = param(sharded.DEFAULT_SLICES, "R: slices per shard, trained incrementally with a checkpoint "
                                                "after each", range=(1, 50),
                        source="ours (the paper sweeps R; the official example scripts use 1)", cost="linear")
    aggregation: str = param("average", "how the constituents' outputs are combined: mean of their softmax, or "
                                         "majority vote of their argmax", choices=AGGREGATIONS,
                             source="official sisa.py --output_type softmax | argmax (default argmax)")


@dataclass(frozen=True)
class _Book:
    """The recorded state, parsed: partition, slice schedule, seed, initial weights and checkpoints."""

    shard: torch.Tensor  # (n,) shard id per training sample
    slc: torch.Tensor  # (n,) slice id per training sample
    epochs: list[int]
    seed: int
    init: dict[str, torch.Tensor]
    ckpts: dict[tuple[int, int], dict[str, torch.Tensor]]  # (shard, slice) -> theta_{k,r}

    @staticmethod
    def parse(state: dict[str, torch.Tensor], cfg: SisaConfig) -> _Book:
        ckpts: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
        init: dict[str, torch.Tensor] = {}
        for key, v in state.items():
            if key.startswith("ckpt."):
                _, k, r, name = key.split(".", 3)
                ckpts.setdefault((int(k), int(r)), {})[name] = v
            elif key.startswith("init."):
                init[key[len("init."):]] = v
        grid = {(k, r) for k in range(cfg.shards) for r in range(cfg.slices)}
        if set(ckpts) != grid:
            s = 1 + max((k for k, _ in ckpts), default=-1)
            r = 1 + max((r for _, r in ckpts), default=-1)
            raise RunFailed(f"sisa: the recorded state has {s} shards x {r} slices, the config asks for "
                            f"{cfg.shards} x {cfg.slices}")
        return _Book(state["shard"].cpu(), state["slice"].cpu(), [int(e) for e in state["epochs"]],
                     int(state["seed"]), init, ckpts)


def _member(template: nn.Module, weights: dict[str, torch.Tensor]) -> nn.Module:
    net = copy.deepcopy(template)
    net.load_state_dict(weights)
    return net


def unlearn(model: nn.Module, data: UnlearnData, cfg: SisaConfig, ctx: UnlearnContext) -> nn.Module:
    """Retrain every shard holding a forget sample from the checkpoint before its first such slice; ensemble."""
    x_retain, sup_retain = data.retain()
    if data.forget_train_idx is None:
        raise RunFailed("sisa: needs the forget set's training indices (its recorder sisa_shards is indexed)")
    book = _Book.parse(data.train_state["sisa_shards"], cfg)
    n = book.shard.numel()
    prev = ctx.carry.get(_CARRY) if ctx.request > 0 else None
    if ctx.request > 0 and prev is None:
        raise RunFailed("sisa: an incremental request needs the checkpoints left by the previous one")
    ckpts = dict(prev["ckpts"]) if prev else dict(book.ckpts)
    removed = prev["removed"].clone() if prev else torch.zeros(n, dtype=torch.bool)
    forget = data.forget_train_idx.cpu()
    forget = forget[~removed[forget]]  # already forgotten by an earlier request: nothing to retrain for it
    removed[forget] = True
    keep = ~removed
    if int(keep.sum()) != x_retain.shape[0]:
        raise RunFailed("sisa: the retain set does not match the training set minus the forgotten samples")
    row = torch.cumsum(keep.to(torch.int64), 0) - 1  # training index -> row of x_retain (ascending index order)
    device = x_retain.device

    def slice_data(idx: torch.Tensor) -> tuple[torch.Tensor, Supervision]:
        rows = row[idx].to(device)
        return x_retain[rows], sup_retain.take(rows)

    template = model.members[0] if isinstance(model, EnsembleModel) else model
    hit_shards, hit_slices = book.shard[forget], book.slc[forget]
    starts = {k: int(hit_slices[hit_shards == k].min()) for k in hit_shards.unique().tolist()}
    total = sum(cfg.slices - s for s in starts.values())
    done = 0
    for k, start in sorted(starts.items()):
        net = _member(template, ckpts[(k, start - 1)] if start > 0 else book.init)

        def save(r: int, m: nn.Module, k: int = k) -> None:
            nonlocal done
            ckpts[(k, r)] = {name: v.detach().clone() for name, v in m.state_dict().items()}
            done += 1
            ctx.progress(done, total, f"sisa: shard {k + 1}, slice {r + 1}/{cfg.slices} retrained")

        sharded.train_slices(net, k, start, book.shard, book.slc, keep, book.epochs, slice_data, data.loss,
                             ctx.train_cfg, book.seed, save)
    ctx.carry[_CARRY] = {"ckpts": ckpts, "removed": removed}
    members = [_member(template, ckpts[(k, cfg.slices - 1)]) for k in range(cfg.shards)]
    alive = (torch.bincount(book.shard[keep], minlength=cfg.shards) > 0).to(torch.float32)
    return EnsembleModel(members, cfg.aggregation, alive)


DOC = r"""
**What it does.** SISA changes how the model is *trained* so that forgetting is exact and cheap
(Bourtoule et al. 2021, Sec. IV). At original time (training-time state `sisa_shards`):

1. **Sharded, isolated**: a seeded random permutation of the training set is cut into $S$ disjoint shards
   $D_1..D_S$; constituent model $k$ is trained on $D_k$ only.
2. **Sliced**: $D_k$ is cut into $R$ slices $D_{k,1..R}$. Step $r$ trains on $D_{k,1}\cup\dots\cup D_{k,r}$ for
   $e_r$ epochs and saves the checkpoint $\theta_{k,r}$, with
   $e_r=\lfloor r\,\bar e\rfloor-\lfloor (r-1)\,\bar e\rfloor$, $\bar e=2e/(R+1)$ (official `sisa.py`), so that
   the number of sample visits, $\sum_r e_r\,r/R\approx e$ shard passes, equals training the shard for the
   original's $e$ epochs at once.
3. **Aggregated**: the prediction combines the $S$ constituents, `average`
   $p(x)=\frac1S\sum_k \mathrm{softmax}(f_{\theta_k}(x))$ or `vote`
   $p(x)=\frac1S\sum_k \mathrm{onehot}(\arg\max f_{\theta_k}(x))$; the model returns $\log p(x)$, so every metric
   sees $p$.

**Unlearning** $D_f$: for every shard $k$ with $D_f\cap D_k\neq\emptyset$, let $r^*$ be the first slice that holds
a forget sample; restart from $\theta_{k,r^*-1}$ (the initial weights if $r^*=1$) and retrain slices
$r^*..R$ on $D_{k,1..r}\setminus D_f$ with the same epochs and seeds. Shards without forget samples keep their
weights. The result is exactly the SISA model that training without $D_f$ would have produced (same partition,
same seeds), so SISA is an exact method; its cost is the retrained slices only. Incremental requests continue
from the checkpoints the previous request left (as the official code's index-hash cache does).

**The original row.** SISA's model before unlearning is not the engine's `original` but the SISA ensemble of
the recorded final checkpoints $\theta_{k,R}$; comparisons with `sisa` add the row
**Original (SISA ensemble)** (`sisa_original`) that evaluates it, next to the usual `original`.

**Hyper-parameters.**
- `shards` $S=5$, range [1, 100] — the official example scripts run 5, 10 and 20 shards.
- `slices` $R=5$, range [1, 50] — ours (the paper studies the effect of $R$; the scripts use 1). More slices
  make a retrain start later on average, at the cost of $S\cdot R$ stored checkpoints.
- `aggregation` `average` — official `--output_type softmax`; `vote` (the official default, `argmax`) gives
  coarse probabilities (shares of votes, floored at $10^{-6}$ before the log to stay finite).
Training of each slice uses the comparison's training config (optimiser, lr, batch size, schedule,
augmentation), the paradigm's loss and the observed supervision, exactly as the original is trained.

**Needs.** Training-time state `sisa_shards` (trained when this method is selected; storage
$(S\cdot R+1)\times$ parameters $\times 4$ bytes, refused above 2 GiB, and $S\cdot R$ may not exceed the training
set), the forget set's training indices, and retain inputs + labels to retrain (hence not applicable under
`label_free`).

**Differences from the paper / official code.**
- Every shard starts from the same initial weights, those the engine's original starts from (the official code
  initialises each shard's model in its own process). Keeps the recorded state independent of the model zoo;
  the constituents still differ by data and batch order.
- Each slice is trained by the engine's training loop with a fresh optimiser and a per-(shard, slice) seed (batch
  order reshuffled every epoch); the official code trains in stored order with one optimiser per process and,
  when resuming, a fresh one (its SGD default has no state). With a fresh optimiser per slice, the learning-rate
  schedule (cosine by default) restarts every slice.
- Shards are contiguous chunks of a seeded permutation and slices of equal size ($\pm1$); the official uniform
  split cuts the stored order, the last slice taking the remainder.
- A slice step with no epochs ($e_r=0$ when $2e<R+1$) or fewer than two remaining samples keeps the previous
  weights; a shard left with no sample at all is dropped from the aggregation.
- The paper's distribution-aware sharding (PLS-GAP for a known request distribution) is not implemented.
"""

METHODS.register(Method(
    key="sisa", order=280, title="SISA", family="baseline",
    paper="Bourtoule et al. 2021, Machine Unlearning (IEEE S&P); baseline in LAF",
    config=SisaConfig,
    needs=Needs(retain_data=True, retain_labels=True, train_time_state=("sisa_shards",)),
    unlearn=unlearn, doc=DOC, own_original=("sisa_original", "Original (SISA ensemble)"),
))
