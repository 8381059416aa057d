"""The seed papers' reported numbers (``paper_tables/*.csv``) mapped onto the workbench's metric names.

The CSVs hold every numeric results table of the five seed papers exactly as printed (see
``paper_tables/README.md``). :func:`paper_numbers` selects the rows a preset reproduces and converts
what corresponds to one of our metrics (DESIGN.md "Metric definitions"):

* percent accuracies -> fractions; UGradSL's ``UA`` -> ``forget_acc = 1 - UA``; PGU/PPU errors ->
  ``1 - error`` (forget / retain / test); UDRU's "remaining data" accuracy counts other classes only ->
  ``retain_other_classes_acc``;
* UGradSL's MIA (Jia et al.) -> ``mia_efficacy``; LAF's ASR -> ``mia_asr``; PPU's loss-attacker accuracy
  -> ``mia_loss_acc``; UGradSL's H -> ``forget_entropy`` (nats);
* seconds / minutes / hours -> ``unlearn_seconds`` (for retrain rows: its training time, as ours).

Rows without a counterpart (UDRU's white-box MIA and "Original" train accuracy, ...) keep the paper's
metric name, value and unit, with ``mapped = False``. These numbers are *reported*, never measured here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.presets.base import PRESETS, PaperRef

TABLES_DIR = Path(__file__).parent / "paper_tables"
COLUMNS = ["paper", "table", "dataset", "model", "paradigm", "scenario", "scenario_param", "method", "our_method",
           "paper_metric", "metric", "value", "std", "unit", "mapped", "note"]

# (paper or "*", paper metric) -> (our metric, conversion); None = no counterpart
_PERCENT, _COMPLEMENT, _SAME, _MINUTES, _HOURS = "percent", "complement", "same", "minutes", "hours"
METRIC_MAP: dict[tuple[str, str], tuple[str, str] | None] = {
    ("*", "forget_acc"): ("forget_acc", _PERCENT),
    ("*", "retain_acc"): ("retain_acc", _PERCENT),
    ("udru", "retain_acc"): ("retain_other_classes_acc", _PERCENT),  # UDRU: remaining data = other classes only
    ("*", "test_acc"): ("test_acc", _PERCENT),
    ("*", "test_forget_acc"): ("test_forget_acc", _PERCENT),
    ("*", "test_retain_acc"): ("test_retain_acc", _PERCENT),
    ("*", "ua"): ("forget_acc", _COMPLEMENT),
    ("*", "forget_error"): ("forget_acc", _COMPLEMENT),
    ("*", "retain_error"): ("retain_acc", _COMPLEMENT),
    ("*", "test_error"): ("test_acc", _COMPLEMENT),
    ("*", "retain_test_error"): ("test_retain_acc", _COMPLEMENT),
    ("*", "entropy"): ("forget_entropy", _SAME),
    ("ugradsl", "mia"): ("mia_efficacy", _PERCENT),
    ("udru", "mia"): ("mia_whitebox", _PERCENT),  # white-box attack: % of forget data judged members
    ("*", "asr"): ("mia_asr", _PERCENT),
    ("*", "mia_acc"): ("mia_loss_acc", _PERCENT),
    ("*", "seconds"): ("unlearn_seconds", _SAME),
    ("*", "minutes"): ("unlearn_seconds", _MINUTES),
    ("*", "hours"): ("unlearn_seconds", _HOURS),
    ("*", "train_acc"): None,  # UDRU "Original": the original model on the whole training set
}
UNITS = {_PERCENT: "fraction", _COMPLEMENT: "fraction", _MINUTES: "seconds", _HOURS: "seconds"}

# paper method names that are one of ours under another name
METHOD_ALIASES: dict[tuple[str, str], str] = {
    ("pgu", "clean"): "retrain",  # trained on the clean data only (poisoned samples excluded)
    ("pgu", "poisoned"): "original",  # trained on the poisoned data
    ("ppu", "scrub_ppu"): "ppu_after",  # PPU applied after SCRUB (our ppu_after with base=scrub)
    ("ppu", "scrub_r"): "scrub",  # SCRUB+R: our scrub with rewind=true
    ("ppu", "ppu_random"): "ppu",  # pseudo=random
    ("ppu", "ppu_uniform"): "ppu",  # pseudo=uniform (the default)
}


def paper_table(paper: str) -> pd.DataFrame:
    """One paper's CSV as printed (all columns text except ``value``/``std``)."""
    path = TABLES_DIR / f"{paper}.csv"
    if not path.exists():
        have = ", ".join(sorted(p.stem for p in TABLES_DIR.glob("*.csv")))
        raise KeyError(f"no paper table for {paper!r}; have: {have}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for c in ("value", "std"):
        df[c] = pd.to_numeric(df[c].replace("", np.nan))
    return df


def _convert(paper: str, metric: str, value: float, std: float, unit: str) -> tuple[str, float, float, str, bool]:
    rule = METRIC_MAP.get((paper, metric), METRIC_MAP.get(("*", metric)))
    if rule is None:
        return metric, value, std, unit, False
    ours, how = rule
    if how == _PERCENT:
        value, std = value / 100.0, std / 100.0
    elif how == _COMPLEMENT:
        value, std = 1.0 - value / 100.0, std / 100.0
    elif how == _MINUTES:
        value, std = value * 60.0, std * 60.0
    elif how == _HOURS:
        value, std = value * 3600.0, std * 3600.0
    return ours, value, std, UNITS.get(how, unit), True


# Row-level renames: (paper, scenario, metric) -> our metric, where a paper scores a metric against the *observed*
# (noisy) training labels. LAF Table 3's Train_f is the accuracy w.r.t. the wrong labels the forgotten samples
# carried (retrain 0.17 %), i.e. our forget_acc_observed, not forget_acc (true labels).
OBSERVED_RULES: dict[tuple[str, str, str], str] = {("laf", "noisy_labels", "forget_acc"): "forget_acc_observed"}


def _select(df: pd.DataFrame, ref: PaperRef) -> pd.DataFrame:
    m = (df["table"] == ref.table) & (df["dataset"] == ref.dataset) & (df["model"] == ref.model)
    if ref.paradigm is not None:
        m &= df["paradigm"] == ref.paradigm
    if ref.scenario_params:
        m &= df["scenario_param"].isin([*ref.scenario_params, ""])
    if ref.note_prefix:
        m &= df["note"].str.startswith(ref.note_prefix)
    if ref.scenario is not None:
        m &= df["scenario"] == ref.scenario
    return df[m]


def map_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Paper rows (CSV columns) -> :data:`COLUMNS`: our metric names, converted values, ``our_method``."""
    from engine.methods import METHODS  # the method registry (heavy import) only when rows are mapped

    out = []
    for r in df.itertuples(index=False):
        metric, value, std, unit, mapped = _convert(r.paper, r.metric, r.value, r.std, r.unit)
        metric = OBSERVED_RULES.get((r.paper, r.scenario, metric), metric)
        alias = METHOD_ALIASES.get((r.paper, r.method))
        ours = alias or (r.method if r.method in METHODS else "")
        out.append({"paper": r.paper, "table": r.table, "dataset": r.dataset, "model": r.model,
                    "paradigm": r.paradigm, "scenario": r.scenario, "scenario_param": r.scenario_param,
                    "method": r.method, "our_method": ours, "paper_metric": r.metric, "metric": metric,
                    "value": value, "std": std, "unit": unit, "mapped": mapped, "note": r.note})
    return pd.DataFrame(out, columns=COLUMNS)


def paper_numbers(preset_key: str) -> pd.DataFrame:
    """The numbers the preset's paper reports for its setting, with our metric names where they correspond.

    Columns :data:`COLUMNS`; one row per printed number (tables in the preset's order). ``value`` and
    ``std`` are converted (fractions, seconds) where ``mapped``; otherwise as printed with the paper's unit.
    """
    preset = PRESETS.get(preset_key, "preset")
    if not preset.tables:
        return pd.DataFrame(columns=COLUMNS)
    df = paper_table(preset.paper)
    return map_rows(pd.concat([_select(df, ref) for ref in preset.tables], ignore_index=True))
