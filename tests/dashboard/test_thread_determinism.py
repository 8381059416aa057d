"""Seeding that threads cannot disturb (issue 10 item 3; DESIGN.md "Evaluation protocol": randomness from the job).

Reproduces the review's finding -- a comparison run while the page re-plans another stored different numbers
-- as a regression test: two different comparisons started together in one ``JobManager``, with the page
re-planning (and a careless neighbour drawing from torch's global RNG) in a loop beside them, store exactly the
numbers each stores alone in a fresh cache.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dashboard import data
from engine.runner import run_comparison
from engine.spec import ComparisonSpec, MethodSpec

TIMING = {"unlearn_seconds", "speedup_vs_retrain"}  # wall-clock: differ between any two runs
TRAIN = (("epochs", 3),)
SPEC_A = ComparisonSpec(model="cnn", scenario="class", scenario_params=(("forget_class", 3),), train=TRAIN,
                        methods=tuple(MethodSpec(m) for m in ("original", "retrain", "finetune", "bad_teacher")))
SPEC_B = ComparisonSpec(model="mlp", scenario="random", scenario_params=(("fraction", 0.1),), train=TRAIN,
                        methods=tuple(MethodSpec(m) for m in ("original", "retrain", "random_label", "eu_k")))


def _numbers(wide: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in wide.columns if c not in TIMING and c != "note"]
    return wide[cols].sort_values(["method", "seed"]).reset_index(drop=True)


@pytest.mark.slow
def test_parallel_comparisons_with_replanning_store_what_each_stores_alone(tmp_path: Path) -> None:
    alone = {name: _numbers(run_comparison(spec, cache_dir=tmp_path / f"alone-{name}", data_dir=Path("data")).wide)
             for name, spec in (("a", SPEC_A), ("b", SPEC_B))}
    for df in alone.values():
        assert (df["status"] == "ok").all()

    mgr = data.JobManager(tmp_path / "shared", data_dir=Path("data"))
    stop = threading.Event()

    def page_reruns() -> None:  # the page re-plans other comparisons on every rerun; a neighbour draws globally
        other = ComparisonSpec(model="mlp", scenario="class", scenario_params=(("forget_class", 5),),
                               methods=(MethodSpec("original"), MethodSpec("bad_teacher")), seeds=(0, 1))
        while not stop.is_set():
            data.plan(other)
            torch.rand(1000)
            torch.nn.Linear(64, 64)  # default init draws from the global RNG

    noise = [threading.Thread(target=page_reruns, daemon=True) for _ in range(2)]
    for t in noise:
        t.start()
    try:
        ka, kb = mgr.start(SPEC_A), mgr.start(SPEC_B)
        assert mgr.wait(ka, timeout=600) == "done" and mgr.wait(kb, timeout=600) == "done"
    finally:
        stop.set()
        for t in noise:
            t.join(30)
    for name, key in (("a", ka), ("b", kb)):
        res = mgr.result(key)
        assert res is not None
        together = _numbers(res.wide)
        pd.testing.assert_frame_equal(together, alone[name], check_exact=True)
        assert np.isfinite(together.select_dtypes("number").to_numpy(dtype=float)[:, :4]).all()
