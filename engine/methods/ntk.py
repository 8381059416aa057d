"""``ntk`` (NTK forgetting): one closed-form step from the linearised network, optionally followed by Fisher noise.

Paper: Golatkar, Achille & Soatto, "Forgetting Outside the Box: Scrubbing Deep Networks of Information
Accessible from Input-Output Observations", ECCV 2020. Official code: AdityaGolatkar/SelectiveForgetting,
``Forgetting.ipynb`` ("NTK based Forgetting", "Trapezium Trick", "NTK + Fisher Noise in the Weights"), read in
copies of that notebook (the d-m-silva/SelectiveForgetting fork and two ports that cite it). Defaults: the
ridge is the original's training weight decay (official: the run's ``--weight-decay``); the scale is the
official "trapezium" rule; Fisher noise on top with alpha 1e-9 (the official NTK + Fisher cell). The retain
sample is 5 per class (official: every retain sample of its 100-per-class datasets): the size that keeps the
digits ``mlp`` under the Jacobian memory limit. Needs: forget + retain inputs and (observed) hard labels.
Expensive: it materialises the ``(n K) x P`` logit Jacobian, so it runs on small models and samples only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from engine.config import param
from engine.errors import NotApplicable
from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.fisher_noise import fisher_noise
from engine.models import build_model
from engine.paradigms.base import Supervision

MAX_JACOBIAN_BYTES = int(1.5 * 1024**3)  # the (n K) x P float32 Jacobian of the logits must stay under this
CHUNK_BYTES = 256 * 1024**2  # one vmap chunk of per-sample Jacobians (B x K x P) stays under this
BLOCK_BYTES = 256 * 1024**2  # a block of Jacobian rows cast to float64 (kernel, J^T C) stays under this
PARADIGMS = ("supervised", "noisy_label")  # the residual p - onehot(y) needs one observed hard label per sample

PAPER_DEFAULTS: dict[str, dict[str, object]] = {
    # the official small-scale runs (Small-CIFAR-5 / Small-Lacuna-5: CIFAR-10 / Lacuna subsets, not datasets of
    # this engine), 100 training images per class, all of them in the kernel
    "small_cifar5": {"retain_per_class": 100, "weight_decay": 0.1, "scale": None, "fisher_alpha": 1e-9},
}


@dataclass(frozen=True)
class NTKConfig:
    """Hyper-parameters of NTK forgetting."""

    retain_per_class: int = param(5, "retain samples per (observed) class in the kernel, a seeded random subset; "
                                     "memory grows linearly and time quadratically with it",
                                  range=(1, 100_000),
                                  source="official: every retain sample (100 per class); PGU: 150 per class; "
                                         "ours: 5, so the digits mlp fits the 1.5 GiB Jacobian limit", cost="linear")
    weight_decay: float | None = param(None, "ridge lambda: kernel + n * lambda * I (None = the weight decay the "
                                             "original was trained with)", range=(1e-10, 10.0), log=True,
                                       source="official: the training run's --weight-decay (0.1 in the "
                                              "small-scale runs)")
    scale: float | None = param(None, "multiplier of the linearised update w_lin(D_r) - w_lin(D) (None = the "
                                      "official 'trapezium' rule, which needs the original's initial weights)",
                                range=(0.0, 1e4), source="official: the trapezium rule")
    linearize_at: str = param("trained", "where the network is linearised: 'trained' = at the original's weights "
                                         "(as the official code does), 'init' = at its initial weights (as the "
                                         "paper's derivation does)", choices=("trained", "init"),
                              source="official code: trained")
    fisher_noise: bool = param(True, "add Fisher forgetting's noise (this engine's `fisher`, on the whole retain "
                                     "set) after the NTK step: the paper's NTK + Fisher procedure",
                               source="paper: deterministic NTK step + Fisher noise")
    fisher_alpha: float = param(1e-9, "Fisher noise scale when fisher_noise is on (see `fisher`)",
                                range=(1e-10, 1e-2), log=True, source="official NTK + Fisher cell: 1e-9")
    chunk: int = param(64, "samples per vectorised Jacobian chunk, capped at 256 MiB (memory only; does not "
                           "change the result)", range=(1, 4096), cost="inverse", search=False)


def jacobian_bytes(n_samples: int, num_classes: int, n_params: int) -> int:
    """Bytes of the float32 ``(n K) x P`` logit Jacobian that the method materialises."""
    return n_samples * num_classes * n_params * 4


def _trainable(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def logit_jacobian(model: nn.Module, x: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """Rows ``d f_k(x_i) / d theta`` for every sample ``i`` and logit ``k`` (row ``i K + k``), shape ``(n K, P)``.

    Per-sample Jacobians via ``torch.func.vmap(jacrev)`` in the model's current mode; parameters in
    ``named_parameters`` order (trainable ones only).
    """
    named = _trainable(model)
    params = {n: p.detach() for n, p in named}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def logits(pr: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return functional_call(model, ({**pr, **frozen}, buffers), (xi.unsqueeze(0),))[0]

    jac = vmap(jacrev(logits), in_dims=(None, 0))
    with torch.no_grad():
        k = model(x[:1]).shape[-1]
    n_params = sum(p.numel() for p in params.values())
    dtype = named[0][1].dtype
    out = torch.empty(x.shape[0] * k, n_params, dtype=dtype, device=x.device)
    chunk = max(1, min(chunk, CHUNK_BYTES // max(1, k * n_params * dtype.itemsize)))
    for i in range(0, x.shape[0], chunk):
        j = jac(params, x[i:i + chunk])  # name -> (b, K, *shape)
        b = int(j[named[0][0]].shape[0])
        col = 0
        for n, p in named:
            out[i * k:(i + b) * k, col:col + p.numel()] = j[n].reshape(b * k, -1)
            col += p.numel()
    return out


def _block_rows(j: torch.Tensor) -> int:
    return max(1, BLOCK_BYTES // (8 * max(1, j.shape[1])))


def gram(j: torch.Tensor) -> torch.Tensor:
    """The empirical NTK ``Theta = J J^T`` in float64 (symmetric blocks, each cast to float64 on the fly)."""
    n, block = j.shape[0], _block_rows(j)
    out = torch.empty(n, n, dtype=torch.float64, device=j.device)
    for a in range(0, n, block):
        ja = j[a:a + block].double()
        for b in range(a, n, block):
            jb = ja if b == a else j[b:b + block].double()
            blk = ja @ jb.T
            out[a:a + block, b:b + block] = blk
            if b != a:
                out[b:b + block, a:a + block] = blk.T
    return out


def jt_mat(j: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``J^T C`` accumulated in float64 (``C`` has one row per row of ``J``), in one pass over ``J``."""
    block = _block_rows(j)
    out = torch.zeros(j.shape[1], c.shape[1], dtype=torch.float64, device=j.device)
    for a in range(0, j.shape[0], block):
        out += j[a:a + block].double().T @ c[a:a + block]
    return out


def ridge_solve(theta: torch.Tensor, r: torch.Tensor, ridge: float) -> torch.Tensor:
    """``(Theta + ridge I)^-1 r`` in float64 (``torch.linalg.solve``; least squares if it is singular)."""
    a = theta + ridge * torch.eye(theta.shape[0], dtype=theta.dtype, device=theta.device)
    try:
        return torch.linalg.solve(a, r)
    except RuntimeError:  # singular (ridge 0 or rank-deficient Jacobian): the minimum-norm least-squares solution
        return torch.linalg.lstsq(a.cpu(), r.cpu().unsqueeze(1), driver="gelsd").solution.squeeze(1).to(r.device)


def linearised_fits(j: torch.Tensor, r: torch.Tensor, n_retain: int, num_classes: int, lam: float,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(w_lin(D), w_lin(D_r), w_lin(D_r) - w_lin(D))`` as displacements from the linearisation point (float64).

    ``J`` stacks the retain rows first (``n_retain`` samples), then the forget rows; ``r`` holds the residuals
    ``p - onehot(y)`` in the same order. ``w_lin(S) = -J_S^T (Theta_SS + |S| lambda I)^-1 r_S``: the minimiser of
    ``||J_S w + r_S||^2 + |S| lambda ||w||^2``, the ridge fit of the linearised model on ``S`` (official code).
    """
    n = j.shape[0] // num_classes
    rows_r = n_retain * num_classes
    theta = gram(j)
    c_full = ridge_solve(theta, r.double(), n * lam)
    c_ret = ridge_solve(theta[:rows_r, :rows_r], r[:rows_r].double(), n_retain * lam)
    pad = torch.zeros_like(c_full)
    pad[:rows_r] = c_ret
    # columns: w_lin(D), w_lin(D_r), and their difference without the cancellation of two large vectors
    w = jt_mat(j, torch.stack([-c_full, -pad, c_full - pad], dim=1))
    return w[:, 0], w[:, 1], w[:, 2]


def trapezium_scale(delta: torch.Tensor, w_retain: torch.Tensor, displacement: torch.Tensor) -> float:
    """The official "trapezium trick": ``1 + 2 |cos(delta, m)| ||m|| / ||delta||``, ``m = displacement - w_retain``.

    ``displacement`` is the original's weights minus its initial weights. The official code branches on the
    sign of the cosine (``arccos(cos) - pi/2`` and ``sin``, or ``arccos(cos)`` and ``cos``); both branches give
    this one expression (checked in the tests against the branches).
    """
    m = displacement.double() - w_retain.double()
    nd, nm = float(delta.double().norm()), float(m.norm())
    if nd == 0.0 or nm == 0.0:
        return 1.0
    cos = float(delta.double() @ m) / (nd * nm)
    return 1.0 + 2.0 * abs(cos) * nm / nd


def ce_residual(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``softmax(f(x)) - onehot(y)`` per sample, flattened to one entry per Jacobian row (official ``lossfn='ce'``)."""
    p = torch.softmax(logits.detach().double(), dim=-1)
    p[torch.arange(labels.shape[0], device=labels.device), labels] -= 1.0
    return p.flatten()


def retain_subset(sup: Supervision, per_class: int, gen: torch.Generator) -> torch.Tensor:
    """A seeded random subset of ``per_class`` labelled retain samples per observed class (sorted positions)."""
    labels, labelled = sup.labels.cpu(), sup.labelled.cpu()
    picks = []
    for c in labels[labelled].unique().tolist():
        idx = ((labels == c) & labelled).nonzero().flatten()
        picks.append(idx[torch.randperm(idx.numel(), generator=gen)[:per_class]])
    if not picks:
        return torch.zeros(0, dtype=torch.long)
    return torch.cat(picks).sort().values


def initial_weights(model: nn.Module, ctx: UnlearnContext, num_classes: int) -> nn.Module:
    """The original's initialisation, rebuilt as the runner (and ``retrain``) build it: ``build_model(seed=ctx.seed)``
    (the global RNG is untouched)."""
    init = build_model(ctx.model_key, ctx.input_shape, num_classes, seed=ctx.seed)
    shapes = [p.shape for _, p in _trainable(model)]
    if [p.shape for _, p in _trainable(init)] != shapes:
        raise NotApplicable(f"NTK forgetting: the initial weights of model {ctx.model_key!r} cannot be rebuilt "
                            "(parameter shapes differ); set `scale` to a number and linearize_at='trained'")
    return init.to(next(model.parameters()).device)


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for _, p in _trainable(model)])


def unlearn(model: nn.Module, data: UnlearnData, cfg: NTKConfig, ctx: UnlearnContext) -> nn.Module:
    """``theta <- theta + s (w_lin(D_r) - w_lin(D))``, then (optionally) Fisher noise; model in eval mode."""
    x_retain, sr = data.retain()
    sf = data.forget_supervision()
    if sf.kind != "labels" or not bool(sf.labelled.all()):
        raise NotApplicable("NTK forgetting needs one observed hard label per forget sample (the residual is "
                            "softmax - onehot(y))")
    k = data.num_classes
    n_params = sum(p.numel() for _, p in _trainable(model))
    pick = retain_subset(sr, cfg.retain_per_class, ctx.generator(2)).to(x_retain.device)
    n_r, n_f = int(pick.numel()), int(data.x_forget.shape[0])
    if n_r == 0:
        raise NotApplicable("NTK forgetting needs labelled retain samples")
    need = jacobian_bytes(n_r + n_f, k, n_params)
    if need > MAX_JACOBIAN_BYTES:
        raise NotApplicable(
            f"NTK forgetting materialises the (n K) x P logit Jacobian: ({n_r} retain + {n_f} forget samples) x "
            f"{k} classes x {n_params:,} parameters x 4 bytes = {need / 1024**3:.2f} GiB, above the "
            f"{MAX_JACOBIAN_BYTES / 1024**3:.1f} GiB limit; lower retain_per_class, forget fewer samples or use a "
            "smaller model")
    init = initial_weights(model, ctx, k) if cfg.scale is None or cfg.linearize_at == "init" else None
    lam = ctx.train_cfg.weight_decay if cfg.weight_decay is None else cfg.weight_decay
    x = torch.cat([x_retain[pick], data.x_forget])
    y = torch.cat([sr.labels.to(pick.device)[pick], sf.labels.to(pick.device)])
    steps = 5 if cfg.fisher_noise else 3

    at = model if cfg.linearize_at == "trained" else init
    if at is None:  # unreachable: the initial weights are rebuilt whenever linearize_at is "init"
        raise RuntimeError("ntk: linearize_at='init' needs the initial weights")
    was_training = model.training
    model.eval()
    at.eval()
    try:
        j = logit_jacobian(at, x, cfg.chunk)
        with torch.no_grad():
            r = ce_residual(at(x), y)
        ctx.progress(1, steps, f"logit Jacobian of {n_r} retain + {n_f} forget samples")
        _, w_retain, delta = linearised_fits(j, r, n_r, k, lam)
        del j
        ctx.progress(2, steps, "kernel solves")
        if cfg.scale is not None:
            s = cfg.scale
        elif init is not None:  # always: the initial weights are rebuilt whenever scale is None
            s = trapezium_scale(delta, w_retain, _flat(model).double() - _flat(init).double())
        else:
            raise RuntimeError("ntk: the trapezium scale needs the initial weights")
        with torch.no_grad():
            start = 0
            for _, p in _trainable(model):
                p.add_((s * delta[start:start + p.numel()]).view_as(p).to(p.dtype))
                start += p.numel()
    finally:
        model.train(was_training)
    ctx.progress(3, steps, f"NTK step applied (scale {s:.3g})")
    if cfg.fisher_noise:
        def progress(done: int, total: int, msg: str) -> None:
            ctx.progress(3 + done, 3 + total, f"Fisher noise: {msg}")

        model = fisher_noise(model, data, dataclasses.replace(ctx, progress=progress), alpha=cfg.fisher_alpha)
    return model


DOC = """
**What it does.** Predicts, with a linearised (NTK) model of the network, how the weights would differ had
the network been trained on the retain set only. It then moves the weights by that difference in one step.
Optionally it adds Fisher forgetting's noise afterwards (the paper's "NTK + Fisher" procedure, on by default).
Expensive: it builds the full logit Jacobian of a retain sample plus the whole forget set. Small models and
small forget sets only.

**Equations** (Golatkar, Achille & Soatto 2020, the linearised-forgetting section; equation numbers not
re-checked, so not cited), as the official notebook computes them:
- Linearisation: `f_lin(x; w) = f(x; w_0) + J(x) (w - w_0)`. `J` is the `(n K) x P` Jacobian of the K logits
  w.r.t. all P weights, one row per sample and class. `w_0` is the original's weights (`linearize_at='trained'`,
  the official code) or its initial weights (`'init'`, the paper's derivation).
- Residuals (official `lossfn='ce'`): `r = softmax(f(x; w_0)) - onehot(y)`, on the observed labels.
- Kernel: `Theta = J J^T`, in float64.
- Ridge fit of the linearised model on a set S: `w_lin(S) = -J_S^T (Theta_SS + |S| lambda I)^-1 r_S`. This
  minimises `||J_S w + r_S||^2 + |S| lambda ||w||^2`: mean loss plus `lambda/2 ||w - w_0||^2`, the weight decay
  towards the initial weights that the official training uses.
- Direction: `delta = w_lin(D_r) - w_lin(D)`, with D = retain sample + forget set and D_r = the retain sample.
- With lambda -> 0 this is the paper's closed form `delta = P J_f^T M V`. Here
  `P = I - J_r^T Theta_rr^-1 J_r` (the projection off the retain gradients),
  `M = (Theta_ff - Theta_fr Theta_rr^-1 Theta_rf)^-1` and `V = r_f - Theta_fr Theta_rr^-1 r_r`.
  So the step leaves the linearised retain outputs unchanged (`J_r delta = 0`). The tests check both forms.
- Update: `w <- w_D + s delta`.
- Trapezium scale (official): `s = 1 + 2 |cos(delta, m)| ||m|| / ||delta||`, with
  `m = (w_D - w_init) - w_lin(D_r)`. The official code branches on the sign of the cosine; both branches
  reduce to this expression.
- NTK + Fisher: Fisher forgetting (`fisher`, its SCRUB-style rule) on the updated weights, with
  `alpha = fisher_alpha`, on the whole retain set.

**Hyper-parameters.**
- `retain_per_class` (default **5**): a seeded random subset per observed retain class.
  - The official code uses every retain sample of its small datasets: 100 per class (Small-CIFAR-5 and
    Small-Lacuna-5 draw 125 per class and keep 80 % for training). PGU (seed 003) used 1,500 of 49,500.
  - 5 is the largest round number that keeps the digits `mlp` (197,888 parameters) under the Jacobian limit
    with a whole digits class (about 146 samples) forgotten: `(146 + 45) x 10 x 197,888 x 4 B = 1.41 GiB`.
    With 7 per class the mlp is over the limit.
  - Time grows with `(n K)^2 P`, because forming the kernel dominates.
- `weight_decay` (default: the original's training weight decay; 5e-4 for the digits models): the ridge
  lambda, as the official code takes its training run's `--weight-decay` (0.1 in its small-scale runs).
- `scale` (default: the trapezium rule): a number fixes the multiplier. 1 applies the linearised prediction
  as is.
- `linearize_at` (default `trained`): see the equations and the differences below.
- `fisher_noise` (default on) and `fisher_alpha` (default 1e-9, the official NTK + Fisher cell; Fisher alone
  uses 1e-6 there).
- `chunk`: memory only.

**Needs.**
- Forget and retain inputs with their observed hard labels.
- Only the supervised and noisy-label paradigms. The residual `softmax - onehot(y)` needs one label per
  sample, so candidate sets (`partial_label`) and hidden labels (`label_free`) do not fit. Under noisy labels
  the observed (noisy) labels are used, with the CE residual of the official code, not the GCE gradient.
- The trapezium scale and `linearize_at='init'` need the original's initial weights. The method rebuilds them
  as the runner and `retrain` seed them (`manual_seed(seed)`, then `build_model`). A model whose parameter
  shapes differ from the rebuilt one makes the run not applicable.

**Size limit.** The float32 Jacobian is `(n_retain_sample + n_forget) x K x P x 4` bytes. Above **1.5 GiB**
the run is not applicable, with the sizes in the reason. On digits (K = 10, a whole class forgotten, about
146 samples, 5 per class kept) this is 0.57 GiB for the `cnn` (80,458 parameters) and 1.41 GiB for the
`mlp` (197,888). With K = 10 the limit allows at most 24 samples in all for `allcnn` (1.6M parameters), 23
for `smallvgg` on digits and 3 for `resnet18`. So those models are out of reach.

Time grows with `(n K)^2 P`. We measured the defaults on a shared 2-core CPU, digits class 3, 191 samples in
the kernel. With the `cnn` a run took 24 s of CPU time: Jacobian 1.5 s, kernel and solves 14 s, Fisher noise
8.5 s. With the `mlp` the NTK step alone took 44 s.

**Differences from the paper / official code, and caveats.**
- The official code linearises at the trained weights (Jacobians and residuals of the trained model), while
  the paper linearises around the weights training started from. The official models are fine-tuned from a
  pre-trained backbone with weight decay towards those weights, which keeps them in the linear regime. Our
  originals are trained from scratch, so neither variant is accurate here. We measured digits, `cnn`,
  class 3, the test fixture's original, 5 per class, with `fisher_noise` off:

  | setting | forget acc | retain acc | test acc on the other classes |
  | --- | --- | --- | --- |
  | original | 100 % | 99.9 % | 98.5 % |
  | `trained`, trapezium scale (2.96) | 100 % | 99.9 % | 98.1 % |
  | `trained`, scale 10 | 99.3 % | 99.8 % | 98.1 % |
  | `trained`, scale 30 | 91 % | 98.9 % | 96.9 % |
  | `init`, scale 0.5 | 28 % | 94.9 % | 93.2 % |
  | `init`, scale 1 | 0 | 62 % | 58 % |
  | `init`, trapezium scale (1.5) | 0 | 22 % | 24 % |

  The residuals of a well-fitted original are small, so the `trained` step barely moves it. With the
  defaults (`trained` plus Fisher noise, alpha 1e-9) forget accuracy is 0, retain 99.9 % and test on the
  other classes 98.1 %. That forgetting comes from Fisher's class-row rule (the removed class's classifier
  row is zeroed), not from the NTK step.
- A seeded per-class retain subset instead of the whole retain set (memory and time). The ridge uses the
  sizes of the sets in the kernel, which equal the dataset sizes in the official code.
- The trapezium trick needs the initial weights. The official code loads the checkpoint that fine-tuning
  started from; we rebuild the seeded initialisation (see Needs).
- Vectorised Jacobians (`torch.func.vmap(jacrev)`) instead of a batch-1 loop over K backward passes. The
  kernel is formed in float64, and the solves use `torch.linalg.solve` (least squares if singular) instead of
  an explicit inverse.
- The Fisher noise is this engine's `fisher` method with its SCRUB-style rules (see its doc). That matches the
  notebook's `get_mean_var`, including the removed-class rows in the class scenario.
"""


METHODS.register(Method(
    key="ntk", order=340, title="NTK forgetting", family="baseline",
    paper="Golatkar, Achille & Soatto 2020, 'Forgetting Outside the Box: Scrubbing Deep Networks of Information "
          "Accessible from Input-Output Observations' (ECCV); official code AdityaGolatkar/SelectiveForgetting",
    config=NTKConfig, needs=Needs(forget_labels=True, retain_data=True, retain_labels=True), unlearn=unlearn,
    doc=DOC, paradigms=PARADIGMS,
))
