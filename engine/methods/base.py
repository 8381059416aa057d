"""Method contract (DESIGN.md "Contracts"): needs, hyper-parameter schema, ``unlearn(model, data, cfg, ctx)``.

A method only ever receives an :class:`UnlearnData` built from what it declares in :class:`Needs`:
data or labels it did not declare are absent (``None``), so a method cannot use them by accident,
and under the ``label_free`` paradigm no label reaches a method at all (except the labelled retain
sample a method may declare for a repair step, as LAF+R does). No method ever sees the test split: held-out
data for stopping, checkpoint selection or calibration comes from the ``val`` split
(``Needs.val_data`` / ``Needs.val_labels``; DESIGN.md "Evaluation protocol"). The view is built and audited in
one place, :func:`engine.runner.views.make_view`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.paradigms.base import Supervision
from engine.registry import Registry
from engine.training.config import TrainConfig
from engine.training.loop import LossFn, Progress


@dataclass(frozen=True)
class Needs:
    """What a method needs from the setting; unmet needs make it ``not_applicable`` with a reason."""

    forget_labels: bool = False
    retain_data: bool = False
    retain_labels: bool = False
    labelled_retain_sample: bool = False  # LAF+R: labels of a retain sample of the forget set's size
    train_time_state: tuple[str, ...] = ()  # recorder keys, see engine.training.recording
    val_data: bool = False  # inputs of the validation split (for stopping / checkpoint selection / calibration)
    val_labels: bool = False  # the paradigm's supervision of the validation split (never under label_free)

    def describe(self) -> str:
        """Human-readable list (for docs and the UI)."""
        parts = ["forget inputs"]
        if self.forget_labels:
            parts.append("forget labels")
        if self.retain_data:
            parts.append("retain inputs")
        if self.retain_labels:
            parts.append("retain labels")
        if self.labelled_retain_sample:
            parts.append("a labelled retain sample")
        if self.train_time_state:
            parts.append("training-time state: " + ", ".join(self.train_time_state))
        if self.val_data or self.val_labels:
            parts.append("validation inputs" + (" and labels" if self.val_labels else ""))
        return ", ".join(parts)


@dataclass(frozen=True)
class UnlearnData:
    """The data a method may see (fields it did not declare are ``None``)."""

    x_forget: torch.Tensor
    sup_forget: Supervision | None
    x_retain: torch.Tensor | None
    sup_retain: Supervision | None
    num_classes: int
    paradigm: str
    loss: LossFn  # the paradigm's loss on whatever supervision is passed
    train_state: dict[str, Any] = field(default_factory=dict)
    x_val: torch.Tensor | None = None  # validation inputs (``Needs.val_data``/``val_labels``), e.g. for stopping
    sup_val: Supervision | None = None  # their supervision as the paradigm shows it (``Needs.val_labels``)
    retain_sample_idx: torch.Tensor | None = None  # positions in x_retain whose sup_retain is labelled
    scenario: str = ""  # the scenario key (metadata only: lets a method pick the paper's rule for it)
    forget_train_idx: torch.Tensor | None = None  # training-set indices of the forget set (only with batch_updates)


@dataclass
class UnlearnContext:
    """Run-time services for a method: seed, device, progress, the training config, incremental carry."""

    seed: int
    device: torch.device
    train_cfg: TrainConfig
    model_key: str
    input_shape: tuple[int, int, int]
    progress: Progress = lambda done, total, msg: None
    carry: dict[str, Any] = field(default_factory=dict)  # survives across incremental requests
    request: int = 0

    def generator(self, stream: int = 0) -> torch.Generator:
        """A CPU generator derived from the run's seed (``stream`` separates independent draws)."""
        return torch.Generator().manual_seed(self.seed * 7919 + 104729 * (self.request + 1) + stream)


Unlearn = Callable[[nn.Module, UnlearnData, Any, UnlearnContext], nn.Module]

# How a method's shipped (digits) defaults were chosen -- ``Method.defaults_chosen`` (DESIGN.md "Evaluation
# protocol": one tuning protocol; the tuner that re-chooses them on ``val`` is a later issue).
CHOSEN_ON_TEST = ("hand-chosen for digits / cnn (class removal) in an earlier version by looking at test-split "
                  "results of the seeds the presets report -- there was no validation split then, so these "
                  "defaults have seen the test split and favour this method on digits; they have not yet been "
                  "re-chosen on `val`. The papers' own values are in `PAPER_DEFAULTS` (full-size presets use them)")
LITERATURE = ("the paper's / official code's values (each field's source says which); fields whose source says "
              "'ours' were set by hand for digits without a recorded protocol (treat them as chosen on test-split "
              "numbers); none was tuned on `val`")
NO_HYPERPARAMETERS = "no hyper-parameters (the original's training config)"


@dataclass(frozen=True)
class Method:
    """A registered unlearning method."""

    key: str
    title: str
    family: str  # "reference" | "fine-tuning" | "gradient" | "relabel" | "seed" | ...
    paper: str
    config: type
    needs: Needs
    unlearn: Unlearn
    doc: str
    paradigms: tuple[str, ...] | None = None  # paradigms the method supports (None = any)
    defaults_chosen: str = LITERATURE  # how the shipped defaults were chosen (CHOSEN_ON_TEST, LITERATURE, ...)

    def ours_fields(self) -> tuple[str, ...]:
        """Hyper-parameters whose default is ours, not a paper's (their schema source says 'ours' or 'digits')."""
        from engine.config import schema

        return tuple(p.name for p in schema(self.config)
                     if "ours" in (p.source or "").lower() or "digits" in (p.source or "").lower())


METHODS: Registry[Method] = Registry("method")
