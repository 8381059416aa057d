"""``scrub`` (SCRUB, with the SCRUB+R rewinding option): a student that obeys the original on the retain set
and disobeys it on the forget set.

Paper: Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine Unlearning" (NeurIPS 2023),
Sec. 3 (the min-max objective, Eq. 1-3, and Algorithm 1), SCRUB+R rewinding (Sec. 3, "SCRUB and Rewind").
Official code: github.com/meghdadk/SCRUB (``train_distill`` in the notebooks / ``helper/loops.py``,
``DistillKL``); facts in shared/reference/methods-from-official-code.md section 6.
Defaults: the official settings are in :data:`PAPER_DEFAULTS` (large scale: SGD lr 5e-4, gamma 0.99,
alpha 0.001, T 4, 2 max epochs of 3; small scale: Adam lr 5e-4, wd 0.1, gamma 1, alpha 0.5, T 2, 3 max
epochs of 10). The schema defaults are the small-scale recipe unchanged (the closest to the embedded digits set; checked
on digits x cnn).
Needs: forget inputs + forget labels (only SCRUB+R's rewinding reads them), retain inputs + labels, and the
validation split with its labels (SCRUB+R's reference error; never the test split).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.config import param
from engine.errors import SpecError
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import batches, check_finite, descend
from engine.methods.shared.distill import kl_t
from engine.paradigms.base import Supervision

# PAPER_DEFAULTS[dataset] -> {config field: value}: the official "large scale" setting (CIFAR-10 / CIFAR-100,
# ResNet-18 / AllCNN; PPU's ResNet copy uses gamma 0.95). The "small scale" setting (CIFAR-5 / Lacuna-5
# subsets, not datasets of ours) is SMALL_SCALE; the MIA-experiment setting is MIA_SETTING.
_LARGE = {"optimizer": "sgd", "lr": 5e-4, "weight_decay": 5e-4, "gamma": 0.99, "alpha": 0.001,
          "temperature": 4.0, "epochs": 3, "msteps": 2, "lr_decay_epochs": "3,5,9", "batch_size": 128,
          "forget_batch_size": 32}
SMALL_SCALE: dict[str, Any] = {"optimizer": "adam", "lr": 5e-4, "weight_decay": 0.1, "gamma": 1.0, "alpha": 0.5,
                               "temperature": 2.0, "epochs": 10, "msteps": 3, "lr_decay_epochs": "5,8,9",
                               "batch_size": 32, "forget_batch_size": 64}
MIA_SETTING: dict[str, Any] = {"optimizer": "sgd", "lr": 5e-4, "weight_decay": 5e-4, "gamma": 1.0, "alpha": 0.5,
                               "temperature": 4.0, "epochs": 5, "msteps": 3, "lr_decay_epochs": "3,5,9",
                               "batch_size": 32, "forget_batch_size": 16}
PAPER_DEFAULTS: dict[str, dict[str, Any]] = {"cifar10": dict(_LARGE), "cifar100": dict(_LARGE)}


def parse_epochs(text: str, where: str = "methods.scrub.lr_decay_epochs") -> tuple[int, ...]:
    """``"5,8,9"`` -> ``(5, 8, 9)`` (empty string: no decay); errors name the field."""
    out = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise SpecError(where, f"expected comma-separated positive epoch numbers, got {text!r}")
        out.append(int(part))
    return tuple(out)


@dataclass(frozen=True)
class ScrubConfig:
    """Hyper-parameters of SCRUB / SCRUB+R."""

    epochs: int = param(10, "SCRUB epochs (each: an optional max pass over the forget set, then a min pass over "
                            "the retain set)", range=(1, 200),
                        source="official: small scale 10, large scale 3, MIA runs 5", cost="linear")
    msteps: int = param(3, "the first msteps epochs also make a max pass over the forget set", range=(0, 200),
                        source="official: small scale 3, large scale 2, MIA runs 3", cost="linear")
    alpha: float = param(0.5, "weight of KL_T(teacher || student) on retain batches (min step)",
                         range=(0.0, 100.0), source="official: small scale 0.5, large scale 0.001")
    gamma: float = param(1.0, "weight of the paradigm's loss (CE under SL) on retain batches (min step)",
                         range=(0.0, 100.0), source="official: small scale 1, large scale 0.99 (PPU: 0.95)")
    temperature: float = param(2.0, "distillation temperature T of KL_T (the KL is multiplied by T^2)",
                               range=(0.1, 20.0), source="official: small scale 2, large scale / MIA 4")
    optimizer: str = param("adam", "optimiser of the student", choices=("adam", "sgd"),
                           source="official: small scale Adam, large scale / MIA SGD (momentum 0.9)")
    lr: float = param(5e-4, "learning rate", range=(1e-7, 1.0), log=True, source="official: 5e-4 everywhere")
    weight_decay: float = param(0.1, "weight decay of the optimiser", range=(0.0, 1.0),
                                source="official: small scale 0.1, large scale / MIA 5e-4")
    lr_decay_epochs: str = param("5,8,9", "comma-separated epochs after which the learning rate is multiplied "
                                          "by 0.1 (empty: constant)",
                                 source="official: small scale 5,8,9; large scale / MIA 3,5,9")
    batch_size: int = param(32, "retain (min step) mini-batch size", range=(1, 4096),
                            source="official: small scale 32, large scale 128, MIA 32", cost="inverse")
    forget_batch_size: int = param(64, "forget (max step) mini-batch size", range=(1, 4096),
                                   source="official: small scale 64, large scale 32, MIA 16", cost="inverse")
    rewind: bool = param(False, "SCRUB+R: keep a checkpoint every epoch and return the one whose forget error is "
                                "closest to the final model's error on held-out samples of the forget classes",
                         source="Kurmanji et al. 2023, SCRUB+R (user-privacy experiments)")

    def __post_init__(self) -> None:
        parse_epochs(self.lr_decay_epochs)


def max_step_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The max step's loss on a forget batch: ``-KL_T`` (minimising it pushes the student away from the teacher)."""
    return -kl_t(student_logits, teacher_logits, temperature)


def min_step_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, task_loss: torch.Tensor,
                  alpha: float, gamma: float, temperature: float) -> torch.Tensor:
    """The min step's loss on a retain batch: ``gamma * task_loss + alpha * KL_T``."""
    return gamma * task_loss + alpha * kl_t(student_logits, teacher_logits, temperature)


def lr_at(epoch: int, lr: float, decay_epochs: tuple[int, ...], rate: float = 0.1) -> float:
    """Learning rate of (1-based) ``epoch``: ``lr * rate^#{d : epoch > d}`` (official ``adjust_learning_rate``)."""
    return lr * rate ** sum(epoch > d for d in decay_epochs)


def select_rewind(forget_errors: list[float], reference_error: float) -> int:
    """SCRUB+R: index of the checkpoint whose forget error is closest to ``reference_error``.

    Ties go to the later checkpoint (it has had more min steps repairing the retain set).
    """
    if not forget_errors:
        raise ValueError("no checkpoints to rewind to")
    gaps = [abs(e - reference_error) for e in forget_errors]
    best = min(gaps)
    return max(i for i, g in enumerate(gaps) if g == best)


def _eval_logits(model: nn.Module, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    was = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])
    model.train(was)
    return out


def forget_error(model: nn.Module, x_forget: torch.Tensor, sup: Supervision) -> float:
    """Share of forget samples predicted outside their observed label (their candidate set under PLL)."""
    pred = _eval_logits(model, x_forget).argmax(1)
    hit = sup.candidates[torch.arange(pred.shape[0], device=pred.device), pred]
    return float(1.0 - hit.float().mean())


def forget_class_weights(sup: Supervision, num_classes: int) -> torch.Tensor:
    """How the forget set spreads over classes (observed supervision; a candidate set counts 1/|S| per class)."""
    cand = sup.candidates.float()
    rows = cand.sum(1, keepdim=True).clamp_min(1.0)
    w = (cand / rows).sum(0)
    return w / w.sum().clamp_min(1e-12)


def reference_error(model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor, weights: torch.Tensor) -> float:
    """Held-out error on the forget classes: per-class validation error weighted by the forget set's class shares
    (the official code uses a held-out split of the forget classes; here the ``val`` split, never ``test``)."""
    wrong = (_eval_logits(model, x_val).argmax(1) != y_val).float()
    k = weights.shape[0]
    y = y_val.long()
    err = torch.zeros(k, device=wrong.device).index_add_(0, y, wrong)
    cnt = torch.zeros(k, device=wrong.device).index_add_(0, y, torch.ones_like(wrong))
    has = cnt > 0
    w = weights.to(wrong.device) * has
    if float(w.sum()) <= 0:
        return float(wrong.mean())
    return float((w * err / cnt.clamp_min(1)).sum() / w.sum())


def _optimizer(model: nn.Module, cfg: ScrubConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def unlearn(model: nn.Module, data: UnlearnData, cfg: ScrubConfig, ctx: UnlearnContext) -> nn.Module:
    """Alternate max epochs on the forget set and min epochs on the retain set (Algorithm 1), optional rewind."""
    x_retain, sup_retain = data.retain()
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = _optimizer(model, cfg)
    decay = parse_epochs(cfg.lr_decay_epochs)
    gen = ctx.generator()
    n_f, n_r = data.x_forget.shape[0], x_retain.shape[0]
    checkpoints: list[dict[str, torch.Tensor]] = []
    errors: list[float] = []

    def max_loss(idx: torch.Tensor) -> torch.Tensor:
        x = data.x_forget[idx]
        with torch.no_grad():
            t_logits = teacher(x)
        return max_step_loss(model(x), t_logits, cfg.temperature)

    def min_loss(idx: torch.Tensor) -> torch.Tensor:
        x = x_retain[idx]
        with torch.no_grad():
            t_logits = teacher(x)
        s_logits = model(x)
        task = data.loss(s_logits, sup_retain.take(idx))
        return min_step_loss(s_logits, t_logits, task, cfg.alpha, cfg.gamma, cfg.temperature)

    for epoch in range(1, cfg.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch, cfg.lr, decay)
        model.train()
        if epoch <= cfg.msteps:
            descend(opt, batches(n_f, cfg.forget_batch_size, gen, ctx.device), max_loss)
        loss = descend(opt, batches(n_r, cfg.batch_size, gen, ctx.device), min_loss)
        check_finite(loss, "scrub")
        if cfg.rewind:
            checkpoints.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            errors.append(forget_error(model, data.x_forget, data.forget_supervision()))
        ctx.progress(epoch, cfg.epochs, f"epoch {epoch}/{cfg.epochs}")
    if cfg.rewind and checkpoints:
        x_val, sup_val = data.val()
        weights = forget_class_weights(data.forget_supervision(), data.num_classes)
        ref = reference_error(model, x_val, sup_val.labels, weights)
        model.load_state_dict(checkpoints[select_rewind(errors, ref)])
    model.eval()
    return model


DOC = r"""
**What it does.** SCRUB treats the original model as a frozen *teacher* and trains a *student* (initialised
from the original) to stay close to the teacher on the retain set and to move away from it on the forget set.
Training alternates, epoch by epoch, a **max pass** over forget batches (only during the first `msteps`
epochs) and a **min pass** over retain batches (every epoch), so the last epochs only repair the retain set.

**Equations** (Kurmanji et al. 2023, Sec. 3; numbering of the NeurIPS/arXiv version):
- Eq. 1, the distance to the teacher: $d(x; w^u) = \mathrm{KL}\big(p(f(x; w^o)) \,\|\, p(f(x; w^u))\big)$, here
  with temperature $T$: $\mathrm{KL}_T = T^2 \cdot \frac{1}{B}\sum_{i}\sum_k p^o_{ik} \log(p^o_{ik}/p^u_{ik})$,
  $p = \mathrm{softmax}(z/T)$ (the official `DistillKL`).
- Eq. 3, the objective: $\min_{w^u} \frac{\alpha}{N_r}\sum_{x_r} d(x_r; w^u)
  + \frac{\gamma}{N_r}\sum_{(x_r, y_r)} \ell(f(x_r; w^u), y_r) - \frac{1}{N_f}\sum_{x_f} d(x_f; w^u)$,
  optimised as in Algorithm 1: max step = minimise $-\mathrm{KL}_T$ on a forget batch; min step =
  minimise $\gamma\,\ell + \alpha\,\mathrm{KL}_T$ on a retain batch.
- Learning rate: $\mathrm{lr}_e = \mathrm{lr}\cdot 0.1^{\#\{d \in \text{decay epochs}: e > d\}}$ (epochs
  counted from 1, official `adjust_learning_rate`).
- **SCRUB+R** (`rewind`): a checkpoint after every epoch; the reference is the final model's error on
  held-out samples of the forget classes; the returned checkpoint is the one whose forget error is closest to
  it (ties: the later one).

**Hyper-parameters** (ranges: `epochs` 1-200, `msteps` 0-200, `alpha` / `gamma` 0-100, `temperature` 0.1-20,
`lr` 1e-7-1, `weight_decay` 0-1, batch sizes 1-4096; values: default for digits x cnn / official small scale /
official large scale):
`epochs` 10 / 10 / 3 (1-200), `msteps` 3 / 3 / 2 (0-200), `alpha` 0.5 / 0.5 / 0.001, `gamma` 1 / 1 / 0.99,
`temperature` 2 / 2 / 4, `optimizer` Adam / Adam / SGD (momentum 0.9), `lr` 5e-4 everywhere,
`weight_decay` 0.1 / 0.1 / 5e-4, `lr_decay_epochs` 5,8,9 / 5,8,9 / 3,5,9, retain `batch_size` 32 / 32 / 128,
`forget_batch_size` 64 / 64 / 32. The MIA experiments used SGD, gamma 1, alpha 0.5, T 4, 5 epochs, decay
3,5,9, batches 32/16. `PAPER_DEFAULTS` holds the large-scale setting for cifar10 / cifar100; `SMALL_SCALE`
and `MIA_SETTING` the other two. The digits defaults are the small-scale recipe unchanged: on digits x cnn
(class 3 forgotten) it reaches forget accuracy 0 with retain accuracy ~0.99 in about 2 s on one CPU thread.

**Needs.** Forget inputs; retain inputs and their labels (the min step's loss); forget labels and the held-out
validation split (inputs and labels) are read only by `rewind` (forget error and the forget classes).
Not applicable under `label_free`.

**Differences from the paper / official code.**
- The min step's $\ell$ is the paradigm's loss (CE under SL, CC under partial labels, GCE under noisy labels)
  rather than always CE, so the method runs under every labelled paradigm.
- The official code's extra distillation term (`beta`, other KD) is fixed at 0 there and left out here; its
  optional parameter smoothing / SWA variants (notebooks) are not implemented.
- Batches are shuffled index batches over in-memory tensors (every sample once per pass) instead of
  DataLoaders; the teacher always runs in eval mode, the student in train mode.
- SCRUB+R: the official notebooks build a validation set of the forget class; we use the problem's `val` split
  (never `test`), weighting each class's validation error by its share of the forget set (for class forgetting:
  the validation error on that class; labels as the paradigm shows them). Under partial labels the forget
  error counts a prediction inside the candidate set as correct.
- As in the official code, the very first max step starts at student = teacher, where the KL's gradient is
  zero; the student is moved off the teacher by the optimiser's weight decay and then by the min steps.
- Checkpoints are kept in memory (state-dict copies), not written to disk.
"""

METHODS.register(Method(
    key="scrub", order=310, title="SCRUB (+R)", family="baseline",
    paper="Kurmanji, Triantafillou, Hayes, Triantafillou, Towards Unbounded Machine Unlearning (NeurIPS 2023)",
    config=ScrubConfig,
    needs=Needs(forget_labels=True, retain_data=True, retain_labels=True, val_labels=True),
    unlearn=unlearn, doc=DOC,
))

__all__ = ["MIA_SETTING", "PAPER_DEFAULTS", "SMALL_SCALE", "ScrubConfig", "forget_error", "lr_at", "max_step_loss",
           "min_step_loss", "select_rewind"]
