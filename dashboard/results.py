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
ROC_ATTACKS = ("mia_ulira", "mia_rmia", "mia_shadow_auc")  # attacks that store "<metric>.fpr" / "<metric>.tpr"
CKA_REFERENCES = {"cka_retrain": "to retrain", "cka_original": "to the original"}  # "<metric>.layers", ".per_layer"
EMBEDDING = "probe_forget_acc.embedding"  # (n, 2) points, with "<EMBEDDING>_forget" (True = forget sample)


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

    def _first_seed(self) -> list[tuple[str, int, dict[str, np.ndarray]]]:
        """``(method, seed, arrays)`` of every finished run of the first seed, in plan order."""
        first = min((s for (_, s) in self.eval_jobs), default=0)
        return [(m, s, self._arrays(job)) for (m, s), job in self.eval_jobs.items() if s == first]

    def roc_attacks(self) -> list[str]:
        """The attacks of :data:`ROC_ATTACKS` whose ROC curve some finished run of the first seed stored."""
        runs = self._first_seed()
        return [a for a in ROC_ATTACKS if any(f"{a}.fpr" in arrays for _, _, arrays in runs)]

    def attack_roc(self, metric: str) -> pd.DataFrame:
        """ROC points of membership attack ``metric`` (``mia_shadow_auc``, ``mia_ulira``, ``mia_rmia``: the row's
        forget-set scores vs retrain's) per method of the first seed: columns method, seed, fpr, tpr. Empty when
        the comparison did not run the attack."""
        frames = [pd.DataFrame({"method": m, "seed": s, "fpr": np.asarray(a[f"{metric}.fpr"], dtype=np.float64),
                                "tpr": np.asarray(a[f"{metric}.tpr"], dtype=np.float64)})
                  for m, s, a in self._first_seed() if f"{metric}.fpr" in a and f"{metric}.tpr" in a]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "seed", "fpr",
                                                                                          "tpr"])

    def shadow_roc(self) -> pd.DataFrame:
        """ROC points of PGU's shadow attack per method (first seed) plus the attacker's held-out shadow ROC:
        columns method, fpr, tpr. Empty when the comparison ran without shadow models."""
        roc = self.attack_roc("mia_shadow_auc")
        if roc.empty:
            return pd.DataFrame(columns=["method", "fpr", "tpr"])
        frames = [roc[["method", "fpr", "tpr"]]]
        held_out = next((a for _, _, a in self._first_seed() if "mia_shadow_auc.shadow_fpr" in a), None)
        if held_out is not None:
            frames.append(pd.DataFrame({"method": "attacker on shadow models",
                                        "fpr": held_out["mia_shadow_auc.shadow_fpr"],
                                        "tpr": held_out["mia_shadow_auc.shadow_tpr"]}))
        return pd.concat(frames, ignore_index=True)

    def layer_cka(self) -> pd.DataFrame:
        """Linear CKA per layer of the representation audit (first seed): columns method, seed, reference
        (:data:`CKA_REFERENCES`: "to retrain", "to the original"), layer, depth (forward order, 0 first), cka.
        Empty when the comparison ran without the audit."""
        cols = ["method", "seed", "reference", "layer", "depth", "cka"]
        frames = []
        for m, s, a in self._first_seed():
            for metric, reference in CKA_REFERENCES.items():
                if f"{metric}.layers" in a and f"{metric}.per_layer" in a:
                    layers = api.layer_names(a[f"{metric}.layers"])
                    frames.append(pd.DataFrame({"method": m, "seed": s, "reference": reference, "layer": layers,
                                                "depth": np.arange(len(layers)),
                                                "cka": np.asarray(a[f"{metric}.per_layer"], dtype=np.float64)}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)

    def embedding(self) -> pd.DataFrame:
        """The audit's 2-D embedding of the penultimate features (first seed): columns method, seed, x, y, group
        ("forget" / "retain" sample). Empty when the comparison ran without the audit."""
        frames = []
        for m, s, a in self._first_seed():
            if EMBEDDING in a and f"{EMBEDDING}_forget" in a:
                xy = np.asarray(a[EMBEDDING], dtype=np.float64)
                forget = np.asarray(a[f"{EMBEDDING}_forget"], dtype=bool)
                frames.append(pd.DataFrame({"method": m, "seed": s, "x": xy[:, 0], "y": xy[:, 1],
                                            "group": np.where(forget, "forget", "retain")}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "seed", "x", "y",
                                                                                          "group"])

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
