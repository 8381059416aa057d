"""Method contract (DESIGN.md "Contracts"): needs, hyper-parameter schema, ``unlearn(model, data, cfg, ctx)``.

A method only ever receives an :class:`UnlearnData` built from what it declares in :class:`Needs`:
data or labels it did not declare are absent (``None``), so a method cannot use them by accident,
and under the ``label_free`` paradigm no label reaches a method at all (except the labelled retain
sample a method may declare for a repair step, as LAF+R does). No method ever sees the test split: held-out
data for stopping, checkpoint selection or calibration comes from the ``val`` split
(``Needs.val_data`` / ``Needs.val_labels``; DESIGN.md "Evaluation protocol"). The view is built and audited in
one place, :func:`engine.jobs.method_inputs.make_view`. Methods read it through the typed accessors
(:meth:`UnlearnData.retain`, :meth:`UnlearnData.forget_supervision`, :meth:`UnlearnData.val`, ...), which raise
:class:`UndeclaredNeed` naming the missing declaration instead of handing ``None`` on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.errors import RunFailed
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


class UndeclaredNeed(RunFailed):
    """A method read data its :class:`Needs` did not declare (a bug in the method, not in the user's spec)."""


@dataclass(frozen=True)
class UnlearnData:
    """The data a method may see (fields it did not declare are ``None``; read them through the accessors)."""

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
    method: str = ""  # the key of the method the view was built for (named in UndeclaredNeed errors)

    def _declared(self, value: Any, need: str, what: str) -> Any:
        """``value``, or :class:`UndeclaredNeed` naming the :class:`Needs` field that would have provided it."""
        if value is None:
            who = f"method {self.method!r}" if self.method else "the method"
            labels = " (and no label reaches a method under label_free)" if "labels" in need else ""
            raise UndeclaredNeed(f"{who} did not declare {need}: its view holds no {what}; add "
                                 f"Needs({need}=True) to its registration{labels}")
        return value

    def forget_supervision(self) -> Supervision:
        """The forget set's observed supervision (labels, candidate sets or noisy labels): ``Needs.forget_labels``."""
        return self._declared(self.sup_forget, "forget_labels", "forget labels")

    def retain_inputs(self) -> torch.Tensor:
        """The retain set's inputs: ``Needs.retain_data`` (also given with ``retain_labels``)."""
        return self._declared(self.x_retain, "retain_data", "retain inputs")

    def retain(self) -> tuple[torch.Tensor, Supervision]:
        """The retain set's inputs and observed supervision: ``Needs.retain_data`` and ``Needs.retain_labels``."""
        return self.retain_inputs(), self._declared(self.sup_retain, "retain_labels", "retain labels")

    def val_inputs(self) -> torch.Tensor:
        """The validation split's inputs (never the test split): ``Needs.val_data`` (also given with ``val_labels``)."""
        return self._declared(self.x_val, "val_data", "validation inputs")

    def val(self) -> tuple[torch.Tensor, Supervision]:
        """The validation split's inputs and the paradigm's supervision of them: ``Needs.val_labels``."""
        return self.val_inputs(), self._declared(self.sup_val, "val_labels", "validation labels")


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
                  "defaults have seen the test split and favour this method on digits (what the tuner's run on `val` "
                  "made of them follows, where it ran). The papers' own values are in `PAPER_DEFAULTS` (full-size "
                  "presets use them)")
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
    # plug-in declarations read by the planner (no method names in engine/runner):
    # ``reference``: the method *is* one of the engine's own models -- "original" (the trained original, evaluated
    # as is) or "retrain" (the retrain-from-scratch reference every forgetting metric is measured against).
    reference: str | None = None
    # ``own_original``: the method changes the model before unlearning (e.g. SISA's shard ensemble): the plan adds a
    # row ``(row key, row title)`` evaluating that model, produced by the method asked to forget nothing.
    own_original: tuple[str, str] | None = None
    # display order (``METHODS.keys()``: catalogue, menus, the CSV's rows), ascending; bands: 0-99 the references,
    # 100-199 the seed papers' methods (seed order), 200 and up the baselines (CATALOGUE.md order). Methods with
    # equal order keep their import (file name) order.
    order: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "doc", self.doc.strip())  # modules write DOC = r"""\n...\n"""
        # shipped defaults chosen by the tuner (issue 15): the recorded values replace the module's literals
        from engine.methods.shared.tuned_defaults import chosen_text, tuned_config

        object.__setattr__(self, "config", tuned_config(self.key, self.config))
        chosen = chosen_text(self.key, self.defaults_chosen)
        if chosen is not None:
            object.__setattr__(self, "defaults_chosen", chosen)

    def ours_fields(self) -> tuple[str, ...]:
        """Hyper-parameters whose default is ours, not a paper's (their schema source says 'ours' or 'digits')."""
        from engine.config import schema

        return tuple(p.name for p in schema(self.config) if not (p.source or "").startswith("tuner")
                     and ("ours" in (p.source or "").lower() or "digits" in (p.source or "").lower()))


METHODS: Registry[Method] = Registry("method")
