"""Noisy-label learning (NLL) from UDRU (seed 000, Sec. 3.3) and LAF's noisy-label removal (seed 001).

Generators (``paradigm_params.noise``, rate r, default 0.2):

- ``symmetric`` (UDRU): each training label is replaced with probability r by a uniformly drawn *different*
  class, so exactly-r noise in expectation (the official UDRU code draws from all classes, true one included:
  effective rate r(K-1)/K; option ``official``);
- ``pair`` (PGU Sec. 4.5, after its ref. [44]): each label flips with probability r to its class's partner
  (``pairs`` ``"3-5,1-7"``: mutual partners, e.g. cat <-> dog; default k -> k+1 mod K);
- ``class_subset`` (LAF Sec. 5, Table 3): a share r of the samples of each chosen class (``classes``; LAF: 60 %
  of classes 0-4) gets a wrong label drawn from ``targets`` (default any other class).

``classes`` restricts symmetric and pair noise to samples of those classes too.
Loss (``train_loss``): generalised cross-entropy (GCE, Zhang & Sabuncu 2018) ``(1 - p_y^q)/q`` with q = 0.7 as
in UDRU (default), or cross-entropy as LAF and PGU train on their noise; the same loss is the methods' task loss.
The official UDRU code's truncated-Lq sample pruning every 40 epochs is not applied (our default training is a
few epochs). Unlearning methods see the noisy labels only; metrics report both the true-label and the
observed-label (``*_observed``) variants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.config import param
from engine.errors import SpecError
from engine.paradigms.base import PARADIGMS, Paradigm, Supervision, cross_entropy, one_hot_supervision

GCE_Q = 0.7


NOISES = ("symmetric", "pair", "class_subset")
TRAIN_LOSSES = ("gce", "ce")


def parse_classes(text: str, field: str, num_classes: int | None = None) -> tuple[int, ...] | None:
    """``"0,1,4"`` -> ``(0, 1, 4)``; empty -> ``None`` (all classes). Raises :class:`SpecError` naming ``field``."""
    text = text.strip()
    if not text:
        return None
    items = text.replace(" ", "").split(",")
    if not all(t.isascii() and t.isdigit() for t in items):
        raise SpecError(field, f"must be comma-separated class indices, got {text!r}")
    out = tuple(int(t) for t in items)
    if len(set(out)) != len(out):
        raise SpecError(field, f"a class is listed twice in {text!r}")
    if num_classes is not None and any(not 0 <= c < num_classes for c in out):
        raise SpecError(field, f"class indices must be in 0..{num_classes - 1}, got {text!r}")
    return out


def parse_pairs(text: str, field: str = "paradigm_params.pairs") -> tuple[tuple[int, int], ...] | None:
    """``"3-5,1-7"`` -> ``((3, 5), (1, 7))`` (mutual partners); empty -> ``None`` (each class k -> k+1 mod K)."""
    text = text.strip()
    if not text:
        return None
    pairs = []
    for part in text.replace(" ", "").split(","):
        a, sep, b = part.partition("-")
        if not sep or not a.isdigit() or not b.isdigit() or a == b:
            raise SpecError(field, f"pairs are 'a-b' of two different classes, comma-separated, got {part!r}")
        pairs.append((int(a), int(b)))
    seen = [c for p in pairs for c in p]
    if len(set(seen)) != len(seen):
        raise SpecError(field, "a class may belong to one pair only")
    return tuple(pairs)


@dataclass(frozen=True)
class NoisyLabelConfig:
    """How the noisy labels are drawn and which loss trains the original and retrain (``paradigm_params``)."""

    noise: str = param("symmetric", "symmetric: a flipped label becomes a uniformly drawn other class; pair: it "
                                    "becomes its class's partner (PGU de-poisoning); class_subset: a share r of "
                                    "the samples of the chosen classes gets a wrong label (LAF Table 3)",
                       choices=NOISES,
                       source="UDRU Sec. 3.3 (symmetric); PGU Sec. 4.5 (pair); LAF Sec. 5 (class_subset)")
    classes: str = param("", "true classes whose samples may be corrupted, comma-separated (empty = all). "
                             "class_subset: LAF uses 0,1,2,3,4", source="LAF Sec. 5: 60 % of classes 0-4")
    pairs: str = param("", "pair noise: mutual partners 'a-b,c-d' (a's samples flip to b and b's to a); empty = "
                           "each class k flips to k+1 mod K", source="PGU Sec. 4.5 (e.g. cat <-> dog)")
    targets: str = param("", "class_subset: the classes a corrupted label is drawn from (empty = any other class)")
    official: bool = param(False, "symmetric: draw the new label from all K classes, the true one included (the "
                                  "official UDRU code; effective rate r(K-1)/K)", source="UDRU official code")
    train_loss: str = param("gce", "loss that trains the original and retrain (and the methods' task loss): gce "
                                   "(UDRU) or ce (LAF and PGU train with cross-entropy on their noise)",
                            choices=TRAIN_LOSSES, source="UDRU Sec. 3.3 (GCE); LAF, PGU official code (CE)")

    @staticmethod
    def validate(cfg: NoisyLabelConfig, num_classes: int) -> None:
        """Check the options against each other and the dataset's classes (errors name the field)."""
        parse_classes(cfg.classes, "paradigm_params.classes", num_classes)
        targets = parse_classes(cfg.targets, "paradigm_params.targets", num_classes)
        pairs = parse_pairs(cfg.pairs)
        if pairs is not None:
            if cfg.noise != "pair":
                raise SpecError("paradigm_params.pairs", "pairs are only used with noise 'pair'")
            if any(not (0 <= c < num_classes) for p in pairs for c in p):
                raise SpecError("paradigm_params.pairs", f"classes must be in 0..{num_classes - 1}")
        if targets is not None and cfg.noise != "class_subset":
            raise SpecError("paradigm_params.targets", "targets are only used with noise 'class_subset'")
        if cfg.official and cfg.noise != "symmetric":
            raise SpecError("paradigm_params.official", "the official draw exists for symmetric noise only")


def supervise(y_true: torch.Tensor, num_classes: int, rate: float | None, labelled_fraction: float,
              generator: torch.Generator, official: bool = False, classes: tuple[int, ...] | str | None = None,
              noise: str = "symmetric", pairs: tuple[tuple[int, int], ...] | str | None = None,
              targets: tuple[int, ...] | str | None = None, train_loss: str = "gce") -> Supervision:
    """Corrupt labels with rate ``rate`` (seeded) as ``noise`` says (see :class:`NoisyLabelConfig`).

    ``symmetric`` / ``pair``: each label (of ``classes``, default all) flips independently with probability r.
    ``class_subset``: exactly ``round(r * n_c)`` samples of each chosen class (LAF: 60 % of classes 0-4) get a
    label drawn uniformly from ``targets`` minus their true class (default: any other class).
    """
    r = 0.2 if rate is None else rate
    if isinstance(classes, str):
        classes = parse_classes(classes, "paradigm_params.classes", num_classes)
    if isinstance(targets, str):
        targets = parse_classes(targets, "paradigm_params.targets", num_classes)
    if isinstance(pairs, str):
        pairs = parse_pairs(pairs)
    n = y_true.shape[0]
    y_cpu = y_true.cpu()
    eligible = torch.ones(n, dtype=torch.bool) if classes is None else \
        torch.isin(y_cpu, torch.tensor(classes, dtype=y_cpu.dtype))
    if noise == "class_subset":
        pool = torch.arange(num_classes) if targets is None else torch.tensor(sorted(set(targets)))
        flip = torch.zeros(n, dtype=torch.bool)
        new = y_cpu.clone()
        for c in (range(num_classes) if classes is None else classes):
            members = torch.nonzero(y_cpu == c).flatten()
            k = int(round(r * members.numel()))
            chosen = members[torch.randperm(members.numel(), generator=generator)[:k]]
            allowed = pool[pool != c]
            if allowed.numel() == 0 or k == 0:
                continue
            pick = torch.randint(0, allowed.numel(), (k,), generator=generator)
            new[chosen] = allowed[pick]
            flip[chosen] = True
    else:
        flip = (torch.rand(n, generator=generator) < r) & eligible
        if noise == "pair":
            partner = torch.arange(num_classes)
            if pairs is None:
                partner = (partner + 1) % num_classes
            else:
                for a, b in pairs:
                    if not (0 <= a < num_classes and 0 <= b < num_classes):
                        raise SpecError("paradigm_params.pairs", f"classes must be in 0..{num_classes - 1}")
                    partner[a], partner[b] = b, a
            new = partner[y_cpu]
        elif official:
            new = torch.randint(0, num_classes, (n,), generator=generator)
        else:
            offset = torch.randint(1, num_classes, (n,), generator=generator)
            new = (y_cpu + offset) % num_classes
    noisy = torch.where(flip, new, y_cpu)
    return one_hot_supervision(noisy.to(y_true.device), num_classes)


def gce_loss(logits: torch.Tensor, sup: Supervision) -> torch.Tensor:
    """Generalised cross-entropy ``mean((1 - p_y^q) / q)`` on the observed (noisy) labels."""
    if not bool(sup.labelled.all()):
        logits, sup = logits[sup.labelled], sup.take(sup.labelled)
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits, dim=1).gather(1, sup.labels[:, None]).squeeze(1)
    return ((1.0 - torch.exp(GCE_Q * logp)) / GCE_Q).mean()


def training_loss(cfg: NoisyLabelConfig) -> Callable[[torch.Tensor, Supervision], torch.Tensor]:
    """The loss ``cfg.train_loss`` names: GCE (UDRU) or cross-entropy (LAF, PGU) on the noisy labels."""
    return gce_loss if cfg.train_loss == "gce" else cross_entropy


PARADIGMS.register(Paradigm(
    key="noisy_label", title="Noisy-label (NLL)", short="NLL", supervise=supervise, loss=gce_loss,
    config=NoisyLabelConfig, loss_of=training_loss,
    loss_name="generalised cross-entropy (GCE, q=0.7)", visible="labels", rate_name="r", default_rate=0.2,
    description="A fraction r of training labels is replaced by another class; methods see the noisy "
                "labels, evaluation always uses the true ones.",
    source="UDRU (seed 000) Sec. 3.3; LAF (seed 001) noisy-label removal; Zhang & Sabuncu 2018 (GCE)",
))
