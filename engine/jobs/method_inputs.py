"""What a method may see: applicability checks, and building and auditing the sealed :class:`UnlearnData` it gets
(DESIGN.md "Evaluation protocol": sealed label contract).

The one place where a method's inputs are built. A method receives only what its :class:`Needs` declares *and* the
paradigm allows:

- never a test-split input or label (held-out data for stopping / checkpoint selection / calibration is ``val``);
- labels are the paradigm's *observed* supervision (noisy labels, candidate sets), never the true labels;
- validation labels only where the paradigm has labels;
- under ``label_free`` no label of any split, except the labelled retain sample a method may declare
  (``labelled_fraction``-style repair data, LAF+R).

:func:`make_view` builds the inputs and :func:`audit_view` checks them (it runs on every one; a violation is a
:class:`ViewLeak`, so a future change that leaks fails loudly instead of producing numbers).
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from engine.errors import RunFailed
from engine.methods.base import Method, UnlearnData
from engine.paradigms.base import Paradigm, Supervision, one_hot_supervision
from engine.problem import Problem, Setting
from engine.training.recording import RECORDERS


class ViewLeak(RunFailed):
    """A method's view holds something the label contract forbids (a bug in the engine, never the user's)."""


def not_applicable_reason(method: Method, paradigm: Paradigm) -> str | None:
    """Why ``method`` cannot run under ``paradigm`` (``None`` if it can)."""
    if method.paradigms is not None and paradigm.key not in method.paradigms:
        return f"{method.title} is defined for the {', '.join(method.paradigms)} paradigm(s) only"
    needs = method.needs
    if paradigm.visible == "none" and (needs.forget_labels or needs.retain_labels or needs.val_labels):
        what = ("forget-set labels" if needs.forget_labels else "retain-set labels" if needs.retain_labels
                else "validation labels")
        return f"needs {what}; under the label-free paradigm unlearning sees no labels"
    return None


def labelled_retain_sample(problem: Problem, n_forget: int, n_retain: int) -> torch.Tensor:
    """Positions (in the retain set) of LAF+R's seeded labelled retain sample of the forget set's size."""
    gen = torch.Generator().manual_seed(problem.seed * 31 + 7)
    k = min(n_forget, n_retain)
    return torch.randperm(n_retain, generator=gen)[:k].sort().values


def make_view(method: Method, problem: Problem, forget_idx: torch.Tensor, retain_idx: torch.Tensor,
              train_state: dict[str, Any], setting: Setting) -> UnlearnData:
    """The data ``method`` declared it needs, and nothing else (labels only if the paradigm shows them); audited.

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
        sample_idx = labelled_retain_sample(problem, int(forget_idx.numel()), int(retain_idx.numel())).to(x.device)
        full = problem.supervision.take(retain_idx)
        keep = torch.zeros(int(retain_idx.numel()), dtype=torch.bool, device=x.device)
        keep[sample_idx] = True
        labels = torch.where(keep, full.labels, torch.full_like(full.labels, -1))
        sup_retain = one_hot_supervision(labels, problem.data.num_classes)
    wants_val = needs.val_data or needs.val_labels
    view = UnlearnData(
        x_forget=x[forget_idx], sup_forget=sup_forget, x_retain=x_retain, sup_retain=sup_retain,
        num_classes=problem.data.num_classes, paradigm=problem.paradigm.key, loss=problem.loss,
        train_state={k: v for k, v in train_state.items() if k in needs.train_time_state},
        x_val=problem.data.x_val if wants_val else None,
        sup_val=problem.val_supervision if (needs.val_labels and visible) else None,
        retain_sample_idx=sample_idx, scenario=setting.spec.scenario,
        forget_train_idx=forget_idx if any(RECORDERS.get(r).indexed for r in needs.train_time_state) else None,
        method=method.key,
    )
    audit_view(view, method, problem, forget_idx, retain_idx)
    return view


def _row_digests(x: torch.Tensor) -> set[bytes]:
    if x.shape[0] == 0:
        return set()
    flat = x.detach().reshape(x.shape[0], -1).to("cpu", torch.float32).contiguous().numpy()
    return {hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat}


_TEST_ONLY: dict[str, set[bytes]] = {}


def _test_only_rows(problem: Problem) -> set[bytes]:
    """Digests of test images that appear in no other split (duplicated images are not a leak of the test split)."""
    d = problem.data
    key = f"{problem.key}/{d.name}/{d.x_train.device}"
    if key not in _TEST_ONLY:
        if len(_TEST_ONLY) > 16:
            _TEST_ONLY.clear()
        other = _row_digests(d.x_train) | (_row_digests(d.x_val) if d.x_val is not None else set())
        _TEST_ONLY[key] = _row_digests(d.x_test) - other
    return _TEST_ONLY[key]


def _same_supervision(a: Supervision, b: Supervision) -> bool:
    return (torch.equal(a.labels, b.labels) and torch.equal(a.candidates, b.candidates)
            and torch.equal(a.labelled, b.labelled))


def audit_view(view: UnlearnData, method: Method, problem: Problem, forget_idx: torch.Tensor,
               retain_idx: torch.Tensor) -> None:
    """Raise :class:`ViewLeak` unless ``view`` obeys the sealed label contract (module docstring)."""
    needs = method.needs
    label_free = problem.paradigm.visible == "none"
    problems: list[str] = []
    test_rows = _test_only_rows(problem)
    for name in ("x_forget", "x_retain", "x_val"):
        t = getattr(view, name)
        if t is not None and test_rows and not test_rows.isdisjoint(_row_digests(t)):
            problems.append(f"{name} contains test-split inputs")
    for name, t in view.train_state.items():
        if isinstance(t, torch.Tensor) and t.dim() == 4 and not test_rows.isdisjoint(_row_digests(t)):
            problems.append(f"training-time state {name!r} contains test-split inputs")
    declared = {"sup_forget": needs.forget_labels, "sup_retain": needs.retain_labels or needs.labelled_retain_sample,
                "x_retain": needs.retain_data or needs.retain_labels or needs.labelled_retain_sample,
                "x_val": needs.val_data or needs.val_labels, "sup_val": needs.val_labels}
    for name, ok in declared.items():
        if getattr(view, name) is not None and not ok:
            problems.append(f"{name} is present but {method.key} did not declare it")
    if set(view.train_state) - set(needs.train_time_state):
        problems.append("training-time state the method did not declare")
    if label_free:
        for name in ("sup_forget", "sup_val"):
            if getattr(view, name) is not None:
                problems.append(f"{name}: labels under the label-free paradigm")
        if view.sup_retain is not None:
            allowed = int(view.retain_sample_idx.numel()) if view.retain_sample_idx is not None else 0
            if not needs.labelled_retain_sample or int(view.sup_retain.labelled.sum()) > allowed:
                problems.append("sup_retain: retain labels beyond the declared labelled sample under label-free")
    # labels are the paradigm's observed supervision of the right samples, never the true labels in disguise
    if view.sup_forget is not None and not _same_supervision(view.sup_forget, problem.supervision.take(forget_idx)):
        problems.append("sup_forget is not the observed supervision of the forget set")
    if view.sup_retain is not None and view.retain_sample_idx is None and \
            not _same_supervision(view.sup_retain, problem.supervision.take(retain_idx)):
        problems.append("sup_retain is not the observed supervision of the retain set")
    if view.sup_val is not None and (problem.val_supervision is None
                                     or not _same_supervision(view.sup_val, problem.val_supervision)):
        problems.append("sup_val is not the paradigm's supervision of the validation split")
    if problems:
        raise ViewLeak(f"the view built for {method.key} breaks the label contract: " + "; ".join(problems))
