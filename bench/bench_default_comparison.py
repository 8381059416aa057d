"""Benchmark: the default digits comparison (six issue-#2 methods, one seed), cold and warm.

Prints seconds for (a) the CLI end to end in a fresh process (imports included) and (b) the
in-process ``run_comparison`` call, each with an empty cache (cold) and again with everything
cached (warm, median of three). Targets on 2 cores: cold <= 60 s, warm <= 3 s.

    .venv/bin/python bench/bench_default_comparison.py
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = "original,retrain,finetune,gradient_ascent,neggrad_plus,random_label"
ARGS = ["--dataset", "digits", "--model", "cnn", "--paradigm", "supervised", "--scenario", "class",
        "--forget-class", "3", "--methods", METHODS, "--seeds", "1"]


def cli(cache: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "compare", *ARGS, "--cache-dir", str(cache)], cwd=ROOT,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def in_process(cache: Path) -> float:
    from engine.cli import _parser, build_spec
    from engine.runner import run_comparison

    spec = build_spec(_parser().parse_args(["compare", *ARGS]))
    start = time.perf_counter()
    res = run_comparison(spec, cache_dir=cache, data_dir=ROOT / "data")
    assert set(res.wide["status"]) == {"ok"}, res.wide[["method", "status", "note"]]
    return time.perf_counter() - start


def main() -> None:
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        c1, c2 = Path(tmp) / "cli", Path(tmp) / "inproc"
        # warm: median of three runs (a single fresh process varies by ~1 s on a busy machine)
        rows.append(("CLI, fresh process", cli(c1), statistics.median(cli(c1) for _ in range(3))))
        rows.append(("run_comparison, in process", in_process(c2),
                     statistics.median(in_process(c2) for _ in range(3))))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print("| what | cold (s) | warm (s) | cold/warm |")
    print("| --- | ---: | ---: | ---: |")
    for name, cold, warm in rows:
        print(f"| {name} | {cold:.1f} | {warm:.2f} | {cold / warm:.0f}x |")


if __name__ == "__main__":
    main()
