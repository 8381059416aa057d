"""A comparison's results as the dashboard shows them: tables plus lazy per-sample and per-class reads.

Built from :mod:`engine.api` values only (nothing here trains or evaluates); the drawing is ``results_view.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine import api

Inspection = api.Breakdowns  # per-class, forget-set and per-sample views, ready to chart


@dataclass(frozen=True)
class Results:
    """A comparison's tables as the results view shows them."""

    key: str
    spec: api.ComparisonSpec
    wide: pd.DataFrame  # exactly what the CSV export writes
    summary: pd.DataFrame
    complete: bool  # no row pending
    eval_jobs: dict[tuple[str, int], str]  # (method, seed) -> evaluation job of ok rows
    cache_dir: Path
    plan: api.Plan | None = None
    include_imported: bool = False  # rows may come from an imported results bundle (``source`` column says)

    @property
    def n_imported(self) -> int:
        """Rows whose numbers come from an imported results bundle, not from this engine."""
        return int((self.wide["source"] == "imported").sum()) if "source" in self.wide else 0

    @property
    def any_ok(self) -> bool:
        return bool((self.wide["status"] == "ok").any())

    def csv(self) -> bytes:
        return self.wide.to_csv(index=False).encode()

    def issues(self) -> pd.DataFrame:
        """Rows that did not produce numbers (failed, cancelled, not applicable) with their note."""
        bad = self.wide[~self.wide["status"].isin(["ok", "pending"])]
        return bad[["method", "seed", "status", "note"]].reset_index(drop=True)

    def _arrays(self, job: str) -> dict[str, np.ndarray]:
        return api.sample_arrays(job, self.cache_dir, self.include_imported)

    def forget_entropy_samples(self) -> pd.DataFrame:
        """Per-sample forget-set entropy of every finished run: columns method, seed, entropy."""
        frames = []
        for (method, seed), job in self.eval_jobs.items():
            arr = self._arrays(job).get("forget_entropy")
            if arr is not None:
                frames.append(pd.DataFrame({"method": method, "seed": seed, "entropy": np.asarray(arr)}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "seed", "entropy"])

    def shadow_roc(self) -> pd.DataFrame:
        """ROC points of PGU's shadow attack per method (seed 0) plus the attacker's held-out shadow ROC:
        columns method, fpr, tpr. Empty when the comparison ran without shadow models."""
        frames = []
        first = min((s for (_, s) in self.eval_jobs), default=0)
        for (method, seed), job in self.eval_jobs.items():
            if seed != first:
                continue
            arrays = self._arrays(job)
            if "mia_shadow_auc.fpr" in arrays:
                frames.append(pd.DataFrame({"method": method, "fpr": arrays["mia_shadow_auc.fpr"],
                                            "tpr": arrays["mia_shadow_auc.tpr"]}))
                if "mia_shadow_auc.shadow_fpr" in arrays and not any(
                        f["method"].iloc[0] == "attacker on shadow models" for f in frames):
                    frames.append(pd.DataFrame({"method": "attacker on shadow models",
                                                "fpr": arrays["mia_shadow_auc.shadow_fpr"],
                                                "tpr": arrays["mia_shadow_auc.shadow_tpr"]}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "fpr", "tpr"])

    def inspect(self, gallery_size: int = 16, data_dir: Path | None = None) -> Inspection:
        """Per-class / forget-set / per-sample tables of the finished runs (reads stored outputs only)."""
        if self.plan is None:
            raise ValueError("these results carry no plan to inspect")
        return api.breakdowns(self.plan, self.cache_dir, self.include_imported, gallery_size, data_dir)


def results_of(result: api.ComparisonResult, cache_dir: Path, include_imported: bool = False) -> Results:
    """The dashboard's :class:`Results` of an engine comparison result."""
    wide = result.wide
    rows = {(r.method, r.seed): r.eval_job for r in result.plan.rows}
    ok = wide[wide["status"] == "ok"]
    eval_jobs = {(m, int(s)): rows[(m, int(s))] for m, s in zip(ok["method"], ok["seed"], strict=True)
                 if rows.get((m, int(s)))}
    return Results(result.plan.key, result.plan.spec, wide, result.summary,
                   not (wide["status"] == "pending").any(), eval_jobs, cache_dir, result.plan, include_imported)


def stored_results(p: api.Plan, cache_dir: Path | None = None, include_imported: bool = False) -> Results:
    """What the store already holds for plan ``p`` (nothing is computed; see :func:`engine.api.stored`)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else api.default_cache_dir()
    return results_of(api.stored(p, cache_dir, include_imported), cache_dir, include_imported)
