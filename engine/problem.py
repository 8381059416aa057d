"""Resolve a spec against the registries and materialise the unlearning problem of one seed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.config import build_config, config_dict
from engine.data import DATASETS, ImageData, load_dataset
from engine.data.splits import split_validation
from engine.errors import RunFailed, SpecError
from engine.models import MODELS
from engine.paradigms import PARADIGMS, Paradigm, Supervision
from engine.scenarios import SCENARIOS, Scenario, SelectInputs
from engine.spec import ComparisonSpec, stable_hash
from engine.training.config import TrainConfig, default_train_config


@dataclass(frozen=True)
class Setting:
    """A validated spec: registry objects and typed configs (everything but methods and seeds)."""

    spec: ComparisonSpec
    paradigm: Paradigm
    scenario: Scenario
    scenario_cfg: Any
    train_cfg: TrainConfig
    paradigm_cfg: Any = None  # the paradigm's options (``spec.paradigm_params``), ``None`` if it has none

    @property
    def loss(self) -> Callable[[torch.Tensor, Supervision], torch.Tensor]:
        """The training loss (original, retrain) and the methods' task loss: the paradigm's, or the one its
        options choose (noisy labels: ``train_loss`` gce | ce)."""
        if self.paradigm.loss_of is not None and self.paradigm_cfg is not None:
            return self.paradigm.loss_of(self.paradigm_cfg)
        return self.paradigm.loss

    @property
    def loss_name(self) -> str:
        """The training loss as part of a job identity: its function's qualified name (``module.function``).

        Two settings whose losses are the same function train alike (``label_free`` and ``supervised``: both
        cross-entropy; noisy labels with ``train_loss`` ce too); GCE and CE differ. A loss with options of its own
        would have to say them here: anything but a plain function is refused.
        """
        fn = self.loss
        name = getattr(fn, "__qualname__", None)
        if not isinstance(name, str) or "<" in name or not callable(fn):
            raise TypeError(f"the training loss {fn!r} is not a plain module-level function: its identity "
                            "(name and options) cannot be written")
        return f"{fn.__module__}.{name}"

    def supervise_options(self) -> dict[str, Any]:
        """The paradigm config as keywords of ``Paradigm.supervise``."""
        return {} if self.paradigm_cfg is None else config_dict(self.paradigm_cfg)

    def problem_payload(self, seed: int) -> dict[str, Any]:
        """The canonical content of a problem (its cache key's input)."""
        s = self.spec
        payload = {"dataset": s.dataset, "coarse": s.coarse, "paradigm": s.paradigm, "rate": s.rate,
                   "labelled_fraction": s.labelled_fraction, "scenario": s.scenario,
                   "scenario_params": config_dict(self.scenario_cfg), "seed": seed}
        if self.paradigm_cfg is not None:
            payload["paradigm_params"] = config_dict(self.paradigm_cfg)
        return payload

    def problem_key(self, seed: int) -> str:
        return "problem-" + stable_hash(self.problem_payload(seed))


def resolve(spec: ComparisonSpec) -> Setting:
    """Validate ``spec`` field by field (unknown keys, incompatible combinations, bad parameters)."""
    info = DATASETS.get(spec.dataset, "dataset")
    paradigm = PARADIGMS.get(spec.paradigm, "paradigm")
    scenario = SCENARIOS.get(spec.scenario, "scenario")
    MODELS.get(spec.model, "model")
    if spec.coarse and not info.has_groups:
        raise SpecError("coarse", f"dataset {spec.dataset!r} has no coarse labels")
    if spec.rate is not None and paradigm.rate_name is None:
        raise SpecError("rate", f"paradigm {spec.paradigm!r} takes no rate")
    if spec.labelled_fraction < 1.0 and spec.paradigm != "label_free":
        raise SpecError("labelled_fraction", "only the label_free paradigm takes a labelled fraction")
    if scenario.paradigms is not None and spec.paradigm not in scenario.paradigms:
        raise SpecError("scenario", f"scenario {spec.scenario!r} needs paradigm {' or '.join(scenario.paradigms)}, "
                                    f"not {spec.paradigm!r}")
    if scenario.needs_groups and not (info.has_groups and spec.coarse):
        raise SpecError("scenario", f"scenario {spec.scenario!r} needs a dataset trained on coarse labels with "
                                    "sub-classes (cifar100 with coarse labels)")
    scenario_cfg = build_config(scenario.config, dict(spec.scenario_params), "scenario")
    if paradigm.config is None:
        if spec.paradigm_params:
            raise SpecError("paradigm_params", f"paradigm {spec.paradigm!r} takes no parameters")
        paradigm_cfg = None
    else:
        paradigm_cfg = build_config(paradigm.config, dict(spec.paradigm_params), "paradigm_params")
        validate = getattr(paradigm.config, "validate", None)
        if validate is not None:
            validate(paradigm_cfg, info.num_classes)
    base = default_train_config(spec.dataset, spec.model)
    train_cfg = build_config(TrainConfig, {**config_dict(base), **dict(spec.train)}, "train")
    return Setting(spec, paradigm, scenario, scenario_cfg, train_cfg, paradigm_cfg)


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 (first 24 hex chars) of arrays' contents, each with its dtype and shape (C order).

    The same bytes give the same digest whether they come from a :class:`Problem`'s tensors (``.cpu().numpy()``)
    or from the ``problem.npz`` a results bundle carries.
    """
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{list(a.shape)};".encode())
        h.update(a.data)
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class TrainingContent:
    """Digests of what the seed's trainings read from its problem (part of their job identities).

    ``supervision``: the training split's supervision as the paradigm produced it (observed labels, candidate sets,
    labelled mask; not the paradigm's name, nor ``Supervision.kind``, which no loss reads). ``retain``: the retain
    indices (in order) and their supervision.
    """

    supervision: str
    retain: str


def training_content(labels: np.ndarray, candidates: np.ndarray, labelled: np.ndarray,
                     retain_idx: np.ndarray) -> TrainingContent:
    """:class:`TrainingContent` of a training split's supervision arrays and retain indices (numpy; a bundle's
    ``problem.npz`` holds them as ``observed_labels``, ``candidates``, ``labelled``, ``retain_idx``).

    Raises ``ValueError`` when the arrays do not fit together (lengths, dimensions, indices out of range).
    """
    labels, candidates, labelled, retain_idx = (np.asarray(a) for a in (labels, candidates, labelled, retain_idx))
    n = labels.shape[0] if labels.ndim == 1 else -1
    if n < 0 or labelled.shape != (n,) or candidates.ndim != 2 or candidates.shape[0] != n or retain_idx.ndim != 1:
        raise ValueError("supervision arrays of different lengths (labels, candidates, labelled mask)")
    if retain_idx.dtype.kind not in "iu" or (retain_idx.size and not 0 <= int(retain_idx.min()) <= int(
            retain_idx.max()) < n):
        raise ValueError(f"retain indices must be integers in [0, {n})")
    return TrainingContent(supervision=array_digest(labels, candidates, labelled),
                           retain=array_digest(retain_idx, labels[retain_idx], candidates[retain_idx],
                                               labelled[retain_idx]))


@dataclass(frozen=True)
class Problem:
    """One seed's unlearning problem: data (on the device), supervision, forget requests.

    ``forget_idx`` is the union of ``requests``; ``retain_idx`` the rest of the training split. ``data`` holds
    the three splits (``train``, ``val``, ``test``; :mod:`engine.data.splits`); ``val_idx``/``test_idx`` are
    their positions in the dataset's own held-out split. ``val_supervision`` is the paradigm's supervision of
    ``val`` (drawn like the training supervision: noisy labels stay noisy, candidate sets stay sets).
    """

    key: str
    seed: int
    data: ImageData
    paradigm: Paradigm
    supervision: Supervision
    requests: tuple[torch.Tensor, ...]
    forget_idx: torch.Tensor
    retain_idx: torch.Tensor
    forget_classes: tuple[int, ...]
    touched_classes: tuple[int, ...]
    test_forget_mask: torch.Tensor | None
    val_supervision: Supervision | None = None
    loss_fn: Callable[[torch.Tensor, Supervision], torch.Tensor] | None = None  # Setting.loss (None: paradigm's)
    val_idx: torch.Tensor | None = None
    test_idx: torch.Tensor | None = None
    val_forget_mask: torch.Tensor | None = None  # ``test_forget_mask``'s counterpart on ``val``

    @property
    def loss(self) -> Callable[[torch.Tensor, Supervision], torch.Tensor]:
        """The training / task loss of this problem (:attr:`Setting.loss`)."""
        return self.loss_fn if self.loss_fn is not None else self.paradigm.loss

    def sizes(self) -> dict[str, int]:
        """``n_forget``, ``n_retain``, ``n_val``, ``n_test`` (the CSV's size columns)."""
        n_val = 0 if self.data.x_val is None else int(self.data.x_val.shape[0])
        return {"n_forget": int(self.forget_idx.numel()), "n_retain": int(self.retain_idx.numel()),
                "n_val": n_val, "n_test": int(self.data.x_test.shape[0])}

    @property
    def device(self) -> torch.device:
        return self.data.x_train.device

    def content(self) -> TrainingContent:
        """Digests of the training supervision and the retain set (:func:`training_content`): what the
        ``original`` and ``retrain`` job identities hold of this problem."""
        sup = self.supervision
        return training_content(sup.labels.cpu().numpy(), sup.candidates.cpu().numpy(), sup.labelled.cpu().numpy(),
                                self.retain_idx.cpu().numpy())

    def validation_view(self) -> Problem:
        """This problem with ``val`` standing in for ``test`` and no test split at all: what the tuner evaluates
        on (DESIGN.md "Evaluation protocol": one tuning protocol, on ``val`` only). ``x_test``/``y_test``/
        ``groups_test`` are ``val``'s, ``test_forget_mask`` is :attr:`val_forget_mask`; ``x_val`` is cleared so
        that nothing downstream can mistake the view for a problem with three splits."""
        d = self.data
        if d.x_val is None or d.y_val is None:
            raise RunFailed("this problem has no validation split to evaluate on")
        view = replace(d, x_test=d.x_val, y_test=d.y_val, groups_test=d.groups_val, x_val=None, y_val=None,
                       groups_val=None)
        return replace(self, data=view, test_forget_mask=self.val_forget_mask, test_idx=self.val_idx,
                       val_idx=None, val_supervision=None, val_forget_mask=None)

    def step(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Forget and retain indices of incremental request ``i`` (retain excludes every earlier request)."""
        n = self.data.x_train.shape[0]
        gone = torch.zeros(n, dtype=torch.bool)
        for r in self.requests[: i + 1]:
            gone[r] = True
        dev = self.device
        return self.requests[i].to(dev), torch.nonzero(~gone).flatten().to(dev)


def seeded(seed: int, stream: int) -> torch.Generator:
    """An independent CPU generator per (seed, purpose)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + stream)


def build_problem(setting: Setting, seed: int, data_dir: Path, device: torch.device | str = "cpu",
                  data: ImageData | None = None) -> Problem:
    """Load the data, split its held-out part into ``val``/``test`` and draw the seed's supervision and forget set.

    Streams of :func:`seeded`: 1 training supervision, 2 forget set, 3 the val/test split, 4 val supervision.
    """
    spec = setting.spec
    data = data if data is not None else load_dataset(spec.dataset, data_dir, coarse=spec.coarse, device=device)
    data, val_idx, test_idx = split_validation(data, seeded(seed, 3))
    opts = setting.supervise_options()
    sup = setting.paradigm.supervise(data.y_train, data.num_classes, spec.rate, spec.labelled_fraction,
                                     seeded(seed, 1), **opts)
    if data.y_val is None:  # split_validation always sets it: a dataset loader that does not is a bug
        raise RunFailed(f"dataset {spec.dataset!r} has no validation split after split_validation")
    val_sup = setting.paradigm.supervise(data.y_val, data.num_classes, spec.rate, spec.labelled_fraction,
                                         seeded(seed, 4), **opts)
    sel = setting.scenario.select(SelectInputs(data, sup, spec.paradigm, seeded(seed, 2)), setting.scenario_cfg)
    val_mask = _val_forget_mask(setting, data, sup, seed)
    forget = torch.cat(sel.requests).unique().sort().values
    n = data.x_train.shape[0]
    field = next(iter(dict(spec.scenario_params)), "scenario")
    if forget.numel() == 0:
        raise SpecError(field, f"the forget set is empty for scenario {spec.scenario!r} with these parameters")
    if forget.numel() >= n:
        raise SpecError(field, "the forget set would be the whole training set; nothing would remain")
    keep = torch.ones(n, dtype=torch.bool)
    keep[forget] = False
    retain = torch.nonzero(keep).flatten()
    dev = data.x_train.device
    mask = sel.test_forget_mask.to(dev) if sel.test_forget_mask is not None else None
    return Problem(setting.problem_key(seed), seed, data, setting.paradigm, sup.to(dev), sel.requests,
                   forget.to(dev), retain.to(dev), sel.forget_classes, sel.touched_classes, mask,
                   val_sup.to(dev), setting.loss, val_idx, test_idx,
                   None if val_mask is None else val_mask.to(dev))


def _val_forget_mask(setting: Setting, data: ImageData, sup: Supervision, seed: int) -> torch.Tensor | None:
    """The scenario's forget mask of ``val``: its selection re-run on the data with ``val`` in the place of
    ``test`` (the same generator stream, so the same training forget set; a scenario's test mask reads only the
    held-out labels / sub-classes it is given)."""
    swapped = replace(data, x_test=data.x_val, y_test=data.y_val, groups_test=data.groups_val)
    sel = setting.scenario.select(SelectInputs(swapped, sup, setting.spec.paradigm, seeded(seed, 2)),
                                  setting.scenario_cfg)
    return sel.test_forget_mask
