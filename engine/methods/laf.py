"""``laf`` (LAF, Label-Agnostic Forgetting): unlearning without any label, at the representation level.

Source: Shen et al., "Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep Models", ICLR 2024
(seed 001, Sec. 3, Eq. 4-5, 10, 11, Algorithm 1), and the official code ShaofeiShen768/LAF @bda3694
(``VUnlearning.py``, ``Train.py``, ``Model.py``, ``hyperparameter.md``).

Two VAEs are fitted on the frozen original extractor's embeddings (one on all training inputs, one on the
forget inputs); the extractor ``model.features`` is then updated alternately by the extractor-unlearning loss
(Eq. 10) and the representation-alignment loss (Eq. 11); the head ``model.head`` is never touched.

Defaults: the official ``hyperparameter.md`` (CNN on MNIST/Fashion: latent 8, 20 epochs, lr_UE 5e-5,
lr_RA 1e-4, tau 5 random / 20 class and noisy; ResNet on CIFAR-10/SVHN: latent 16, 40 epochs, lr_UE 1e-5,
lr_RA 4e-5 (5e-5 class), tau 20 (5 noisy)), batch 32, VAE Adam 1e-3 for 10 epochs, KL weight 0.025; see
``PAPER_DEFAULTS``. On the embedded digits set the learning rates are raised (few forget batches per epoch).
Needs: forget inputs and retain inputs only; no label of any kind (runs under the ``label_free`` paradigm).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.methods.base import CHOSEN_ON_TEST, METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.descent import batches, check_finite, descend_steps, take_step

# hyperparameter.md of the official code, per dataset of the paper and per task (our scenario keys).
_CNN = {"latent_dim": 8, "epochs": 20, "lr_ue": 5e-5, "lr_ra": 1e-4, "batch_size": 32}
_RESNET = {"latent_dim": 16, "epochs": 40, "lr_ue": 1e-5, "batch_size": 32}
PAPER_DEFAULTS: dict[str, dict[str, dict[str, float | int]]] = {
    ds: {"random": {**_CNN, "tau": 5.0}, "class": {**_CNN, "tau": 20.0}, "noisy_labels": {**_CNN, "tau": 20.0}}
    for ds in ("mnist", "fashion_mnist")
} | {
    ds: {"random": {**_RESNET, "lr_ra": 4e-5, "tau": 20.0}, "class": {**_RESNET, "lr_ra": 5e-5, "tau": 20.0},
         "noisy_labels": {**_RESNET, "lr_ra": 4e-5, "tau": 5.0}}
    for ds in ("cifar10", "svhn")
}
"""Official per-dataset/per-task values (``hyperparameter.md``): ``PAPER_DEFAULTS[dataset][scenario]``."""

_VAE_HIDDEN = (128, 32)  # official encoder 256 -> 128 -> 32 -> (mu, logvar); decoder mirrors it


@dataclass(frozen=True)
class LafConfig:
    """Hyper-parameters of LAF."""

    epochs: int = param(20, "unlearning epochs; one epoch = one pass over the forget batches (zip with "
                            "retain batches)", range=(1, 500),
                        source="official: 20 (CNN on MNIST/Fashion), 40 (ResNet on CIFAR-10/SVHN)", cost="linear")
    lr_ue: float = param(5e-4, "Adam learning rate of the extractor-unlearning step (Eq. 10)",
                         range=(1e-7, 1e-1), log=True,
                         source="official: 5e-5 (CNN), 1e-5 (ResNet); digits: raised, few batches per epoch")
    lr_ra: float = param(1e-3, "Adam learning rate of the representation-alignment step (Eq. 11)",
                         range=(1e-7, 1e-1), log=True,
                         source="official: 1e-4 (CNN), 4e-5 random/noisy, 5e-5 class (ResNet); digits: raised")
    tau: float = param(20.0, "temperature of the forget term of the alignment loss (Eq. 11)", range=(0.01, 1000.0),
                       log=True, source="official: CNN 5 random / 20 class, noisy; ResNet 20 random, class / 5 noisy")
    latent_dim: int = param(8, "VAE latent size", range=(1, 512), source="official: 8 (CNN), 16 (ResNet)",
                            cost="linear")
    batch_size: int = param(32, "mini-batch size of forget and retain batches (and of VAE training)",
                            range=(1, 4096), source="official: 32", cost="inverse")
    vae_epochs: int = param(10, "training epochs of each VAE (Eq. 4, 5)", range=(1, 500), source="official: 10",
                            cost="linear")
    vae_lr: float = param(1e-3, "Adam learning rate of the VAEs", range=(1e-6, 1e-1), log=True,
                          source="official: 1e-3")
    kl_weight: float = param(0.025, "weight of the KL term in the VAE loss", range=(0.0, 10.0),
                             source="official: 0.025")
    decoder_sigmoid: bool = param(False, "end the VAE decoder in a sigmoid as the official code does (it cannot "
                                         "reconstruct negative embeddings); off = linear output as in the paper",
                                  source="paper: linear (Gaussian likelihood); official code: sigmoid")
    ue_exp: bool = param(False, "use the official code's per-sample term exp(d/(d+1)) instead of the paper's "
                                "d/(d+1) in Eq. 10", source="paper Eq. 10: d/(d+1); official code: exp(d/(d+1))")


class EmbeddingVAE(nn.Module):
    """The official LAF VAE on embeddings: ``dim -> 128 -> 32 -> (mu, logvar)``, decoder mirrored."""

    def __init__(self, dim: int, latent: int, sigmoid: bool) -> None:
        super().__init__()
        h1, h2 = _VAE_HIDDEN
        self.enc = nn.Sequential(nn.Linear(dim, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU())
        self.mu = nn.Linear(h2, latent)
        self.logvar = nn.Linear(h2, latent)
        self.dec = nn.Sequential(nn.Linear(latent, h2), nn.ReLU(), nn.Linear(h2, h1), nn.ReLU(), nn.Linear(h1, dim))
        self.sigmoid = sigmoid

    def forward(self, e: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction of ``e`` from the reparameterised sample ``mu + sigma * noise``; also ``mu, logvar``."""
        h = self.enc(e)
        mu, logvar = self.mu(h), self.logvar(h)
        out = self.dec(mu + torch.exp(0.5 * logvar) * noise)
        return (torch.sigmoid(out) if self.sigmoid else out), mu, logvar


def _init_seeded(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default ``nn.Linear`` init (kaiming-uniform a=sqrt(5), uniform bias), drawn from ``gen``."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)  # == kaiming_uniform(a=sqrt(5)) bound for the weight
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound)
                if m.bias is not None:
                    m.bias.copy_((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * bound)


def _device_generator(gen: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded from ``gen`` (noise is drawn where it is used: no host copies)."""
    return torch.Generator(device=device).manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))


def vae_loss(rec: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, e: torch.Tensor,
             kl_weight: float) -> torch.Tensor:
    """Eq. 4/5 as in the official code: ``(sum-MSE + kl_weight * KL(N(mu, sigma^2) || N(0, I))) / B``."""
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (F.mse_loss(rec, e, reduction="sum") + kl_weight * kl) / e.shape[0]


def train_vae(emb: torch.Tensor, cfg: LafConfig, gen: torch.Generator) -> tuple[EmbeddingVAE, list[float]]:
    """Fit a VAE on fixed embeddings ``emb`` (Adam, ``cfg.vae_epochs``); returns it frozen, with epoch losses."""
    vae = EmbeddingVAE(emb.shape[1], cfg.latent_dim, cfg.decoder_sigmoid)
    _init_seeded(vae, gen)
    vae = vae.to(emb.device)
    dev_gen = _device_generator(gen, emb.device)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.vae_lr)
    history: list[float] = []
    vae.train()

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        e = emb[idx]
        noise = torch.randn(e.shape[0], cfg.latent_dim, generator=dev_gen, device=e.device)
        return vae_loss(*vae(e, noise), e, cfg.kl_weight)

    for _ in range(cfg.vae_epochs):
        total = emb.new_zeros(())
        count = 0
        for loss in descend_steps(opt, batches(emb.shape[0], cfg.batch_size, gen, emb.device), loss_of):
            total = total + loss.detach()
            count += 1
        history.append(float(total) / max(count, 1))
    check_finite(torch.tensor(history[-1]), "laf (VAE training)")
    vae.eval()
    vae.requires_grad_(False)
    return vae, history


def ue_terms(e: torch.Tensor, rec: torch.Tensor, exp_form: bool = False) -> torch.Tensor:
    """Per-sample normalised reconstruction error of Eq. 10: ``d/(d+1)`` (or ``exp(d/(d+1))``), d = ||e - rec||^2."""
    d = (e - rec).pow(2).sum(1)
    r = d / (d + 1)
    return torch.exp(r) if exp_form else r


def ue_loss(e_r: torch.Tensor, rec_r: torch.Tensor, e_f: torch.Tensor, rec_f: torch.Tensor,
            exp_form: bool = False) -> torch.Tensor:
    """Eq. 10: summed normalised error of the all-data VAE on retain embeddings minus the forget VAE's on forget."""
    return ue_terms(e_r, rec_r, exp_form).sum() - ue_terms(e_f, rec_f, exp_form).sum()


def ra_loss(s_r: torch.Tensor, t_r: torch.Tensor, s_f: torch.Tensor, t_f: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 11 with simloss = 1 - cos: ``sum_r [c_r - log sum_f exp(c_f / tau)]`` (student ``s``, teacher ``t``)."""
    c_r = 1 - F.cosine_similarity(s_r, t_r, dim=1)
    c_f = 1 - F.cosine_similarity(s_f, t_f, dim=1)
    return (c_r - torch.logsumexp(c_f / tau, dim=0)).sum()


def laf_extractor_unlearning(model: nn.Module, x_forget: torch.Tensor, x_retain: torch.Tensor, cfg: LafConfig,
                             ctx: UnlearnContext, gen: torch.Generator) -> nn.Module:
    """Algorithm 1 lines 1-6: fit the two VAEs, then alternate Eq. 10 and Eq. 11 steps on ``model.features``."""
    extractor = model.features
    model.eval()  # as the official code: BN statistics frozen, dropout off, during the whole of LAF
    with torch.no_grad():
        emb_f = extractor(x_forget)
        emb_all = torch.cat([emb_f, extractor(x_retain)])  # official: VAE h on the full training loader
    vae_all, _ = train_vae(emb_all, cfg, gen)
    vae_f, _ = train_vae(emb_f, cfg, gen)
    teacher = copy.deepcopy(extractor).eval().requires_grad_(False)
    params = list(extractor.parameters())
    opt_ue = torch.optim.Adam(params, lr=cfg.lr_ue)  # two optimisers with separate moments, as official
    opt_ra = torch.optim.Adam(params, lr=cfg.lr_ra)
    dev_gen = _device_generator(gen, x_forget.device)
    n_f, n_r = x_forget.shape[0], x_retain.shape[0]
    loss_ue = loss_ra = x_forget.new_zeros(())
    for epoch in range(cfg.epochs):
        f_batches = batches(n_f, cfg.batch_size, gen, x_forget.device)
        r_batches = batches(n_r, cfg.batch_size, gen, x_forget.device)
        for idx_f, idx_r in zip(f_batches, r_batches, strict=False):  # steps = number of forget batches
            xf, xr = x_forget[idx_f], x_retain[idx_r]
            e_r, e_f = extractor(xr), extractor(xf)
            noise_r = torch.randn(e_r.shape[0], cfg.latent_dim, generator=dev_gen, device=e_r.device)
            noise_f = torch.randn(e_f.shape[0], cfg.latent_dim, generator=dev_gen, device=e_f.device)
            loss_ue = take_step(opt_ue, ue_loss(e_r, vae_all(e_r, noise_r)[0], e_f, vae_f(e_f, noise_f)[0],
                                                cfg.ue_exp))
            with torch.no_grad():
                t_r, t_f = teacher(xr), teacher(xf)
            loss_ra = take_step(opt_ra, ra_loss(extractor(xr), t_r, extractor(xf), t_f, cfg.tau))
        check_finite(loss_ue, "laf (extractor unlearning, Eq. 10)")
        check_finite(loss_ra, "laf (representation alignment, Eq. 11)")
        ctx.progress(epoch + 1, cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}")
    return model


def unlearn(model: nn.Module, data: UnlearnData, cfg: LafConfig, ctx: UnlearnContext) -> nn.Module:
    """LAF: VAEs on frozen embeddings, then alternating Eq. 10 / Eq. 11 Adam steps on the extractor only."""
    return laf_extractor_unlearning(model, data.x_forget, data.retain_inputs(), cfg, ctx, ctx.generator())


DOC = r"""
**What it does.** LAF removes the forget set at the *representation* level and never looks at a label, so it
runs under the `label_free` paradigm. The model is split into the extractor `features` (the paper's
$g^e$) and the classifier `head` ($g^c$); only the extractor changes.

1. **Two VAEs on embeddings** of the frozen original extractor (Eq. 4, 5): $h$ on *all* training inputs
   (forget + retain; the paper argues $D$ approximates $D_r$ and the official code does the same), $h_f$ on
   the forget inputs. Encoder `d -> 128 -> 32 -> (mu, logvar)`, decoder mirrored (`d` = the model's embedding
   size; 256 for `cnn`, as official), loss = sum-MSE/B + 0.025 KL/B, Adam 1e-3, 10 epochs, batch 32.
2. **Extractor unlearning** (Eq. 10), with $d_h(x) = \|g_U^e(x) - h(g_U^e(x))\|_2^2$:
   $L_{UE} = \sum_{x\in X_r} \frac{d_h(x)}{d_h(x)+1} - \sum_{x\in X_f} \frac{d_{h_f}(x)}{d_{h_f}(x)+1}$:
   the retain embeddings should stay where $h$ reconstructs them, the forget embeddings should leave the region
   $h_f$ reconstructs. Both VAEs are frozen; the gradient flows through the VAE into the extractor.
3. **Representation alignment** (Eq. 11), with simloss $c(x) = 1 - \cos(g_U^e(x), g_D^e(x))$ against the frozen
   original extractor: $L_{RA} = \sum_{x\in X_r} \big[c(x) - \log \sum_{\hat x \in X_f} \exp(c(\hat x)/\tau)\big]$:
   retain representations are pulled back to the original ones (so the unchanged head still fits them),
   forget representations pushed away.
4. Eq. 10 and Eq. 11 steps **alternate** on every pair of (forget batch, retain batch), each with its own Adam
   optimiser (`lr_ue`, `lr_ra`); one epoch = one pass over the forget batches (`zip` with shuffled retain
   batches, as official), `epochs` epochs; losses are sums over the batch (official).

**Hyper-parameters** (official `hyperparameter.md`; paper presets in `PAPER_DEFAULTS[dataset][scenario]`):

| field | range | digits default | CNN (MNIST, Fashion) | ResNet-18 (CIFAR-10, SVHN) |
| --- | --- | --- | --- | --- |
| `epochs` | 1-500 | 20 | 20 | 40 |
| `lr_ue` | 1e-7-0.1 | 5e-4 | 5e-5 | 1e-5 |
| `lr_ra` | 1e-7-0.1 | 1e-3 | 1e-4 | 4e-5 (class 5e-5) |
| `tau` | 0.01-1000 | 20 | 5 random, 20 class/noisy | 20 random/class, 5 noisy |
| `latent_dim` | 1-512 | 8 | 8 | 16 |
| `batch_size` | 1-4096 | 32 | 32 | 32 |
| `vae_epochs`, `vae_lr`, `kl_weight` | | 10, 1e-3, 0.025 | same | same |

The digits learning rates are larger than the paper's: with ~145 forget samples an epoch is only 5 steps
(MNIST class removal: ~185), so the paper's rates barely move the model in 100 steps (measured on digits,
class 3: forget accuracy stays 1.0 after 20 epochs at 5e-5/1e-4 and reaches ~0 after 200 epochs; with the
digits defaults it reaches ~0 in 20 epochs, retain accuracy ~1.0, test accuracy as retrain's).

**Needs:** forget inputs and retain inputs; no labels, no training-time state.

**Where we differ from the paper / the official code, and why**
- *Decoder output*: the official decoder ends in a **sigmoid**, which cannot reconstruct the (unbounded,
  partly negative) embeddings; the paper's VAE has a plain Gaussian likelihood. Default: linear output (paper);
  `decoder_sigmoid=true` gives the official variant.
- *UE term*: the paper's Eq. 10 uses $d/(d+1)$, the official code $\exp(d/(d+1))$ (same sign, different
  weighting). Default: paper; `ue_exp=true` gives the official form.
- *VAE input size*: the official VAE is fixed to 256-d embeddings; ours takes the model's embedding size
  (hidden sizes 128 and 32 kept), so any model of the zoo works.
- *Mode*: as in the official code the whole model stays in **eval mode** during unlearning (BN statistics
  frozen, dropout off); the official code does this by accident (its test routine leaves the model in eval),
  we do it on purpose and say so.
- *Head*: the official optimisers cover all parameters but the head (`fc2`) gets no gradient from Eq. 10/11;
  ours cover only `features`, which is the same update.
- *Data*: no augmentation of forget/retain batches (the official CIFAR/SVHN loaders augment them); the VAEs'
  embeddings are computed once from the frozen original instead of per batch (same values in eval mode).
- *Randomness*: VAE initialisation, batch order and reparameterisation noise come from the run's seed.
"""

METHODS.register(Method(
    defaults_chosen=CHOSEN_ON_TEST,
    key="laf", order=110, title="LAF (Label-Agnostic Forgetting)", family="seed",
    paper="Shen et al., Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep Models, ICLR 2024 (seed 001)",
    config=LafConfig, needs=Needs(retain_data=True), unlearn=unlearn, doc=DOC,
))
