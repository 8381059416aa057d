"""The dashboard's side of the engine API: the page's selection, menus for widgets, and results for the views.

Everything engine-side comes from :mod:`engine.api` (a layering test forbids any other engine import in
``dashboard/``); this module adds what only the UI needs -- the :class:`Selection` the widgets and the URL hold --
and re-exports the API names the pages use, so a page imports ``data`` and nothing from ``engine``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard.job_manager import FINISHED, JobManager
from dashboard.results import Inspection, Results, results_of, stored_results
from engine import api
from engine.api import (
    DEVICES,
    BundleError,
    ComparisonSpec,
    ParamSchema,
    Plan,
    SpecError,
    check_demo,
    comparison_source,
    dataset_offline,
    default_cache_dir,
    default_epochs,
    default_executor,
    default_methods,
    default_workers,
    demo_enabled,
    demo_limits,
    device_available,
    executors,
    export_comparisons,
    has_imported,
    history,
    history_spec,
    import_comparisons,
    import_startup_bundle,
    matching_presets,
    method_catalogue,
    method_family,
    method_schema,
    method_title,
    metric_catalogue,
    not_applicable,
    paradigm_rate,
    paradigm_schema,
    plan,
    preset_info,
    presets,
    scenario_description,
    scenario_schema,
    spec_from_text,
    spec_summary,
    spec_to_text,
)

__all__ = [
    "DEFAULT_METHODS", "DEVICES", "MAX_SEEDS", "ULIRA_MAX", "ULIRA_MIN", "FINISHED", "BundleError", "ComparisonSpec",
    "Inspection", "JobManager",
    "ParamSchema", "Plan", "Results", "RunQueue", "Selection", "SpecError", "build_spec", "check_demo",
    "combined_summary", "combined_wide", "comparison_source", "dataset_offline", "datasets", "default_cache_dir",
    "default_epochs", "default_executor", "default_methods", "default_workers", "demo_enabled", "demo_limits",
    "device_available",
    "executors", "export_comparisons", "has_imported", "history", "history_spec", "import_comparisons",
    "import_startup_bundle", "annotate", "annotation", "delete_comparison", "matching_presets", "method_catalogue",
    "method_family", "method_schema",
    "method_title", "methods", "metric_catalogue", "metric_titles", "models", "not_applicable", "paradigm_rate",
    "paradigm_schema", "paradigms", "plan", "preset_info", "preset_paper_numbers", "preset_selection", "presets",
    "results_of", "scenario_description", "scenario_schema", "scenarios", "short_labels", "side_by_side",
    "spec_from_text", "spec_summary", "spec_to_text", "stored_results",
    "DEFAULT_TUNING_SEEDS", "OBJECTIVE", "TuneOptions", "tunable", "tuned_results", "tuning_studies",
]

DEFAULT_METHODS = api.DEFAULT_METHODS
MAX_SEEDS = api.MAX_SEEDS
ULIRA_MIN, ULIRA_MAX = 4, 64  # U-LiRA / RMIA shadow pairs K when on (engine.spec's MIN / MAX_ULIRA_SHADOWS)
RunQueue = api.RunQueue  # demo mode: the page's shared queue of runs
preset_paper_numbers = api.preset_paper_numbers
short_labels = api.short_labels
annotate = api.annotate  # History: a comparison's name, tags and note
annotation = api.annotation
delete_comparison = api.delete_comparison


# -- menus (key -> label) ----------------------------------------------------------------------------------------
def datasets() -> dict[str, str]:
    return api.menu("datasets")


def paradigms() -> dict[str, str]:
    return api.menu("paradigms")


def scenarios() -> dict[str, str]:
    return api.menu("scenarios")


def models() -> dict[str, str]:
    return api.menu("models")


def methods() -> dict[str, str]:
    return api.menu("methods")


def metric_titles() -> dict[str, str]:
    return api.menu("metrics")


# -- selection -> spec -----------------------------------------------------------------------------------------
@dataclass
class Selection:
    """What the Compare page's widgets hold (also what the URL encodes)."""

    dataset: str = "digits"
    paradigm: str = "supervised"
    rate: float | None = None
    paradigm_params: dict[str, Any] = field(default_factory=dict)  # the paradigm's options (noise type, loss, ...)
    scenario: str = "class"
    scenario_params: dict[str, Any] = field(default_factory=dict)
    model: str = "cnn"
    methods: list[str] = field(default_factory=default_methods)
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    seeds: int = 1
    device: str = "auto"
    epochs: int | None = None  # None = the dataset x model default
    shadow_models: int = 0  # PGU's shadow attack (mia_shadow_auc): shadow pairs, 0 = off
    labelled_fraction: float = 1.0  # label_free: share of training samples whose labels the training saw
    ulira_shadows: int = 0  # U-LiRA / RMIA (mia_ulira, mia_rmia): shadow pairs K, 0 = off, else 4..64
    feature_audit: bool = False  # the representation audit (CKA per layer, probes, weight distances, embedding)


def build_spec(sel: Selection) -> ComparisonSpec:
    """A :class:`ComparisonSpec` from the page's selection, checked as far as it can be without data (every range:
    raises :class:`SpecError` naming the field, the message the engine would give on Run)."""
    spec = api.make_spec(**asdict(sel))
    api.check_spec(spec)
    return spec


def preset_selection(key: str) -> Selection:
    """The preset as the Compare page's selection (scenario parameters complete, in schema order)."""
    return Selection(**api.preset_choice(key))


# -- several comparisons side by side ----------------------------------------------------------------------------
def side_by_side(keys: list[str], cache_dir: Path | None = None) -> tuple[dict[str, str], dict[str, Results]]:
    """Stored results of several recorded comparisons and a short label for each (nothing is computed)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    specs = {k: s for k in keys if (s := history_spec(k, cache_dir)) is not None}
    labels = api.short_labels(specs)
    return labels, {k: stored_results(plan(s), cache_dir, include_imported=True) for k, s in specs.items()}


def combined_summary(labels: dict[str, str], results: dict[str, Results]) -> pd.DataFrame:
    """The summaries of several comparisons stacked, with a leading ``comparison`` column."""
    frames = [r.summary.assign(comparison=labels[k]) for k, r in results.items() if not r.summary.empty]
    if not frames:
        return pd.DataFrame(columns=["comparison", "method"])
    df = pd.concat(frames, ignore_index=True)
    return df[["comparison", *[c for c in df.columns if c != "comparison"]]]


def combined_wide(labels: dict[str, str], results: dict[str, Results]) -> pd.DataFrame:
    """The wide tables (one row per method x seed) of several comparisons with a ``comparison`` column."""
    frames = [r.wide.assign(comparison=labels[k]) for k, r in results.items()]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["comparison"])
    return df[["comparison", *[c for c in df.columns if c != "comparison"]]]


# -- tuning under one protocol (issue 15) ------------------------------------------------------------------------
TuneOptions = api.TuneOptions  # light (engine.tuning.protocol): the form states the protocol without torch
OBJECTIVE = api.OBJECTIVE
DEFAULT_TUNING_SEEDS = api.DEFAULT_TUNING_SEEDS
tunable = api.tunable  # method -> why the tuner does not search it ("" = it does)


def __getattr__(name: str) -> Any:
    """``data.MethodStudy``: the tuner's study type, imported on first use (it brings the engine's heavy parts)."""
    if name == "MethodStudy":
        return api.MethodStudy
    raise AttributeError(f"module 'dashboard.data' has no attribute {name!r}")


def tuning_studies(spec: ComparisonSpec, cache_dir: Path | None = None) -> dict[str, Any]:
    """The recorded tuner studies of ``spec``'s methods under the default protocol (method ->
    :class:`MethodStudy`; empty when the comparison was never tuned). Nothing is run."""
    return api.studies(spec, TuneOptions(), cache_dir)


def tuned_results(spec: ComparisonSpec, studies: dict[str, Any], cache_dir: Path | None = None) -> Results | None:
    """The stored results of the tuned comparison (``spec`` with every studied method at its best configuration,
    on the same reported seeds; nothing is computed), ``None`` when there are no studies."""
    if not studies:
        return None
    return stored_results(plan(api.tuned_spec(spec, studies)), cache_dir)
