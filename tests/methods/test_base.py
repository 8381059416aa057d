"""The method contract's typed accessors: a method reads its view through them, and an undeclared need is a clear
error naming the method and the :class:`Needs` field (never ``None`` handed on, never an ``assert``)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from engine.methods import METHODS, UndeclaredNeed
from tests.methods.conftest import cached_problem, view_for

METHODS_DIR = Path(__file__).resolve().parents[2] / "engine" / "methods"


def test_accessors_return_the_declared_data() -> None:
    problem, original = cached_problem()
    data, _ = view_for("scrub", problem, original)  # forget + retain labels and the labelled val split
    x_r, sup_r = data.retain()
    assert x_r is data.x_retain and sup_r is data.sup_retain and data.retain_inputs() is data.x_retain
    assert data.forget_supervision() is data.sup_forget
    x_v, sup_v = data.val()
    assert x_v is data.x_val and sup_v is data.sup_val and data.val_inputs() is data.x_val


@pytest.mark.parametrize(("accessor", "need"), [
    ("forget_supervision", "forget_labels"), ("retain_inputs", "retain_data"), ("retain", "retain_data"),
    ("val_inputs", "val_data"), ("val", "val_data"),
])
def test_an_undeclared_need_is_named(accessor: str, need: str) -> None:
    problem, original = cached_problem()
    data, _ = view_for("original", problem, original)  # declares nothing: forget inputs only
    with pytest.raises(UndeclaredNeed, match=rf"method 'original' did not declare {need}.*Needs\({need}=True\)"):
        getattr(dataclasses.replace(data, method="original"), accessor)()
    with pytest.raises(UndeclaredNeed, match=rf"the method did not declare {need}"):
        getattr(dataclasses.replace(data, method=""), accessor)()  # a view built without the method's key


def test_labels_missing_next_to_inputs_name_the_label_need() -> None:
    problem, original = cached_problem()
    data, _ = view_for("bad_teacher", problem, original)  # retain inputs, no labels
    assert data.retain_inputs() is data.x_retain
    with pytest.raises(UndeclaredNeed, match="retain_labels.*label_free"):
        data.retain()
    scrub, _ = view_for("scrub", problem, original)
    with pytest.raises(UndeclaredNeed, match="val_labels"):
        dataclasses.replace(scrub, sup_val=None).val()


def test_no_method_module_asserts() -> None:
    """``assert`` vanishes under ``python -O``: methods use the accessors or raise a named error."""
    hits = [f"{p.relative_to(METHODS_DIR)}:{i}" for p in sorted(METHODS_DIR.rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.match(r"\s*assert\b", line)]
    assert not hits, hits


def test_registered_docs_are_stripped_markdown() -> None:
    for key, m in METHODS.items():
        assert m.doc and m.doc == m.doc.strip(), key
