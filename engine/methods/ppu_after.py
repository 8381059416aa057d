"""``ppu_after`` (Method + PPU): run another registered method, then PPU on its output (PPU as a plug-in).

Source: Zhao et al., Pseudo-Probability Unlearning (seed 004), Sec. 4.1.2 and 5.7, Appendix A.1 (Tables 6-10:
SCRUB + PPU; Sec. 5.7 also fine-tuning + PPU). The base runs with its module's own pre-tuning defaults (not the
tuner's shipped values: PPU-after's defaults are chosen with the base at those, and a base's tuned values are chosen
for the base alone, not as PPU's starting point); PPU's
fields and defaults are :class:`engine.methods.ppu.PpuConfig`'s. Needs: what the bases may need (forget and
retain labels, retain inputs, layer statistics, held-out inputs), hence not applicable under ``label_free``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import nn

from engine.config import build_config, param
from engine.errors import NotApplicable
from engine.methods import ppu
from engine.methods.base import CHOSEN_ON_TEST, METHODS, Method, Needs, UnlearnContext, UnlearnData
from engine.methods.shared.tuned_defaults import pretuned_config

BASES = ("scrub", "finetune", "neggrad_plus", "gradient_ascent", "random_label", "ugradsl", "ugradsl_plus",
         "udru", "pgu", "laf", "bad_teacher", "salun", "l1_sparse", "cf_k", "eu_k", "boundary_shrink", "ssd")
"""Catalogue methods that make sense before PPU (they return an unlearned model of the same architecture)."""

NEEDS = Needs(forget_labels=True, retain_data=True, retain_labels=True, train_time_state=("layer_covariance",),
              val_data=True, val_labels=True)


@dataclass(frozen=True)
class _Base:
    base: str = param("finetune", "method run first (with its default hyper-parameters); PPU then starts from "
                                  "its output", choices=BASES,
                      source="paper: SCRUB (Sec. 5.7, Tables 6-10) and fine-tuning (Sec. 5.7)",
                      search="chooses which method PPU post-processes (what the row is), not how PPU runs")


@dataclass(frozen=True)
class PpuAfterConfig(ppu.PpuConfig, _Base):
    """The base method, then every PPU hyper-parameter."""


def _base_view(data: UnlearnData, needs: Needs, method: str) -> UnlearnData:
    """``data`` restricted to what the base declared (as the runner would have built it for the base alone)."""
    return replace(
        data,
        method=method,
        sup_forget=data.sup_forget if needs.forget_labels else None,
        x_retain=data.x_retain if (needs.retain_data or needs.retain_labels) else None,
        sup_retain=data.sup_retain if needs.retain_labels else None,
        train_state={k: v for k, v in data.train_state.items() if k in needs.train_time_state},
        x_val=data.x_val if (needs.val_data or needs.val_labels) else None,
        sup_val=data.sup_val if needs.val_labels else None,
        retain_sample_idx=None,
    )


def base_config(base: Method) -> object:
    """The base's configuration: its module's own pre-tuning defaults (PPU-after's defaults are chosen with the base
    there; the tuner's shipped values for the base are chosen for the base alone)."""
    return build_config(pretuned_config(base.config), {}, f"methods.{base.key}")


def unlearn(model: nn.Module, data: UnlearnData, cfg: PpuAfterConfig, ctx: UnlearnContext) -> nn.Module:
    """Run ``cfg.base`` with its default config, then PPU with ``cfg``'s PPU fields."""
    if cfg.base not in METHODS:
        raise NotApplicable(f"base method {cfg.base!r} is not available in this version "
                            f"(registered: {', '.join(k for k in BASES if k in METHODS) or 'none'})")
    base = METHODS.get(cfg.base)
    needs = base.needs
    missing = [what for what, ok in (
        ("a labelled retain sample", not needs.labelled_retain_sample),
        ("training-time state " + ", ".join(needs.train_time_state),
         set(needs.train_time_state) <= set(NEEDS.train_time_state)),
    ) if not ok]
    if missing:
        raise NotApplicable(f"base {cfg.base} needs {', '.join(missing)}, which ppu_after does not provide")
    if base.paradigms is not None and data.paradigm not in base.paradigms:
        raise NotApplicable(f"base {base.title} is defined for the {', '.join(base.paradigms)} paradigm(s) only")
    model = base.unlearn(model, _base_view(data, needs, base.key), base_config(base), ctx)
    return ppu.unlearn(model, data, cfg, ctx)


DOC = r"""
**What it does.** PPU as a post-processing plug-in (Sec. 4.1.2, 5.7): the base method (`base`) unlearns first,
with its own pre-tuning default hyper-parameters, then PPU (see the `ppu` entry) starts from the base's output: its
outputs on retain inputs become $A_r$, the forget rows are replaced by pseudo-probabilities, refined under the
class-mass constraints (Eq. 1-7) and fitted with the KL loss. The paper reports SCRUB + PPU (Appendix A.1,
Tables 6-10: forget error up by >50 % on bias removal with <0.5 % retain error) and fine-tuning + PPU
(Sec. 5.7: CIFAR-10 ResNet, forget error 16 % -> 60 %).

**Hyper-parameters.** `base` (choices: scrub, finetune, neggrad_plus, gradient_ascent, random_label, ugradsl,
ugradsl_plus, udru, pgu, laf, bad_teacher, salun, l1_sparse, cf_k, eu_k, boundary_shrink, ssd; default
finetune, the cheapest base the paper uses; SCRUB is the paper's main one), then every PPU field with PPU's
defaults and ranges. The base's own hyper-parameters are its defaults (set them by running the base alone).

**Needs:** forget labels, retain inputs and labels, layer statistics (`layer_covariance`) and the validation split
(inputs and labels; never the test split):
the union of what the bases may need, since needs are declared per method, not per configuration. Hence
**not applicable under `label_free`** (run `ppu` there, or `laf` alone). The base only sees what it declares
itself. A base that is not registered in this version, needs something else (a labelled retain sample, other
training-time state) or does not support the paradigm makes the run *not applicable* with that reason.

**Differences from the paper:** the paper tunes the base per experiment; we use the base's defaults. PPU's
differences are listed on its own entry.
"""

METHODS.register(Method(
    defaults_chosen=CHOSEN_ON_TEST,
    key="ppu_after", order=170, title="Method + PPU (plug-in)", family="seed",
    paper="Zhao et al., Pseudo-Probability Unlearning (seed 004), Sec. 5.7 and Appendix A.1",
    config=PpuAfterConfig, needs=NEEDS, unlearn=unlearn, doc=DOC,
))
