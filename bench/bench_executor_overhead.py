"""Benchmark: per-job overhead of the Ray executor against the in-process one, on a tiny comparison.

The comparison (digits, mlp, one training epoch, original + retrain + finetune, one seed: 7 jobs) is run
by each executor into a fresh cache (cold) and again with everything cached (warm). Ray is measured twice
cold: right after ``ray.init`` (its workers still have to start and import torch) and with warm workers.
Per-job overhead = (Ray seconds - local seconds) / jobs. Also: ``ray.init`` itself and the round trip of
an empty task. Prints a markdown table.

    .venv/bin/python bench/bench_executor_overhead.py
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # local runtime only: no token needed
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def main() -> None:
    import ray
    import torch

    from engine.executors import LocalExecutor, RayExecutor
    from engine.runner import make_plan, run_comparison
    from engine.spec import ComparisonSpec, MethodSpec

    torch.set_num_threads(1)  # as the Ray workers (one CPU each)
    spec = ComparisonSpec(model="mlp", scenario_params=(("forget_class", 3),), train=(("epochs", 1),),
                          methods=(MethodSpec("original"), MethodSpec("retrain"),
                                   MethodSpec("finetune", (("epochs", 1),))))
    data = ROOT / "data"
    n_jobs = len(make_plan(spec, data).jobs)

    def timed(executor: object, cache: Path) -> float:
        start = time.perf_counter()
        res = run_comparison(spec, cache_dir=cache, data_dir=data, executor=executor)  # type: ignore[arg-type]
        assert set(res.wide["status"]) == {"ok"}, res.wide[["method", "status", "note"]]
        return time.perf_counter() - start

    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        timed(LocalExecutor(), tmp_path / "warmup")  # imports, dataset preparation: not the executor's cost
        local = LocalExecutor()
        rows.append(("local", "cold", timed(local, tmp_path / "local")))
        rows.append(("local", "warm", timed(local, tmp_path / "local")))
        ray_ex = RayExecutor()
        start = time.perf_counter()
        ray_ex.connect()
        init = time.perf_counter() - start
        rows.append(("ray", "cold (fresh workers)", timed(ray_ex, tmp_path / "ray1")))
        rows.append(("ray", "cold (warm workers)", timed(ray_ex, tmp_path / "ray2")))
        rows.append(("ray", "warm", timed(ray_ex, tmp_path / "ray2")))
        noop = ray.remote(lambda: None)
        ray.get(noop.remote())
        start = time.perf_counter()
        for _ in range(20):
            ray.get(noop.remote())
        task = (time.perf_counter() - start) / 20
        cpus = ray.cluster_resources().get("CPU", 0)
        ray.shutdown()

    base = {"cold": rows[0][2], "warm": rows[1][2]}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (Ray: {cpus:g} CPUs), torch {torch.__version__}, "
          f"ray {ray.__version__}; comparison: {n_jobs} jobs")
    print(f"ray.init: {init:.1f} s; empty task round trip: {task * 1000:.1f} ms")
    print()
    print("| executor | cache | seconds | per job (s) | overhead vs local per job (s) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, cache, secs in rows:
        ref = base["warm" if cache == "warm" else "cold"]
        over = "" if name == "local" else f"{(secs - ref) / n_jobs:+.3f}"
        print(f"| {name} | {cache} | {secs:.2f} | {secs / n_jobs:.3f} | {over} |")


if __name__ == "__main__":
    main()
