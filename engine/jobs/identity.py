"""Job identities: what each job's key holds -- exactly what its result depends on, nothing more, nothing less.

A job's key is ``<kind>-stable_hash(identity)`` (:func:`engine.jobs.model.job_key`), so two settings that give a job
the same identity share its result, and two that could give different results must never share it. Per seed:

* ``problem``: :meth:`engine.problem.Setting.problem_payload` -- dataset, coarse, paradigm (rate, labelled
  fraction, options), scenario and its parameters, seed. Data-free.
* ``original``: what its training reads (:func:`engine.jobs.bodies.train_original`, ``fit``): the training data
  (dataset, coarse), the *content* of the training supervision the paradigm produced
  (:attr:`~engine.problem.TrainingContent.supervision`: labels, candidate sets, labelled mask; not the paradigm's
  name), the training loss (:attr:`~engine.problem.Setting.loss_name`), the model, the training config and the seed.
  Not the scenario (its training never reads the forget set): the original is trained once for every scenario, and
  ``label_free`` with every sample labelled shares the ``supervised`` original (same labels, same loss). The val
  split is not read by training; recorders that record on the side write their own ``train_state`` jobs.
* ``retrain``: the same, with the retain set's content (:attr:`~engine.problem.TrainingContent.retain`: its
  indices, in order, and their supervision) instead of the whole training set's supervision.
* ``train_state``: the original's key, the recorder and its options (unchanged: it follows the original).
* ``unlearn`` / ``evaluate``: what they had, plus the seed's problem key: they read the forget set, the requests,
  the test split and its forget mask, which the original's key no longer implies.
* a metric's preparation (the shadow job): the problem key, model and training config plus its own identity
  (unchanged: a preparation may read the whole problem -- the shadow attack reads the forget and retain sets).

:class:`ContentIdentities` is the planner's. :class:`ProblemIdentities` are the identities of the engine before it
(every model keyed by its seed's problem key), which results bundles exported then were keyed with; only the bundle
importer uses them (to check such a bundle and file its results under today's keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from engine.config import config_dict
from engine.problem import Setting, TrainingContent


class Identities(Protocol):
    """How :func:`engine.runner.plan.build_graph` writes the identities that depend on more than the spec."""

    def original(self, seed: int, problem: str) -> dict[str, Any]:
        """The ``original`` job's identity for ``seed`` (``problem``: the seed's problem key)."""

    def retrain(self, seed: int, problem: str) -> dict[str, Any]:
        """The ``retrain`` job's identity for ``seed``."""

    def in_problem(self, identity: dict[str, Any], problem: str) -> dict[str, Any]:
        """An ``unlearn`` / ``evaluate`` identity (its models' keys, method, metrics, ...) completed with what it
        reads of the seed's problem."""

    def preparation(self, problem: str, own: dict[str, Any]) -> dict[str, Any]:
        """A metric preparation's identity, ``own`` being :attr:`engine.metrics.base.Preparation.identity`'s."""


class ContentIdentities:
    """Today's identities (module docstring): models keyed by the content they train on.

    ``contents``: seed -> :class:`~engine.problem.TrainingContent` (``Problem.content()`` at plan time, the
    ``problem.npz`` arrays of a results bundle on import).
    """

    def __init__(self, setting: Setting, contents: Mapping[int, TrainingContent]) -> None:
        self.setting = setting
        self.contents = dict(contents)
        self._train = config_dict(setting.train_cfg)
        self._loss = setting.loss_name

    def _content(self, seed: int) -> TrainingContent:
        if seed not in self.contents:
            raise ValueError(f"no training content for seed {seed}: its problem was not built")
        return self.contents[seed]

    def _training(self, seed: int) -> dict[str, Any]:
        """What every training of the seed reads besides its samples' supervision."""
        s = self.setting.spec
        return {"data": {"dataset": s.dataset, "coarse": s.coarse}, "loss": self._loss, "model": s.model,
                "train": self._train, "seed": seed}

    def original(self, seed: int, problem: str) -> dict[str, Any]:
        return {**self._training(seed), "supervision": self._content(seed).supervision}

    def retrain(self, seed: int, problem: str) -> dict[str, Any]:
        return {**self._training(seed), "retain": self._content(seed).retain}

    def in_problem(self, identity: dict[str, Any], problem: str) -> dict[str, Any]:
        return {**identity, "problem": problem}

    def preparation(self, problem: str, own: dict[str, Any]) -> dict[str, Any]:
        return {"problem": problem, "model": self.setting.spec.model, "train": self._train, **own}


class ProblemIdentities:
    """The identities before models were keyed by content: ``original`` and ``retrain`` = (problem key, model,
    training config), ``unlearn`` / ``evaluate`` without the problem key (their models' keys implied it). Only for
    checking results bundles exported by that engine (``engine.bundle``); never planned."""

    def __init__(self, setting: Setting) -> None:
        self.setting = setting
        self._train = config_dict(setting.train_cfg)

    def original(self, seed: int, problem: str) -> dict[str, Any]:
        return {"problem": problem, "model": self.setting.spec.model, "train": self._train}

    def retrain(self, seed: int, problem: str) -> dict[str, Any]:
        return self.original(seed, problem)

    def in_problem(self, identity: dict[str, Any], problem: str) -> dict[str, Any]:
        return dict(identity)

    def preparation(self, problem: str, own: dict[str, Any]) -> dict[str, Any]:
        return {**self.original(0, problem), **own}
