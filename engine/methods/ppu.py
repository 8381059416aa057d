"""``ppu`` (PPU, Pseudo-Probability Unlearning): fit the model to pseudo-probabilities on the forget set.

Source: Zhao et al., "Pseudo-Probability Unlearning: Towards Efficient and Privacy-Preserving Machine
Unlearning" (seed 004, Sec. 4.1-4.3, Eq. 1-7, Sec. 5.4-5.5, Table 5), and the refinement solver of the official
code zzhao71/AdaProb (``refine_prediction.py``: ``opt_solver``, 10 outer iterations, Newton per class). The
weight-update stage is not public; ours is a KL fit with SGD (assumptions listed in :data:`DOC`).

Stages: (1) softmax outputs of the model on retain (A_r) and forget (A_f) inputs, A_f replaced by uniform or
seeded random pseudo-probabilities; (2) refinement of the stacked matrix under the constraints of Eq. 2-4 by
coordinate ascent on the Lagrangian dual (Eq. 5-7): :func:`refine`; (3) the weights are fitted to the refined
probabilities with a KL loss, forget rows weighted 1 and retain rows lambda (Eq. 1, Sec. 4.3). Privacy mode
(Sec. 5.5) keeps a checkpoint per epoch and returns the one whose forget error is closest to the error on
held-out data of the forget classes (:func:`select_checkpoint`), as SCRUB+R does in the same repository.

Defaults: lambda 1 (paper, all experiments), uniform pseudo-probabilities, 10 solver iterations (official),
class masses per task (``target=auto``: bias removal keeps the pseudo-probabilities as they are, privacy maintains
the original model's class masses so that the refinement runs); epochs / lr / batch are ours (not published).
Needs: forget and retain *inputs* and held-out (validation) inputs (privacy mode); no labels, so it runs under
every paradigm, ``label_free`` included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.errors import NotApplicable
from engine.methods.base import CHOSEN_ON_TEST, METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import batches, check_finite, descend

PSEUDO = ("uniform", "random")
TARGETS = ("auto", "pseudo", "original")
MODES = ("bias_removal", "privacy")
# target "auto": the class masses of the paper's task (Sec. 5.4 bias removal: the forget probabilities are simply
# replaced, no optimisation; Sec. 4.1 / 5.5 privacy: the original model's class masses are maintained)
MODE_TARGET = {"bias_removal": "pseudo", "privacy": "original"}
LAYERS = ("all", "head")

# The paper gives lambda = 1 for every experiment (Sec. 5.2, Sec. 6) and the two tasks' settings (Sec. 5.4/5.5);
# epochs, lr and batch size of the weight update are not published. Class masses: bias removal the official
# script's (column sums of [A_r; pseudo]: no optimisation, Sec. 5.4), privacy the original model's (the paper's
# "maintain M_k", Sec. 4.1 / 5.5: the refinement of Eq. 1-7 runs). PAPER_DEFAULTS[dataset][mode] -> {field: value}.
# The paper's other datasets (Lacuna-10, the 5-class CIFAR-5 / Lacuna-5 subsets) are not in our registry.
_BIAS = {"mode": "bias_removal", "target": "pseudo", "pseudo": "uniform", "lam": 1.0, "refine_iters": 10}
_PRIVACY = {"mode": "privacy", "target": "original", "pseudo": "uniform", "lam": 1.0, "refine_iters": 10}
PAPER_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "cifar10": {"bias_removal": dict(_BIAS), "privacy": dict(_PRIVACY)},
}
"""Paper settings per dataset and task (Tables 1-4): ``PAPER_DEFAULTS[dataset][mode]``."""


@dataclass(frozen=True)
class PpuConfig:
    """Hyper-parameters of PPU."""

    mode: str = param("bias_removal", "task of the paper: bias_removal = train to the targets and keep the last "
                                      "epoch (Sec. 5.4); privacy = keep the epoch whose forget error is closest "
                                      "to the held-out error of the forget classes (Sec. 5.5)", choices=MODES,
                      source="paper: both tasks (Tables 1-2 bias removal, Tables 3-4 privacy)")
    pseudo: str = param("uniform", "pseudo-probabilities replacing the forget outputs: uniform 1/K, or seeded "
                                   "uniform draws normalised per row (official code)", choices=PSEUDO,
                        source="paper: both (Table 1), uniform for privacy; official script: random")
    target: str = param("auto", "class masses M_k the refinement must meet (Eq. 2): auto = the mode's (pseudo "
                                "for bias_removal, original for privacy); original = column sums of the "
                                "model's outputs on all training inputs (the paper's 'maintain M_k': Eq. 1-7 "
                                "move the forget rows back towards the model's class distribution); pseudo = "
                                "column sums of [A_r; pseudo] themselves (official script): every constraint "
                                "already holds, so the refinement returns its input unchanged and the targets "
                                "are exactly the pseudo-probabilities (maximal forgetting, no optimisation)",
                        choices=TARGETS,
                        source="paper: Sec. 5.4 bias removal replaces the probabilities without optimising "
                               "(pseudo), Sec. 4.1 / 5.5 privacy maintains M_k (original); official script: pseudo")
    lam: float = param(1.0, "lambda of Eq. 1: weight of the retain rows, in the refinement and in the KL fit",
                       range=(1e-3, 100.0), log=True, source="paper: 1 in all experiments (Table 5 ablation: 1-4)")
    epochs: int = param(5, "passes of the KL fit over forget + retain", range=(1, 200),
                        source="not published; ours (digits)", cost="linear")
    lr: float = param(0.01, "SGD learning rate of the KL fit (momentum 0.9, weight decay 5e-4)",
                      range=(1e-7, 1.0), log=True, source="not published; ours (digits)")
    batch_size: int = param(64, "mini-batch size of the KL fit (forget and retain samples mixed)",
                            range=(1, 4096), source="not published; ours", cost="inverse")
    train_layers: str = param("all", "parameters updated by the KL fit: the whole network or only the head",
                              choices=LAYERS, source="paper Sec. 1: the entire model's weights are updated")
    refine_iters: int = param(100, "maximum outer iterations of the refinement (row scaling + class duals)",
                              range=(1, 10_000), source="official: 10", cost="linear")
    refine_tol: float = param(1e-6, "stop the refinement when every class mass is within this many samples of "
                                     "its target", range=(1e-12, 1.0), log=True,
                              source="official: Newton tolerance 1e-5 (script), 0.1 (notebook)")


# --------------------------------------------------------------------------------------------- refinement


def _solve_duals(b: torch.Tensor, inv_w: torch.Tensor, log_c: torch.Tensor, nu: torch.Tensor,
                 steps: int = 60) -> torch.Tensor:
    """Per class j, the nu_j with ``logsumexp_i(b_ij - nu_j * inv_w_i) = log c_j`` (Newton, all classes at once).

    The left side is convex and decreasing in nu_j, so Newton converges from any start (the official code runs
    ``scipy.optimize.newton`` on the same equation without logs, one class at a time); ``nu`` is the warm start.
    """
    for _ in range(steps):
        s = b - inv_w[:, None] * nu[None, :]
        lse = torch.logsumexp(s, dim=0)
        h = lse - log_c
        if float(h.abs().max()) < 1e-12:
            break
        slope = -(torch.softmax(s, dim=0) * inv_w[:, None]).sum(0)
        nu = nu - h / slope
    return nu


def refine(probs: torch.Tensor, col_target: torch.Tensor, row_weights: torch.Tensor | None = None,
           iters: int = 100, tol: float = 1e-6) -> torch.Tensor:
    """Refined probabilities M (Eq. 1-7): the weighted-KL projection of ``probs`` onto the constraint set.

    Solves ``min_M sum_i w_i KL(M_i || A_i)`` subject to ``sum_j M_ij = 1`` (Eq. 3), ``M_ij >= 0`` (Eq. 4) and
    ``sum_i M_ij = c_j`` (Eq. 2). The Lagrangian (Eq. 5) gives ``M_ij = A_ij exp(-(w_i + alpha_i + nu_j)/w_i)``
    (Eq. 6); coordinate ascent alternates the row duals (a closed-form row scaling) and the class duals nu_j
    (Eq. 7; a 1-D root per class), as the official ``opt_solver`` does. Computed in float64, in log space.

    Args:
        probs: ``(N, K)`` non-negative rows (they need not sum to 1).
        col_target: ``(K,)`` positive class masses summing to ``N``.
        row_weights: ``(N,)`` positive weights w_i (default 1: the official script).
        iters: maximum outer iterations.
        tol: stop when every class mass is within ``tol`` of its target (rows are always exact on return).

    Returns:
        ``(N, K)`` float64 tensor on ``probs``' device.
    """
    a = probs.detach().to("cpu", torch.float64)
    c = col_target.detach().to("cpu", torch.float64)
    n, k = a.shape
    w = torch.ones(n, dtype=torch.float64) if row_weights is None else row_weights.detach().to("cpu", torch.float64)
    if c.shape != (k,) or w.shape != (n,):
        raise ValueError(f"refine: shapes probs {tuple(a.shape)}, col_target {tuple(c.shape)}, "
                         f"row_weights {tuple(w.shape)} do not match")
    if bool((a < 0).any()) or not bool(torch.isfinite(a).all()):
        raise ValueError("refine: probs must be finite and non-negative")
    if bool((c <= 0).any()) or abs(float(c.sum()) - n) > 1e-6 * max(n, 1):
        raise ValueError(f"refine: col_target must be positive and sum to the number of rows ({n}), "
                         f"got sum {float(c.sum()):.6g}")
    if bool((w <= 0).any()):
        raise ValueError("refine: row_weights must be positive")
    if bool((a.sum(0) == 0).any()) or bool((a.sum(1) == 0).any()):
        raise ValueError("refine: every row and every class needs some probability mass (infeasible otherwise)")
    log_a = torch.log(a)  # -inf where a == 0: those entries stay 0
    inv_w = 1.0 / w
    log_c = torch.log(c)
    nu = torch.zeros(k, dtype=torch.float64)
    for _ in range(iters):
        s = log_a - inv_w[:, None] * nu[None, :]
        u = -torch.logsumexp(s, dim=1)  # row duals: every row sums to 1
        m = torch.exp(s + u[:, None])
        if float((m.sum(0) - c).abs().max()) < tol:
            return m.to(probs.device)
        nu = _solve_duals(log_a + u[:, None], inv_w, log_c, nu)
    s = log_a - inv_w[:, None] * nu[None, :]
    return torch.exp(s - torch.logsumexp(s, dim=1, keepdim=True)).to(probs.device)


def pseudo_probabilities(n: int, k: int, kind: str, generator: torch.Generator) -> torch.Tensor:
    """``(n, k)`` float64 pseudo-probabilities: uniform ``1/k``, or uniform draws normalised per row (seeded)."""
    if kind == "uniform":
        return torch.full((n, k), 1.0 / k, dtype=torch.float64)
    if kind == "random":
        r = torch.rand((n, k), generator=generator, dtype=torch.float64)
        return r / r.sum(1, keepdim=True)
    raise ValueError(f"pseudo: unknown kind {kind!r}; valid: {', '.join(PSEUDO)}")


def class_target(cfg: PpuConfig) -> str:
    """The class masses ``cfg`` asks for: ``cfg.target``, or for ``auto`` the mode's (:data:`MODE_TARGET`)."""
    return MODE_TARGET[cfg.mode] if cfg.target == "auto" else cfg.target


def refined_targets(a_r: torch.Tensor, a_f: torch.Tensor, cfg: PpuConfig,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Stages 1-2: ``A = [A_r; pseudo]`` and its refinement ``M`` under the class masses of ``cfg`` (Eq. 1-7).

    Args:
        a_r: ``(n_r, K)`` the model's probabilities on the retain inputs.
        a_f: ``(n_f, K)`` its probabilities on the forget inputs (only their class masses are used: ``original``).
        cfg: ``pseudo``, ``target`` (see :func:`class_target`), ``mode``, ``lam``, ``refine_iters``, ``refine_tol``.
        generator: draws the ``random`` pseudo-probabilities.

    Returns:
        ``(A, M)``, both ``(n_r + n_f, K)`` float64 on the CPU, retain rows first. With target ``pseudo`` the
        class masses are A's own column sums, A is already feasible and ``M == A``; with ``original`` they are the
        column sums of ``[A_r; A_f]``, so the forget rows get back the mass the pseudo-probabilities took away.
    """
    a_r, a_f = a_r.detach().to("cpu", torch.float64), a_f.detach().to("cpu", torch.float64)
    n_r, n_f, k = a_r.shape[0], a_f.shape[0], a_r.shape[1]
    stacked = torch.cat([a_r, pseudo_probabilities(n_f, k, cfg.pseudo, generator)])
    col_target = stacked.sum(0) if class_target(cfg) == "pseudo" else torch.cat([a_r, a_f]).sum(0)
    row_w = torch.cat([torch.full((n_r,), cfg.lam, dtype=torch.float64), torch.ones(n_f, dtype=torch.float64)])
    return stacked, refine(stacked, col_target, row_w, cfg.refine_iters, cfg.refine_tol)


# ------------------------------------------------------------------------------------------ the weight fit


def kl_to_targets(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(target || softmax(logits))`` (zero-probability targets contribute 0)."""
    return F.kl_div(torch.log_softmax(logits, dim=1), targets, reduction="none").sum(1)


def select_checkpoint(forget_errors: Sequence[float], reference: float) -> int:
    """Index of the epoch whose forget error is closest to ``reference`` (the earliest one on ties)."""
    if len(forget_errors) == 0:
        raise ValueError("select_checkpoint: no checkpoints")
    return min(range(len(forget_errors)), key=lambda i: (abs(forget_errors[i] - reference), i))


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def _trainable(model: nn.Module, layers: str) -> list[nn.Parameter]:
    if layers == "all":
        return list(model.parameters())
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Module):
        raise NotApplicable("PPU with train_layers=head needs a model split into features and head")
    return list(head.parameters())


def _set_mode(model: nn.Module, layers: str) -> None:
    model.train(layers == "all")
    if layers == "head":
        model.head.train()  # type: ignore[union-attr]


def unlearn(model: nn.Module, data: UnlearnData, cfg: PpuConfig, ctx: UnlearnContext) -> nn.Module:
    """Pseudo-probabilities -> refinement (Eq. 1-7) -> KL fit of the weights (Sec. 4.3), per ``cfg.mode``."""
    x_f, x_r = data.x_forget, data.retain_inputs()
    n_f, n_r = x_f.shape[0], x_r.shape[0]

    # Stage 1: outputs of the model we start from, forget rows replaced by pseudo-probabilities
    model.eval()
    logits_r, logits_f = _logits(model, x_r), _logits(model, x_f)
    a_r = torch.softmax(logits_r.double(), dim=1).cpu()
    a_f = torch.softmax(logits_f.double(), dim=1).cpu()

    # Stage 2: refinement under the class-mass constraints (the identity for target "pseudo")
    _, refined = refined_targets(a_r, a_f, cfg, ctx.generator(1))
    targets = refined.to(ctx.device, torch.float32)
    targets = targets / targets.sum(1, keepdim=True)

    # privacy-mode bookkeeping: predictions of the starting model stand in for labels
    pred_f = logits_f.argmax(1)
    held_out = None
    if cfg.mode == "privacy":
        x_val = data.val_inputs()
        pred_t = _logits(model, x_val).argmax(1)
        forget_classes = torch.unique(pred_f)
        in_classes = torch.isin(pred_t, forget_classes)
        keep = in_classes if bool(in_classes.any()) else torch.ones_like(in_classes)
        held_out = (x_val[keep], pred_t[keep])

    # Stage 3: fit the weights to the refined probabilities (sum_f KL + lambda sum_r KL, Eq. 1)
    x_all = torch.cat([x_r, x_f])
    sample_w = torch.cat([torch.full((n_r,), cfg.lam, device=ctx.device), torch.ones(n_f, device=ctx.device)])
    params = _trainable(model, cfg.train_layers)
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=5e-4)
    gen = ctx.generator(2)
    forget_errors: list[float] = []
    checkpoints: list[dict[str, torch.Tensor]] = []

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        per_sample = kl_to_targets(model(x_all[idx]), targets[idx])
        return (sample_w[idx] * per_sample).sum() / idx.numel()

    for epoch in range(cfg.epochs):
        _set_mode(model, cfg.train_layers)
        loss = descend(opt, batches(n_r + n_f, cfg.batch_size, gen, ctx.device), loss_of)
        check_finite(loss, "ppu")
        if held_out is not None:
            model.eval()
            forget_errors.append(float((_logits(model, x_f).argmax(1) != pred_f).float().mean()))
            checkpoints.append({n: t.detach().clone() for n, t in model.state_dict().items()})
        ctx.progress(epoch + 1, cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}")
    model.eval()
    if held_out is not None:  # reference: the last epoch's error on held-out samples of the forget classes
        reference = float((_logits(model, held_out[0]).argmax(1) != held_out[1]).float().mean())
        model.load_state_dict(checkpoints[select_checkpoint(forget_errors, reference)])
    return model


DOC = r"""
**What it does.** PPU makes the model output *pseudo-probabilities* on the forget set while keeping its
outputs elsewhere, then writes that into the weights. Nothing but model outputs is used: no label of any kind,
so PPU runs under every paradigm, `label_free` included.

1. **Pseudo-probabilities** (Sec. 4.1). Softmax outputs of the model on the retain inputs, $A_r$, and on the
   forget inputs, $A_f$. $A_f$ is replaced by $\hat p_f$: `uniform` ($1/K$) or `random` (uniform draws
   normalised per row, seeded; the official script's choice).
2. **Refinement** (Eq. 1-7). With $A = [A_r; \hat p_f]$ and row weights $w_i$ ($\lambda$ for retain rows, 1 for
   forget rows, Eq. 1), solve $\min_M \sum_i w_i\,\mathrm{KL}(M_i \,\|\, A_i)$ s.t. $\sum_i M_{ik} = M_k$
   (Eq. 2), $\sum_k M_{ik} = 1$ (Eq. 3), $M \ge 0$ (Eq. 4). The Lagrangian dual (Eq. 5) gives
   $M_{ik} = A_{ik}\,e^{-(w_i+\alpha_i+\nu_k)/w_i}$ (Eq. 6); coordinate ascent alternates the row duals
   $\alpha_i$ (closed form: row scaling) and the class duals $\nu_k$ (one monotone 1-D root per class, Newton,
   as in the official `opt_solver`) until every class mass is within `refine_tol` of $M_k$.
   The class masses $M_k$ (`target`; `auto`, the default, takes the mode's: `pseudo` for `bias_removal`,
   `original` for `privacy`):
   - `original` = column sums of the model's outputs on *all* training inputs, the paper's "total probability
     for class k ... we strive to maintain this constant" (Sec. 4.1) and its privacy task ("with the refinement
     of pseudo-probabilities, the model can maintain the original distribution while effectively forgetting",
     Sec. 5.5). Eq. 1-7 then do real work: the mass the pseudo-probabilities took from the forget set's classes
     is put back, mostly into the forget rows (retain rows of other classes take little; less as $\lambda$
     grows, cf. Table 5), so the forget outputs move from uniform towards the model's class distribution. On
     digits with 25 samples of class 5 forgotten the forget rows keep ~0.6 of their own class instead of 0.1.
     With a *whole class* forgotten it gives the class its mass back and undoes the forgetting (digits, class
     3: forget accuracy 0.99), so class removal should use `bias_removal` or `target=pseudo`.
   - `pseudo` = column sums of $[A_r; \hat p_f]$ themselves, as the official script sets them: $A$ then already
     satisfies every constraint, so the refinement returns it **unchanged** and the targets are exactly the
     retain outputs plus the pseudo-probabilities. This is the paper's bias-removal task ("instead of performing
     optimizations, we directly modify the forget set probabilities", Sec. 5.4): pick it for the largest forget
     error, or to fit the weights to the raw pseudo-probabilities in any mode.
3. **Weight update** (Sec. 4.3, Fig. 1). SGD (momentum 0.9, weight decay 5e-4) on
   $\frac1B\big(\sum_{f} \mathrm{KL}(M_f \| f(x_f;w)) + \lambda \sum_{r} \mathrm{KL}(M_r \| f(x_r;w))\big)$ over
   shuffled mini-batches that mix forget and retain samples, for `epochs` passes.
4. **Mode.** `bias_removal` (Sec. 5.4): return the last epoch. `privacy` (Sec. 5.5): a checkpoint is kept after
   every epoch and the one whose *forget error* is closest to a reference is returned. The paper's goal is a
   forget error "close to that of retraining"; the reference that estimates it, as SCRUB+R does in the same
   repository (`MIA_experiments.ipynb`: `argmin |forget error - forget-validation error of the last epoch|`),
   is the final model's error on held-out samples of the forget classes. Without labels, "error" is
   disagreement with the starting model's predictions (on training data the original is ~100 % accurate), and
   the held-out samples are the validation inputs (`val` split, never `test`) the starting model assigns to a
   class it predicts on the forget set.

**Hyper-parameters** (digits defaults; paper settings in `PAPER_DEFAULTS[dataset][mode]`):

| field | range | digits default | paper / official |
| --- | --- | --- | --- |
| `mode` | bias_removal, privacy | bias_removal | both tasks |
| `pseudo` | uniform, random | uniform | both (Table 1); uniform for privacy; official script: random |
| `target` | auto, pseudo, original | auto: the mode's | pseudo (bias removal, Sec. 5.4), original (privacy) |
| `lam` (λ) | 0.001-100 | 1 | 1 everywhere; ablation 1-4 (Table 5) |
| `epochs` | 1-200 | 5 | not published |
| `lr` | 1e-7-1 | 0.01 | not published |
| `batch_size` | 1-4096 | 64 | not published |
| `train_layers` | all, head | all | "the entire model's weights are updated" (Sec. 1) |
| `refine_iters` | 1-10000 | 100 | 10 |
| `refine_tol` | 1e-12-1 | 1e-6 | Newton tolerance 1e-5 (script) / 0.1 (notebook) |

**On digits** (cnn, class 3 forgotten, seed 0): forget accuracy 0.05 (retrain 0.00, original 1.00), retain
1.00 (1.00), test 0.883 (0.881), MIA efficacy 1.00 (1.00); forget entropy 2.16 nats against retrain's 0.50:
uniform targets make the forget outputs near-uniform, where a retrained model is confidently wrong.

**Needs:** forget inputs, retain inputs, and validation inputs (no labels), the last only in `privacy` mode (declared
always, since needs are static). No labels, no training-time state.

**Where we differ from the paper / the official code, and why**
- *Weight update*: not in the public code. Assumed: SGD with SCRUB's momentum/weight decay, mixed shuffled
  batches, KL(target ‖ model) (the direction of Eq. 5 and of PyTorch's `kl_div`; Eq. 1 writes the reverse),
  λ weighting the retain rows as in Eq. 1; epochs/lr chosen on digits. The whole network is trained by default
  (Sec. 1); `train_layers=head` gives the last-layer variant the catalogue mentions.
- *λ in the refinement*: Eq. 1 weighs the retain KL terms by λ; we use the same λ as the solver's row weights
  $w_i$ (official script: $w=1$; notebook: $w=1/\text{entropy}$, not offered).
- *Solver*: the official code iterates a fixed 10 times with `scipy.optimize.newton` per class on
  $\sum_i A_{ik}/e\cdot X_i e^{-\nu_k/w_i}=c_k$; we solve the same equation in log space (stable for tiny
  probabilities, all classes at once) and stop on a tolerance on the class masses (the paper's Eq. 7 gradient
  step is replaced by the exact 1-D solve, as in the code). Eq. 6 indexes the weight by class ($w_k$) and
  leaves the row dual implicit; the code (and we) use one weight per row and an explicit row scaling.
- *Random pseudo-probabilities*: the official code normalises uniform draws per row; the paper's Sec. 5.4 says
  softmax of random numbers. We follow the code.
- *Privacy reference*: the paper says "the model closest to the original is selected"; read literally (forget
  error closest to the original's, ~0) it would always return the first epoch, contradicting the stated goal
  (forget error close to retraining's). We implement the goal with SCRUB+R's reference (see 4), with the
  starting model's predictions instead of labels; only epochs 1..E are candidates (not the starting model).
- *Held-out data*: privacy mode reads the validation inputs (never their labels, never the test split) to set
  the reference, as SCRUB+R reads a validation split.
- *Incremental requests*: each request starts from the current model (its outputs are the new $A$).
"""

METHODS.register(Method(
    defaults_chosen=CHOSEN_ON_TEST,
    key="ppu", order=160, title="PPU (Pseudo-Probability Unlearning)", family="seed",
    paper="Zhao et al., Pseudo-Probability Unlearning: Towards Efficient and Privacy-Preserving Machine "
          "Unlearning (seed 004)",
    config=PpuConfig, needs=Needs(retain_data=True, val_data=True), unlearn=unlearn, doc=DOC,
))

