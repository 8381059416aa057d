"""Benchmark (issue 6 b, issue 13 part 6): a full comparison -- original, retrain and every applicable method, one
seed -- with each method's time, its speed-up versus retrain and each job's peak GPU memory. Prints markdown.

Default: CIFAR-10 / ``resnet18`` / class 0 on the GPU (the issue's target: <= 10 minutes end to end on one
H100-class GPU, retrain <= 2 minutes). The dataset must be in the data directory (or downloadable); for timing
without it, ``bench/make_synthetic.py`` writes random-pixel files in CIFAR's format (``bench/gpu_check.sh`` does
both). A data directory marked synthetic is announced as such in the output, and its files are read without
torchvision's md5 check. The same script runs any setting, e.g. the embedded one on a CPU as a smoke check:

    .venv/bin/python bench/bench_full_comparison.py                              # cifar10 / resnet18 / cuda
    .venv/bin/python bench/bench_full_comparison.py --dataset digits --model cnn --device cpu
    .venv/bin/python bench/bench_full_comparison.py --data-dir /tmp/synthetic --train epochs=5 --csv out.csv

Each job is printed as it finishes (wall seconds from its first progress event to its last, and on CUDA the
peak of ``torch.cuda.max_memory_allocated`` while it ran, the peak statistics being reset when it starts), so a
run cut short still leaves its figures. It uses a fresh cache directory unless ``--cache-dir`` is given (then
finished jobs are reused and the figures measure a warm run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_synthetic import is_synthetic  # noqa: E402 (bench/ on the path first)

TERMINAL = ("done", "cached", "not_applicable", "cancelled")
GIB = 2.0 ** 30


class JobWatch:
    """The ``on_event`` callback: per job, wall seconds and peak GPU memory, printed as each job finishes.

    The local executor runs jobs one after another in this process, so resetting CUDA's peak-memory statistics
    at a job's first event makes ``max_memory_allocated`` at its last event that job's own peak.
    """

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.cuda = device.startswith("cuda")
        self.device = torch.device(device) if self.cuda else None
        self.started: dict[str, float] = {}
        self.finished: set[str] = set()
        self.jobs: dict[str, dict[str, Any]] = {}  # label -> kind, state, seconds, peak bytes (None off CUDA)

    def __call__(self, key: str, event: dict[str, Any]) -> None:
        now = time.perf_counter()
        if key not in self.started:
            self.started[key] = now
            if self.cuda:
                self.torch.cuda.reset_peak_memory_stats(self.device)
        state = event.get("state")
        if state not in TERMINAL or key in self.finished:
            return
        self.finished.add(key)
        peak = self.torch.cuda.max_memory_allocated(self.device) if self.cuda else None
        label = str(event.get("label", key))
        job = {"kind": event.get("kind", ""), "state": state, "seconds": now - self.started[key],
               "peak": peak}
        self.jobs[label] = job
        mem = "" if peak is None else f", peak GPU memory {peak / GIB:.2f} GiB"
        print(f"  job {label} ({job['kind']}): {state}, {job['seconds']:.1f} s{mem}", flush=True)

    def peak(self) -> float | None:
        """The largest per-job peak (bytes), or ``None`` off CUDA."""
        peaks = [j["peak"] for j in self.jobs.values() if j["peak"] is not None]
        return max(peaks) if peaks else None


def _value(text: str) -> Any:
    """A ``--train`` value: JSON (numbers, true/false) or else the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _train_overrides(items: list[str]) -> tuple[tuple[str, Any], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --train takes KEY=VALUE, got {item!r}")
        out.append((key.strip(), _value(value.strip())))
    return tuple(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--model", default="resnet18")
    p.add_argument("--forget-class", type=int, default=0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--executor", default="local")
    p.add_argument("--methods", default="all")
    p.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                   help="override the training config (repeatable), e.g. --train epochs=5")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--data-dir", type=Path, default=ROOT / "data")
    p.add_argument("--csv", type=Path, default=None, help="also write the comparison's wide table here")
    args = p.parse_args()

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"error: --device {args.device} but no CUDA device is visible "
                         f"(torch {torch.__version__}, torch.cuda.is_available() is False)")
    synthetic = is_synthetic(args.data_dir)
    if synthetic:
        os.environ.setdefault("UNLEARN_VERIFY_CHECKSUMS", "0")  # the files fail torchvision's md5 by construction
        print(f"*** SYNTHETIC DATA in {args.data_dir} (random pixels, bench/make_synthetic.py): the timings and "
              f"memory are real, the accuracies mean nothing ***", flush=True)
        if args.cache_dir is not None:
            print(f"*** warning: results computed on synthetic data go into {args.cache_dir}; never point a real "
                  f"run at that cache (results are cached by dataset name) ***", flush=True)

    from engine.methods import METHODS
    from engine.runner import run_comparison
    from engine.spec import ComparisonSpec, MethodSpec

    names = list(METHODS.keys()) if args.methods == "all" else args.methods.split(",")
    spec = ComparisonSpec(dataset=args.dataset, model=args.model, scenario="class",
                          scenario_params=(("forget_class", args.forget_class),), train=_train_overrides(args.train),
                          methods=tuple(MethodSpec(n) for n in names), seeds=(0,), device=args.device)
    dev = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else \
        f"CPU ({os.cpu_count()} cores)"
    print(f"{args.dataset}{' (SYNTHETIC)' if synthetic else ''} / {args.model} / class {args.forget_class}, 1 seed, "
          f"{len(names)} methods, executor {args.executor}, device {dev}, torch {torch.__version__}, "
          f"{platform.machine()}", flush=True)
    watch = JobWatch(args.device) if args.executor == "local" else None
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        start = time.perf_counter()
        res = run_comparison(spec, cache_dir=cache, data_dir=args.data_dir, executor=args.executor, on_event=watch)
        total = time.perf_counter() - start
    wide = res.wide.set_index("method")
    if args.csv is not None:
        res.wide.to_csv(args.csv, index=False)
    print(f"\nend to end: {total:.1f} s (training of original and retrain included)")
    peak = watch.peak() if watch is not None else None
    if peak is not None:
        print(f"peak GPU memory: {peak / GIB:.2f} GiB (largest per-job torch.cuda.max_memory_allocated)")
    if synthetic:
        print("data: SYNTHETIC (random pixels): accuracies below mean nothing")
    print("\n| method | status | unlearn (s) | speed-up vs retrain | job wall (s) | peak GPU (GiB) | forget_acc "
          "| test_acc | gap_to_retrain |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m, r in wide.iterrows():
        job = watch.jobs.get(f"{m} seed 0") if watch is not None else None  # the method's unlearn / model job
        wall = "" if job is None else f"{job['seconds']:.1f}"
        mem = "" if job is None or job["peak"] is None else f"{job['peak'] / GIB:.2f}"
        cells = [_cell(r, c, fmt) for c, fmt in (("unlearn_seconds", ".2f"), ("speedup_vs_retrain", ".1f"))]
        cells += [wall, mem]
        cells += [_cell(r, c, fmt) for c, fmt in (("forget_acc", ".3f"), ("test_acc", ".3f"),
                                                   ("gap_to_retrain", ".3f"))]
        print(f"| {m} | {r['status']} | " + " | ".join(cells) + " |")
    notes = [(m, r.get("note")) for m, r in wide.iterrows() if isinstance(r.get("note"), str) and r.get("note")]
    if notes:
        print("\nnotes (not applicable / failed):")
        for m, note in notes:
            print(f"- {m}: {note}")


def _cell(row: object, col: str, fmt: str) -> str:
    v = row.get(col)  # type: ignore[attr-defined]
    return "" if v is None or v != v else format(v, fmt)


if __name__ == "__main__":
    main()
