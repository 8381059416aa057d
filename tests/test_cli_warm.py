"""Warm answers without torch (issue 13): a comparison whose results are all cached is answered -- the summary
table and the CSV, byte for byte -- without importing torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["compare", "--methods", "original,retrain,finetune", "--hparam", "finetune.epochs=1", "--train", "epochs=2",
        "--workers", "1"]
PROBE = ("import sys; from engine.cli import main; rc = main(sys.argv[1:]); "
         "print('TORCH', 'torch' in sys.modules, 'PANDAS', 'pandas' in sys.modules); sys.exit(rc)")


def _cli(tmp: Path, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *ARGS, "--cache-dir", str(tmp / "cache"),
                           "--data-dir", str(tmp / "data"), "--out", str(tmp / out), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def _table(text: str) -> list[str]:
    """The summary table's lines of the CLI's output."""
    return [line for line in text.splitlines() if line.startswith(("method", "original", "retrain", "finetune"))]


def test_a_cached_comparison_is_answered_without_torch(tmp_path: Path) -> None:
    cold = _cli(tmp_path, "cold.csv")
    assert cold.returncode == 0, cold.stderr
    assert "TORCH True" in cold.stdout
    warm = _cli(tmp_path, "warm.csv")
    assert warm.returncode == 0, warm.stderr
    assert "TORCH False PANDAS False" in warm.stdout
    assert (tmp_path / "warm.csv").read_bytes() == (tmp_path / "cold.csv").read_bytes()
    assert _table(warm.stdout) == _table(cold.stdout)  # the same summary, printed from the saved tables


def test_a_missing_result_falls_back_to_the_full_path(tmp_path: Path) -> None:
    assert _cli(tmp_path, "cold.csv").returncode == 0
    from engine.store import Store

    store = Store(tmp_path / "cache")
    try:
        ev = next(k for k in store.keys("result/evaluate-"))
        store.cache.delete(ev)  # an evaluation is gone: the saved tables no longer hold
    finally:
        store.close()
    again = _cli(tmp_path, "again.csv")
    assert again.returncode == 0, again.stderr
    assert "TORCH True" in again.stdout  # planned and recomputed the missing row
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "cold.csv").read_bytes()


def test_bad_input_is_still_reported_when_the_comparison_is_cached(tmp_path: Path) -> None:
    assert _cli(tmp_path, "cold.csv").returncode == 0
    bad = _cli(tmp_path, "bad.csv", "--workers", "zero")
    assert bad.returncode == 2 and "workers" in bad.stderr
    assert not (tmp_path / "bad.csv").exists()
