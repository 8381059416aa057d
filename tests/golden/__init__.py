"""Golden comparisons: the CSVs the engine produced before a refactor, to prove the numbers did not move.

Recorded with ``python -m tests.golden`` (writes ``*.csv`` and ``machine.json`` next to this file). Float
summation order differs between CPUs, so the CSVs are compared byte for byte only on a machine with the recording
machine's fingerprint (CPU model and vector extensions, torch and numpy versions); elsewhere the test checks the
table's shape exactly and the numbers within a tolerance (see ``tests/test_golden.py``).
"""

from __future__ import annotations

import io
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from engine.spec import ComparisonSpec, MethodSpec

HERE = Path(__file__).resolve().parent
TIMING_COLUMNS = ("unlearn_seconds", "speedup_vs_retrain")  # wall-clock: never reproducible
DEFAULT_METHODS = ("original", "retrain", "finetune", "gradient_ascent", "neggrad_plus", "random_label")
# every method registered when the goldens were recorded (a method added later does not change them)
RECORDED_METHODS = (
    "original", "retrain", "udru", "laf", "laf_r", "ugradsl", "ugradsl_plus", "pgu", "ppu", "ppu_after", "finetune",
    "gradient_ascent", "neggrad_plus", "random_label", "amnesiac", "kpriors", "boundary_shrink", "boundary_expand",
    "sisa", "unrolling", "bad_teacher", "scrub", "fisher", "influence", "ntk", "cf_k", "eu_k", "l1_sparse", "salun",
    "ssd",
)
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni",
                "amx_tile", "amx_bf16")


def specs() -> dict[str, ComparisonSpec]:
    """The golden comparisons: the CLI's default, and every method registered when they were recorded (with shadow
    models, so that every metric column holds a number) under the supervised and the partial-label paradigm."""
    every = tuple(MethodSpec(k) for k in RECORDED_METHODS)
    return {
        "default_comparison": ComparisonSpec(methods=tuple(MethodSpec(k) for k in DEFAULT_METHODS)),
        "all_methods_supervised": ComparisonSpec(methods=every, shadow_models=2),
        "all_methods_partial_label": ComparisonSpec(paradigm="partial_label", methods=every),
    }


def csv_text(wide: pd.DataFrame) -> str:
    """The CSV the CLI writes (``engine.cli._write_csv``), without the timing columns."""
    buf = io.StringIO()
    wide.drop(columns=[c for c in TIMING_COLUMNS if c in wide.columns]).to_csv(buf, index=False, na_rep="NA")
    return buf.getvalue()


def fingerprint() -> dict[str, object]:
    """What decides float summation order here: CPU model, vector extensions, library versions."""
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"machine": platform.machine(), "cpu": model, "vector": [f for f in VECTOR_FLAGS if f in flags],
            "torch": torch.__version__, "numpy": np.__version__}


def run(name: str, spec: ComparisonSpec, cache_dir: Path, data_dir: Path) -> str:
    """Run one golden comparison on the CPU, one thread, and return its CSV text."""
    from engine.runner import run_comparison

    result = run_comparison(spec, cache_dir=cache_dir, data_dir=data_dir, executor="local")
    return csv_text(result.wide)


def record(cache_dir: Path, data_dir: Path) -> None:
    """Write every golden CSV and the machine's fingerprint next to this module."""
    for name, spec in specs().items():
        (HERE / f"{name}.csv").write_text(run(name, spec, cache_dir, data_dir))
    (HERE / "machine.json").write_text(json.dumps(fingerprint(), indent=1) + "\n")
