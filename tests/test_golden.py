"""Golden test: the default comparison and every method's numbers are those recorded before the refactor (issue 12).

On the recording machine (same fingerprint) the CSVs must be byte-identical, timing columns aside. On another
machine float summation order differs, training drifts, and only the table's shape (columns, rows, statuses, which
cells are empty) is exact; numbers must then agree within ``TOLERANCE``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.golden import HERE, fingerprint, run, specs

TOLERANCE = 0.25  # off the recording machine: |new - golden| on every number (accuracies, AUCs, entropies, ...)
SHAPE_COLUMNS = ("dataset", "paradigm", "scenario", "model", "method", "seed", "status", "source",
                 "n_forget", "n_retain", "n_val", "n_test", "note")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("golden")
    return root / "cache", root / "data"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(specs()))
def test_golden_comparison(name: str, dirs: tuple[Path, Path], tmp_path: Path) -> None:
    golden = (HERE / f"{name}.csv").read_text()
    got = run(name, specs()[name], *dirs)
    (tmp_path / f"{name}.csv").write_text(got)  # for a diff when it fails
    same_machine = json.loads((HERE / "machine.json").read_text()) == fingerprint()
    if same_machine:
        assert got == golden, f"{name}: the CSV changed (new one in {tmp_path})"
        return
    old, new = pd.read_csv(io.StringIO(golden)), pd.read_csv(io.StringIO(got))
    assert list(new.columns) == list(old.columns)
    pd.testing.assert_frame_equal(new[list(SHAPE_COLUMNS)], old[list(SHAPE_COLUMNS)])
    numbers = [c for c in old.columns if c not in SHAPE_COLUMNS]
    a, b = old[numbers].to_numpy(float), new[numbers].to_numpy(float)
    assert (np.isnan(a) == np.isnan(b)).all(), f"{name}: different cells are empty"
    gap = np.nanmax(np.abs(a - b) / np.maximum(1.0, np.abs(a)))
    assert gap <= TOLERANCE, f"{name}: numbers moved by {gap:.3f} (new CSV in {tmp_path})"
