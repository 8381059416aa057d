"""Collect a plan's finished evaluations into tables (tidy and wide) shared by the CLI, the CSV and the dashboard."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.jobs.model import OUTPUTS_BLOB, PER_SAMPLE_BLOB, JobOutcome
from engine.methods import METHODS
from engine.metrics import METRICS
from engine.runner.plan import Plan
from engine.store import Store, arrays_from_bytes

ID_COLUMNS = ["dataset", "paradigm", "scenario", "model", "method", "seed", "status", "source"]
SIZE_COLUMNS = ["n_forget", "n_retain", "n_val", "n_test"]  # the seed's split sizes (every CSV row)


def own_original_rows() -> dict[str, str]:
    """Row key -> title of the rows the plan adds for methods' own models before unlearning
    (``Method.own_original``, e.g. ``sisa_original`` -> "Original (SISA ensemble)")."""
    return {m.own_original[0]: m.own_original[1] for _, m in METHODS.items() if m.own_original is not None}


def row_title(method_key: str) -> str:
    """Display title of a result row's ``method`` key: a registered method's title, or the title a method declares
    for the row of its own model before unlearning (:func:`own_original_rows`); anything else its key."""
    own = own_original_rows()
    if method_key in own:
        return own[method_key]
    return METHODS.get(method_key).title if method_key in METHODS else method_key


def row_status(plan: Plan, store: Store, outcomes: dict[str, JobOutcome] | None = None) -> list[dict[str, Any]]:
    """Per row: status (``ok`` / ``not_applicable`` / ``failed`` / ``cancelled`` / ``pending``), reason, metrics,
    and ``source`` of an ``ok`` row: ``computed``, or ``imported`` when ``store`` is a
    :meth:`~engine.store.Store.with_imported` view answering from a results bundle."""
    outcomes = outcomes or {}
    out = []
    spec = plan.spec
    for row in plan.rows:
        rec: dict[str, Any] = {"dataset": spec.dataset, "paradigm": spec.paradigm, "scenario": spec.scenario,
                               "model": spec.model, "method": row.method, "seed": row.seed}
        metrics: dict[str, float | None] = {}
        reasons: dict[str, str] = {}
        source = ""  # "computed" | "imported" (from a results bundle, only through Store.with_imported)
        if row.status == "not_applicable":
            status, note = "not_applicable", row.reason
        else:
            res = store.result(row.eval_job) if row.eval_job else None
            if res is not None:
                status, note, source = "ok", "", res.source
                metrics, reasons = res.meta["metrics"], res.meta.get("reasons", {})
            else:
                status, note = _unfinished_status(plan, store, outcomes, row.eval_job)
        rec.update(status=status, source=source, note=note, metrics=metrics, reasons=reasons, eval_job=row.eval_job,
                   **{c: plan.sizes.get(row.seed, {}).get(c) for c in SIZE_COLUMNS})
        out.append(rec)
    return out


def _unfinished_status(plan: Plan, store: Store, outcomes: dict[str, JobOutcome],
                       eval_job: str | None) -> tuple[str, str]:
    """Why a row has no result: a failed/cancelled job in this execution, else a failure recorded in the
    store's progress events by an earlier execution, else ``pending``."""
    ancestors = plan.ancestors([eval_job])
    labels = {j.key: j.label for j in plan.jobs}
    for j in plan.jobs:
        o = outcomes.get(j.key)
        if j.key in ancestors and o is not None and o.status in ("failed", "cancelled", "skipped"):
            return ("cancelled" if o.status == "cancelled" else "failed"), o.error
    for key in ancestors:
        event = store.progress(key)
        if event and event.get("state") == "failed" and not store.has(key):
            return "failed", f"{labels.get(key, key)}: {event.get('message', '')}"
    return "pending", ""


def wide_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per method x seed: id columns, then one column per metric (``NaN`` = not applicable), then note."""
    metric_keys = METRICS.keys()
    rows = []
    for r in records:
        row = {c: r[c] for c in ID_COLUMNS}
        row.update({c: r.get(c) for c in SIZE_COLUMNS})
        for k in metric_keys:
            v = r["metrics"].get(k)
            row[k] = np.nan if v is None else float(v)
        row["note"] = r["note"]
        rows.append(row)
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, *SIZE_COLUMNS, *metric_keys, "note"])


def tidy_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per method x seed x metric (DESIGN.md: the store's results are a tidy table)."""
    rows = []
    for r in records:
        for k in METRICS.keys():
            v = r["metrics"].get(k)
            rows.append({**{c: r[c] for c in ID_COLUMNS}, "metric": k, "value": np.nan if v is None else float(v),
                         "reason": r["reasons"].get(k, "") if v is None else ""})
    return pd.DataFrame(rows)


def summary_table(wide: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per method (``ok`` rows only), columns ``<metric>`` and ``<metric>_std``."""
    ok = wide[wide["status"] == "ok"]
    metric_keys = [k for k in METRICS.keys() if k in wide.columns]
    if ok.empty:
        return pd.DataFrame(columns=["method", "seeds", *metric_keys])
    g = ok.groupby("method", sort=False)[metric_keys]
    mean, std = g.mean(), g.std(ddof=1) if ok["seed"].nunique() > 1 else g.std(ddof=0) * np.nan
    out = mean.copy()
    for k in metric_keys:
        out[f"{k}_std"] = std[k]
    out.insert(0, "seeds", ok.groupby("method", sort=False)["seed"].nunique())
    return out.reset_index()


def per_sample(store: Store, eval_job: str) -> dict[str, np.ndarray]:
    """A finished evaluation's per-sample arrays and outputs (logits) for charts."""
    arrays = arrays_from_bytes(store.blob(eval_job, PER_SAMPLE_BLOB))
    arrays.update(arrays_from_bytes(store.blob(eval_job, OUTPUTS_BLOB)))
    return arrays
