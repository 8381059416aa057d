"""What each method may see: applicability checks and the :class:`UnlearnData` view built from its needs."""

from __future__ import annotations

from typing import Any

import torch

from engine.methods.base import Method, UnlearnData
from engine.paradigms.base import Paradigm, one_hot_supervision
from engine.problem import Problem, Setting
from engine.training.recording import RECORDERS


def not_applicable_reason(method: Method, paradigm: Paradigm) -> str | None:
    """Why ``method`` cannot run under ``paradigm`` (``None`` if it can)."""
    if method.paradigms is not None and paradigm.key not in method.paradigms:
        return f"{method.title} is defined for the {', '.join(method.paradigms)} paradigm(s) only"
    needs = method.needs
    if paradigm.visible == "none" and (needs.forget_labels or needs.retain_labels):
        what = "forget-set labels" if needs.forget_labels else "retain-set labels"
        return f"needs {what}; under the label-free paradigm unlearning sees no labels"
    return None


def make_view(method: Method, problem: Problem, forget_idx: torch.Tensor, retain_idx: torch.Tensor,
              train_state: dict[str, Any], setting: Setting) -> UnlearnData:
    """The data ``method`` declared it needs, and nothing else (labels only if the paradigm shows them).

    ``x_retain``/``sup_retain`` follow ``retain_idx``, which is in ascending training-index order (``Problem.step``);
    methods whose training-time state is indexed by training position (``RecorderInfo.indexed``) rely on it.
    """
    needs = method.needs
    visible = problem.paradigm.visible != "none"
    x = problem.data.x_train
    sup_forget = problem.supervision.take(forget_idx) if needs.forget_labels and visible else None
    x_retain = x[retain_idx] if (needs.retain_data or needs.retain_labels or needs.labelled_retain_sample) else None
    sup_retain = None
    sample_idx = None
    if needs.retain_labels and visible:
        sup_retain = problem.supervision.take(retain_idx)
    elif needs.labelled_retain_sample:
        # LAF+R: labels of a seeded retain sample of the forget set's size, all other retain labels hidden
        gen = torch.Generator().manual_seed(problem.seed * 31 + 7)
        k = min(int(forget_idx.numel()), int(retain_idx.numel()))
        sample_idx = torch.randperm(int(retain_idx.numel()), generator=gen)[:k].sort().values.to(x.device)
        full = problem.supervision.take(retain_idx)
        keep = torch.zeros(int(retain_idx.numel()), dtype=torch.bool, device=x.device)
        keep[sample_idx] = True
        labels = torch.where(keep, full.labels, torch.full_like(full.labels, -1))
        sup_retain = one_hot_supervision(labels, problem.data.num_classes)
    return UnlearnData(
        x_forget=x[forget_idx], sup_forget=sup_forget, x_retain=x_retain, sup_retain=sup_retain,
        num_classes=problem.data.num_classes, paradigm=problem.paradigm.key, loss=problem.paradigm.loss,
        train_state={k: v for k, v in train_state.items() if k in needs.train_time_state},
        x_test=problem.data.x_test if needs.test_data else None,
        y_test=problem.data.y_test if needs.test_data else None, retain_sample_idx=sample_idx,
        scenario=setting.spec.scenario,
        forget_train_idx=forget_idx if any(RECORDERS.get(r).indexed for r in needs.train_time_state) else None,
    )
