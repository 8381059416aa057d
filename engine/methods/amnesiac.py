"""``amnesiac`` (Amnesiac ML): undo every recorded training step whose batch held a forget sample.

Paper: Graves, Nagisetty & Ganesh, "Amnesiac Machine Learning", AAAI 2021 (Sec. "Amnesiac Unlearning"); a
baseline of UDRU (seed 000), whose official ``algorithms/amnesiac.py`` stores ``lr * grad`` per sample at batch
size 1 and adds them back. Defaults: no per-dataset values exist (UDRU: batch 1, SGD lr 1e-4, MNIST only); the
optional repair fine-tune ("a few batches of retraining on the remaining data", Graves et al.) is on by default
for 5 epochs because on digits almost every batch of 64 holds a forget sample. Needs: the per-step parameter
updates recorded while training the original (``batch_updates``), and retain inputs + labels for the repair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from engine.config import param
from engine.errors import RunFailed
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import sgd_descent

_CARRY = "amnesiac.undone.{}"  # ctx.carry key per request: every step undone up to and including that request


@dataclass(frozen=True)
class AmnesiacConfig:
    """Hyper-parameters of amnesiac unlearning."""

    finetune_epochs: int = param(5, "passes of SGD over the retain set after the updates are removed (0 = pure "
                                    "amnesiac unlearning, as run by UDRU)", range=(0, 100),
                                 source="Graves et al.: a brief retraining on the remaining data; UDRU: none",
                                 cost="linear")
    lr: float = param(0.05, "SGD learning rate of the repair fine-tune (momentum 0.9, wd 5e-4)",
                      range=(1e-7, 1.0), log=True, source="ours (the paper gives none)")
    batch_size: int = param(64, "mini-batch size of the repair fine-tune", range=(1, 4096), cost="inverse")


def steps_to_undo(batch_index: torch.Tensor, batch_sizes: torch.Tensor, forget_train_idx: torch.Tensor) -> torch.Tensor:
    """Indices of the training steps whose batch contained at least one of ``forget_train_idx`` (sorted)."""
    steps = torch.repeat_interleave(torch.arange(batch_sizes.numel()), batch_sizes.cpu())
    hit = torch.isin(batch_index.cpu(), forget_train_idx.cpu())
    return torch.unique(steps[hit])


def undo_updates(model: nn.Module, updates: torch.Tensor, steps: torch.Tensor) -> None:
    """``theta <- theta - sum_{s in steps} delta_s`` in place (parameter order = ``model.parameters()``)."""
    theta = parameters_to_vector(model.parameters()).detach()
    if updates.shape[1] != theta.numel():
        raise RunFailed(f"amnesiac: recorded updates have {updates.shape[1]} parameters, the model {theta.numel()}")
    total = updates[steps].to(torch.float64).sum(0) if steps.numel() else torch.zeros(updates.shape[1])
    with torch.no_grad():
        vector_to_parameters((theta.double() - total.to(theta.device)).to(theta.dtype), model.parameters())


def unlearn(model: nn.Module, data: UnlearnData, cfg: AmnesiacConfig, ctx: UnlearnContext) -> nn.Module:
    """Subtract the updates of every step that saw a forget sample, then optionally fine-tune on retain."""
    if data.forget_train_idx is None:
        raise RunFailed("amnesiac: the forget set's training indices were not provided")
    rec = data.train_state["batch_updates"]
    steps = steps_to_undo(rec["batch_index"], rec["batch_sizes"], data.forget_train_idx)
    done = ctx.carry.get(_CARRY.format(ctx.request - 1)) if ctx.request > 0 else None
    if done is not None:  # incremental requests: a step already undone is not undone twice
        steps = steps[~torch.isin(steps, done)]
    undo_updates(model, rec["updates"], steps)
    ctx.carry[_CARRY.format(ctx.request)] = steps if done is None else torch.cat([done, steps])
    if cfg.finetune_epochs > 0:
        x_r, sup_r = data.retain()
        sgd_descent(model, x_r, sup_r, data.loss, cfg.finetune_epochs, cfg.lr, cfg.batch_size, ctx.generator(),
                    ctx.device, ctx.progress, "amnesiac")
    return model


DOC = r"""
**What it does.** While the original model is trained, every optimiser step's parameter change
$\Delta\theta_s=\theta_{s+1}-\theta_s$ and the training indices of its batch $B_s$ are recorded
(`batch_updates`). To forget $D_f$, Amnesiac ML removes every update that a forget sample contributed to
(Graves et al. 2021, Sec. 4.2): $\theta_u=\theta-\sum_{s:\,B_s\cap D_f\neq\emptyset}\Delta\theta_s$.
Because every later step was computed from weights that already contained the removed updates, this is not
exact: when the forget set is spread over many batches (a whole class at batch size 64 touches nearly every
step) the model falls back towards its initialisation — UDRU reports remaining accuracy collapsing to ~0 % on
MNIST. Graves et al. therefore follow it with a short retraining on the remaining data; `finetune_epochs`
controls that repair (0 gives the pure method).

**Hyper-parameters** (no paper table exists):
- `finetune_epochs` 5, range [0, 100] — Graves et al.: "a few" batches of retraining; UDRU: none.
- `lr` 0.05 SGD (momentum 0.9, wd 5e-4) and `batch_size` 64 for the repair (ours).
  On digits, class 3 at batch 64 is in ~100 % of the training steps, so removing them leaves ~12 % accuracy
  (`finetune_epochs` 0, UDRU's setting); 2 repair epochs at lr 0.01 reach ~60 % retain accuracy, 5 at 0.05
  ~99 % — at that point the repair is a short retraining from a near-initial model, which is what this method
  amounts to whenever the forget set is spread over every batch.

**Needs.** Training-time state `batch_updates` (recorded only when this method is selected; storage is
steps × parameters × 4 bytes and is refused above 2 GiB, which rules out large models — UDRU likewise could
not run it beyond its MNIST MLP), the forget set's training indices (to find the steps), and retain inputs
+ labels for the repair fine-tune.

**Differences from the paper / official code.**
- Graves et al. and UDRU's code record at the granularity of the training batch / a single sample (UDRU trains
  the original at batch size 1 and stores `lr * grad` per sample). We record the actual parameter change of every
  step of the original's own training run (its batch size, its optimiser — Adam by default — including weight
  decay and momentum), so what is subtracted is exactly what those steps added (later steps, computed from
  weights that contained it, are kept — the method's inherent approximation).
- Because the repair needs retain labels, the method is declared as needing them and is therefore not
  applicable under `label_free`, even with `finetune_epochs = 0` (needs are static per method).
- Under incremental requests the steps already undone by an earlier request are not subtracted again.
- The Amnesiac ML paper is not among the project's seed texts: the section number above was not re-checked.
"""

METHODS.register(Method(
    key="amnesiac", order=240, title="Amnesiac ML", family="baseline",
    paper="Graves, Nagisetty & Ganesh 2021, Amnesiac Machine Learning (AAAI); baseline in UDRU",
    config=AmnesiacConfig,
    needs=Needs(retain_data=True, retain_labels=True, train_time_state=("batch_updates",)),
    unlearn=unlearn, doc=DOC,
))
