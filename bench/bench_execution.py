"""Benchmark (issue 13): how the default comparison uses the machine, quiet and under a competing CPU load.

Each figure is the CLI end to end in a fresh process (imports included), on an empty cache ("cold") or with every
result cached ("warm", median of three):

* cold, sequential (``--workers 1``), one intra-op thread vs two (``UNLEARN_THREADS``);
* cold, parallel (``--workers`` = one per core);
* warm;
* the cold runs again while the bench itself keeps every core busy (one spinning process per core, killed at the
  end; bounded by ``--load-seconds``);
* optionally (``--all-methods``) the every-method comparison (30 rows), cold, parallel.

Ratios are printed next to seconds, with the machine's load average before each run. Targets on 2 cores: cold
default <= 5 s quiet and <= 1.5x that under load; every-method <= 30 s; warm <= 1.0 s.

    .venv/bin/python bench/bench_execution.py [--all-methods] [--load-seconds 600]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["--dataset", "digits", "--model", "cnn", "--methods",
           "original,retrain,finetune,gradient_ascent,neggrad_plus,random_label", "--seeds", "1"]


def _spin(deadline: float) -> None:  # a competing CPU load: one busy core until the deadline
    x = 0
    while time.time() < deadline:
        x += 1


def load_avg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def has_workers_flag() -> bool:
    out = subprocess.run([sys.executable, "-m", "engine", "compare", "--help"], cwd=ROOT, capture_output=True,
                         text=True)
    return "--workers" in out.stdout


def cli(args: list[str], cache: Path, threads: int = 1, workers: int | None = None) -> float:
    """Seconds of one CLI run (raises when it fails)."""
    env = {**os.environ, "UNLEARN_THREADS": str(threads), "UNLEARN_EXECUTOR": "local"}
    extra = ["--workers", str(workers)] if workers is not None else []
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "compare", *args, *extra, "--cache-dir", str(cache)], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - start


class Load:
    """One spinning process per core for at most ``seconds`` (stopped on exit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.procs: list[mp.process.BaseProcess] = []

    def __enter__(self) -> Load:
        ctx = mp.get_context("spawn")
        deadline = time.time() + self.seconds
        self.procs = [ctx.Process(target=_spin, args=(deadline,), daemon=True) for _ in range(os.cpu_count() or 1)]
        for p in self.procs:
            p.start()
        time.sleep(1.0)  # let the load settle into the load average
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.join(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all-methods", action="store_true", help="also time the every-method comparison (~1 min)")
    ap.add_argument("--load-seconds", type=float, default=600.0, help="upper bound of the competing load")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = has_workers_flag()
    rows: list[tuple[str, float | None, str, str]] = []  # label, seconds, ratio text, load before

    def run(label: str, cli_args: list[str], threads: int = 1, n_workers: int | None = None,
            ratio_to: float | None = None, warm: Path | None = None) -> float | None:
        if n_workers is not None and not workers:
            rows.append((label, None, "n/a: this CLI has no --workers", load_avg()))
            return None
        before = load_avg()
        with tempfile.TemporaryDirectory() as tmp:
            cache = warm if warm is not None else Path(tmp)
            if warm is not None:
                secs = statistics.median(cli(cli_args, cache, threads, n_workers) for _ in range(3))
            else:
                secs = cli(cli_args, cache, threads, n_workers if n_workers is not None else (1 if workers else None))
        ratio = "" if ratio_to is None else f"{secs / ratio_to:.2f}x"
        rows.append((label, secs, ratio, before))
        return secs

    seq1 = run("cold, sequential, 1 thread", DEFAULT)
    run("cold, sequential, 2 threads", DEFAULT, threads=2, ratio_to=seq1)
    run(f"cold, parallel ({cores} workers), 1 thread", DEFAULT, n_workers=cores, ratio_to=seq1)
    with tempfile.TemporaryDirectory() as tmp:
        cli(DEFAULT + (["--workers", "1"] if workers else []), Path(tmp))
        run("warm (every result cached), median of 3", DEFAULT, ratio_to=seq1, warm=Path(tmp))
    with Load(args.load_seconds):
        run(f"under load ({cores} spinning processes): cold, sequential, 1 thread", DEFAULT, ratio_to=seq1)
        run("under load: cold, sequential, 2 threads", DEFAULT, threads=2, ratio_to=seq1)
        run(f"under load: cold, parallel ({cores} workers)", DEFAULT, n_workers=cores, ratio_to=seq1)
    if args.all_methods:
        run(f"every method (30 rows), cold, parallel ({cores} workers)", ["--methods", "all"], n_workers=cores)

    print(f"default comparison (digits / cnn, six methods, one seed); {cores} cores; ratios vs cold sequential "
          f"1 thread; load average (1/5/15 min) before each run")
    print(f"{'run':<66}{'seconds':>9}{'ratio':>8}   load before")
    for label, secs, ratio, before in rows:
        shown = "n/a" if secs is None else f"{secs:.2f}"
        print(f"{label:<66}{shown:>9}{ratio:>8}   {before}")


if __name__ == "__main__":
    main()
