"""The engine's public API: the one module the dashboard and the CLI import (docs/architecture.md, "Layers").

Sections: errors and spec types; menus and catalogues (:mod:`engine.catalogue`); building specs
(:mod:`engine.specs`); comparisons (plan, run, stored results, per-sample arrays, per-class and forget-set
breakdowns); history; paper presets; results bundles; hosted-demo caps; executors, devices and directories.
Everything returns plain Python values and pandas tables; nothing here imports Streamlit.
"""

from __future__ import annotations

import importlib
import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from engine.errors import RunFailed, SpecError
from engine.paths import DATA_DIR_ENV, default_data_dir
from engine.registry import COMPONENT_KINDS as KINDS
from engine.spec import MAX_SEEDS, ComparisonSpec, MethodSpec
from engine.store import CACHE_DIR_ENV, Store, default_cache_dir

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from engine.executors import Executor
    from engine.executors.base import EventFn
    from engine.runner import ComparisonResult, Plan
    from engine.runner.eta import Estimates


class _Module:
    """A module imported on first use: ``import engine.api`` stays free of torch and pandas, so that a CLI call
    answered from saved tables (:func:`cached_answer`) never imports them."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


_bundle, _catalogue, _data = _Module("engine.bundle"), _Module("engine.catalogue"), _Module("engine.data")
_demo, _device, _executors = _Module("engine.demo"), _Module("engine.device"), _Module("engine.executors")
_methods, _presets, _runner = _Module("engine.methods"), _Module("engine.presets"), _Module("engine.runner")
_specs, _pd = _Module("engine.specs"), _Module("pandas")

# names the API re-exports from the modules below it, resolved on first access (PEP 562)
_REEXPORTS: dict[str, tuple[str, ...]] = {
    "engine.catalogue": ("DEFAULT_METHODS", "dataset_has_groups", "dataset_offline", "default_epochs", "describe",
                         "menu", "method_catalogue", "method_family", "method_keys", "method_schema", "method_title",
                         "metric_catalogue", "not_applicable", "paradigm_rate", "paradigm_schema",
                         "scenario_description", "scenario_schema"),
    "engine.config": ("ParamSchema",),
    "engine.data": ("DatasetUnavailable",),
    "engine.demo": ("RunQueue",),
    "engine.device": ("resolve_device",),
    "engine.executors": ("Executor", "make_executor"),
    "engine.bundle": ("BundleError",),
    "engine.runner": ("ComparisonResult", "Plan"),
    "engine.tuning.protocol": ("DEFAULT_TRIALS", "DEFAULT_TUNING_SEEDS", "OBJECTIVE", "TuneOptions"),
    "engine.tuning.study": ("MethodStudy",),
    "engine.tuning.compare": ("TunedComparison", "tuned_spec"),
    "engine.tuning.space": ("search_space",),
    "engine.specs": ("make_spec", "matching_presets", "preset_choice", "short_labels", "spec_from_text",
                     "spec_summary", "spec_to_text"),
}
_SOURCE = {name: module for module, names in _REEXPORTS.items() for name in names}

__all__ = [
    "BUNDLE_ENV", "CACHE_DIR_ENV", "DATA_DIR_ENV", "DEVICES", "KINDS", "MAX_SEEDS", "Breakdowns", "ComparisonSpec",
    "MethodSpec", "RunFailed", "SpecError", "breakdowns", "cached_answer", "check_demo", "check_method", "check_spec",
    "comparison_source", "default_cache_dir", "default_data_dir", "default_executor", "default_methods",
    "demo_enabled", "demo_limits", "device_available", "executors", "export_comparisons", "has_imported", "history",
    "history_spec", "import_comparisons", "import_startup_bundle", "plan", "preset", "preset_info", "preset_listing",
    "preset_paper_numbers", "presets", "provenance", "run", "sample_arrays", "stored", "write_bundle",
]
__all__ += sorted(_SOURCE)  # the re-exported names
__all__ += ["HISTORY_COLUMNS", "annotate", "annotation", "delete_comparison"]  # history management (issue 14)
__all__ += ["run_tuned", "studies", "tunable", "tune_defaults"]  # tuning under one protocol (issue 15)
__all__ += ["layer_names"]  # the representation audit (issue 16)


def __getattr__(name: str) -> Any:
    """A re-exported name (``api.menu``, ``from engine.api import Plan``), imported on first access."""
    if name not in _SOURCE:
        raise AttributeError(f"module 'engine.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCE[name]), name)
    globals()[name] = value
    return value



DEVICES = ("auto", "cpu", "cuda")
BUNDLE_ENV = "UNLEARN_BUNDLE"  # a results bundle the dashboard imports at start-up (hosted demos)


def _cache(cache_dir: Path | str | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


@contextmanager
def _store(cache_dir: Path | str | None, include_imported: bool = False) -> Iterator[Any]:
    base = Store(_cache(cache_dir))
    try:
        yield base.with_imported() if include_imported else base
    finally:
        base.close()


# -- comparisons -------------------------------------------------------------------------------------------------
def plan(spec: ComparisonSpec, data_dir: Path | str | None = None) -> Plan:
    """Validate ``spec`` and build its job graph (raises :class:`SpecError` naming the field); cheap for the
    embedded dataset."""
    return _runner.make_plan(spec, Path(data_dir) if data_dir is not None else default_data_dir())


def check_spec(spec: ComparisonSpec) -> None:
    """Check ``spec`` without loading data (names, ranges of every setting and hyper-parameter): raises
    :class:`SpecError` naming the field, as :func:`plan` would; a form can call it on every change."""
    _runner.check_spec(spec)


def run(spec: ComparisonSpec, *, cache_dir: Path | str | None = None, data_dir: Path | str | None = None,
        executor: Executor | str | None = None, on_event: EventFn | None = None,
        cancel: threading.Event | None = None, plan: Plan | None = None) -> ComparisonResult:
    """Run ``spec`` (finished jobs come from the cache, never recomputed) and return its tables."""
    return _runner.run_comparison(spec, cache_dir=None if cache_dir is None else Path(cache_dir),
                          data_dir=None if data_dir is None else Path(data_dir), executor=executor,
                          on_event=on_event, cancel=cancel, plan=plan)


# -- tuning under one protocol (issue 15) ----------------------------------------------------------------------------
def tunable(spec: ComparisonSpec) -> dict[str, str]:
    """Method -> why the tuner does not search it ("" = it does): reference models, methods that cannot run in the
    setting, methods with nothing to search."""
    return importlib.import_module("engine.tuning.study").tunable(spec)


def run_tuned(spec: ComparisonSpec, options: Any, *, cache_dir: Path | str | None = None,
              data_dir: Path | str | None = None, executor: Executor | str | None = None,
              on_event: EventFn | None = None, cancel: threading.Event | None = None,
              on_trial: Any = None, plan: Plan | None = None) -> Any:
    """Run ``spec`` at its defaults, tune every method under the one protocol (``options``: a
    :class:`~engine.tuning.TuneOptions`; on ``val``, tuning seeds only) and run the tuned configurations on the
    reported seeds: a :class:`~engine.tuning.TunedComparison` (``table()`` has ``variant = default | tuned``)."""
    tuning = importlib.import_module("engine.tuning.compare")
    runner = executor if isinstance(executor, _executors.Executor) else _executors.make_executor(executor)
    return tuning.run_tuned(spec, options, _cache(cache_dir), Path(data_dir) if data_dir is not None
                            else default_data_dir(), runner, on_event, cancel, on_trial, plan)


def tune_defaults(*, cache_dir: Path | str | None = None, data_dir: Path | str | None = None,
                  executor: Executor | str | None = None, on_event: EventFn | None = None,
                  out: Path | str | None = None) -> tuple[Any, Path]:
    """Run (or replay from the cache) the tuner run that chooses the shipped digits defaults
    (:mod:`engine.tuning.defaults`: tuning, then the stability rule's confirmation) and write its record (default
    ``engine/methods/shared/tuned_defaults.json``): returns the :class:`~engine.tuning.defaults.DefaultsRun` and the
    record's path."""
    defaults = importlib.import_module("engine.tuning.defaults")
    runner = executor if isinstance(executor, _executors.Executor) else _executors.make_executor(executor)
    run = defaults.run_defaults(_cache(cache_dir), Path(data_dir) if data_dir is not None else default_data_dir(),
                                runner, on_event)
    path = defaults.write_record(run, Path(out)) if out is not None else defaults.write_record(run)
    return run, path


def studies(spec: ComparisonSpec, options: Any, cache_dir: Path | str | None = None) -> dict[str, Any]:
    """The recorded studies of ``spec``'s methods under ``options`` (method -> :class:`~engine.tuning.MethodStudy`,
    only those with at least one recorded trial); nothing is run."""
    return importlib.import_module("engine.tuning.study").recorded_studies(spec, options, _cache(cache_dir))


def stored(p: Plan, cache_dir: Path | str | None = None, include_imported: bool = False) -> ComparisonResult:
    """What the store already holds for plan ``p`` (nothing is computed).

    Rows whose jobs failed in an earlier run show as ``failed`` with the recorded error, not ``pending``. With
    ``include_imported`` rows this engine has not computed are filled from imported results bundles, marked
    ``source="imported"``.
    """
    with _store(cache_dir, include_imported) as store:
        return _runner.collect(p, store)


def sample_arrays(eval_job: str, cache_dir: Path | str | None = None,
                  include_imported: bool = False) -> dict[str, np.ndarray]:
    """An evaluation's per-sample arrays (``forget_entropy``, ``mia_shadow_auc.fpr``, ...); empty when absent."""
    with _store(cache_dir, include_imported) as store:
        try:
            return dict(_runner.per_sample(store, eval_job))
        except KeyError:
            return {}


def layer_names(encoded: np.ndarray) -> list[str]:
    """The layer names of a representation metric's ``<metric>.layers`` array (stored as UTF-8 bytes, since every
    stored array is numeric)."""
    return importlib.import_module("engine.metrics.representation").layer_names(encoded)


@dataclass(frozen=True)
class Breakdowns:
    """Per-class, forget-set and per-sample views of a comparison's stored outputs, ready to chart."""

    per_class: pd.DataFrame  # method, seed, split, class, n, correct, accuracy
    confusion: pd.DataFrame  # method, seed, true, predicted, count (forget set)
    samples: pd.DataFrame  # one row per forget sample x method x seed (the per-sample CSV)
    gallery: Any  # engine.runner.breakdowns.Gallery: forget-set images and each method's prediction
    forget_classes: tuple[int, ...]
    class_names: tuple[str, ...]

    def samples_csv(self) -> bytes:
        return self.samples.to_csv(index=False).encode()


def breakdowns(p: Plan, cache_dir: Path | str | None = None, include_imported: bool = False,
               gallery_size: int = 16, data_dir: Path | str | None = None) -> Breakdowns:
    """Read the stored outputs of plan ``p``'s finished runs into per-class / forget-set / per-sample tables.

    Loads the dataset for its true labels and images (nothing is trained or evaluated).
    """
    spec = p.spec
    data = _data.load_dataset(spec.dataset, Path(data_dir) if data_dir is not None else default_data_dir(),
                        coarse=spec.coarse, device="cpu")
    with _store(cache_dir, include_imported) as store:
        b = _runner.breakdowns
        return Breakdowns(b.per_class_accuracy(p, store, data), b.forget_confusion(p, store, data),
                          b.forget_samples(p, store, data), b.gallery(p, store, data, gallery_size),
                          b.forget_classes(p, store), data.class_names)


def has_imported(p: Plan, cache_dir: Path | str | None = None) -> bool:
    """Whether a results bundle brought rows of plan ``p`` that this engine has not computed (jobs are content-
    keyed, so any comparison sharing the rows counts); they are shown only when asked for."""
    with _store(cache_dir) as store:
        return any(r.eval_job and not store.has(r.eval_job) and store.imported_result(r.eval_job) is not None
                   for r in p.rows)


def cached_answer(spec: ComparisonSpec, cache_dir: Path | str | None = None) -> dict[str, Any] | None:
    """The saved tables of a finished comparison (``{"wide_csv", "summary_csv", "evals"}``, CSV text), or ``None``
    when it has none or a result they came from is gone. Imports neither torch nor pandas."""
    if not _cache(cache_dir).is_dir():  # nothing cached yet; do not create the directory just to look
        return None
    with _store(cache_dir) as store:
        return store.answer(spec.comparison_key())


# -- run progress: job duration estimates and the ETA (issue 14) --------------------------------------------------
def estimate_jobs(p: Plan, cache_dir: Path | str | None = None, device: str | None = None) -> Estimates:
    """Expected seconds of each job of plan ``p`` from the store's earlier jobs of the same kind, method, dataset,
    model (and ``device``, e.g. ``"cpu"``), else a default per kind; ``0`` for jobs the store holds (their recorded
    seconds in ``.stored``) or the run does not need (:mod:`engine.runner.eta`)."""
    return importlib.import_module("engine.runner.eta").estimate_plan(p, _cache(cache_dir), device)


def stored_seconds(keys: list[str], cache_dir: Path | str | None = None) -> dict[str, float]:
    """The recorded wall seconds of those finished jobs ``keys`` the store holds."""
    with _store(cache_dir) as store:
        return importlib.import_module("engine.runner.eta").stored_seconds(store, keys)


def eta_seconds(elapsed: float, done: float, remaining: float, prior_pace: float = 1.0) -> float:
    """Seconds left: ``remaining`` estimated seconds of work at the run's pace so far (``elapsed`` wall seconds for
    ``done`` estimated seconds), pulled towards ``prior_pace`` early on (:func:`engine.runner.eta.eta_seconds`)."""
    return importlib.import_module("engine.runner.eta").eta_seconds(elapsed, done, remaining, prior_pace)


__all__ += ["estimate_jobs", "eta_seconds", "stored_seconds"]


# -- history -----------------------------------------------------------------------------------------------------
def provenance(rec: dict[str, Any]) -> str:
    """``computed`` or ``imported (bundle <sha256 prefix>, <time>)`` for a comparison record."""
    imp = rec.get("imported")
    if not imp:
        return "computed"
    when = _pd.Timestamp(imp.get("imported_at", 0), unit="s").strftime("%Y-%m-%d %H:%M")
    return f"imported (bundle {str(imp.get('bundle_sha256', ''))[:12]}, {when})"


HISTORY_COLUMNS = ["key", "name", "differs", "comparison", "methods", "tags", "note", "source", "created", "rows ok"]
_annotations = _Module("engine.store.annotations")


def history(cache_dir: Path | str | None = None) -> pd.DataFrame:
    """Every comparison recorded in the store, newest first (:data:`HISTORY_COLUMNS`): ``name``, ``tags`` (a
    list) and ``note`` as the user wrote them (:func:`annotate`); ``differs``: what differs from the other recorded
    comparisons, hyper-parameters included (:func:`short_labels`); ``comparison``: the setting in one line;
    ``methods``: those with a finished run; ``source`` says which were imported."""
    rows, specs = [], {}
    with _store(cache_dir) as store:
        recs = [(k, r, False) for k, r in store.comparisons()]
        local = {k for k, _, _ in recs}
        recs += [(k, r, True) for k, r in store.imported_comparisons() if k not in local]
        notes = _annotations.annotations(store)
        for key, rec, imported in recs:
            found = store.imported_result if imported else store.result
            done = [r for r in rec["rows"] if r["eval_job"] and found(r["eval_job"]) is not None]
            note = notes.get(key) or _annotations.Annotation()
            try:
                specs[key] = ComparisonSpec.from_json(rec["spec"])
            except (SpecError, TypeError, KeyError):  # a record of another build: listed, labelled by its key
                pass
            rows.append({"key": key, "name": note.name, "comparison": _specs.spec_summary(rec["spec"]),
                         "methods": ", ".join(dict.fromkeys(r["method"] for r in done)), "tags": list(note.tags),
                         "note": note.note, "source": provenance(rec),
                         "created": _pd.Timestamp(rec["created"], unit="s").strftime("%Y-%m-%d %H:%M:%S"),
                         "rows ok": f"{len(done)}/{len(rec['rows'])}", "_t": rec["created"]})
    labels = _specs.short_labels(specs)
    for row in rows:
        row["differs"] = labels.get(row["key"], f"comparison {row['key'][:6]}")
    df = _pd.DataFrame(rows, columns=[*HISTORY_COLUMNS, "_t"])
    return df.sort_values("_t", ascending=False).drop(columns="_t").reset_index(drop=True)


def annotation(key: str, cache_dir: Path | str | None = None) -> dict[str, Any]:
    """The user's ``{"name", "tags", "note"}`` of comparison ``key`` (empty values when none were written)."""
    with _store(cache_dir) as store:
        return _annotations.annotation(store, key).to_json()


def annotate(key: str, *, name: str | None = None, tags: list[str] | str | None = None, note: str | None = None,
             cache_dir: Path | str | None = None) -> dict[str, Any]:
    """Rename, tag and / or note recorded comparison ``key`` (``None`` keeps a field; ``""`` clears it; ``tags`` a
    list or comma-separated text); returns the new annotation. Bad input raises :class:`SpecError` naming the
    field (``name`` at most 80 characters, ``tags`` at most 10 of 24, ``note`` at most 2000) and writes nothing.
    Annotations are kept beside the record, never in it (its key, answer and bundles do not change)."""
    with _store(cache_dir) as store:
        return _annotations.annotate(store, key, name=name, tags=tags, note=note).to_json()


def delete_comparison(key: str, cache_dir: Path | str | None = None) -> list[str]:
    """Remove comparison ``key`` from History: its record (computed or imported), saved answer and annotation.
    Job results are never removed (other comparisons share them; running it again recomputes nothing).
    Returns what was removed (empty when there was no such comparison)."""
    with _store(cache_dir) as store:
        return _annotations.delete_comparison(store, key)


def history_spec(key: str, cache_dir: Path | str | None = None) -> ComparisonSpec | None:
    """The spec of a recorded (or imported) comparison, ``None`` if the store has no such key."""
    with _store(cache_dir, include_imported=True) as store:
        rec = store.comparison(key)
    return None if rec is None else ComparisonSpec.from_json(rec["spec"])


def comparison_source(key: str, cache_dir: Path | str | None = None) -> str:
    """``computed`` / ``imported (bundle …)`` / ``computed; also imported (bundle …)`` for a comparison key."""
    with _store(cache_dir) as store:
        local, imported = store.comparison(key), store.imported_comparison(key)
    if imported is None:
        return "computed"
    return provenance(imported) if local is None else f"computed; also {provenance(imported)}"


# -- paper presets -----------------------------------------------------------------------------------------------
def presets() -> dict[str, str]:
    """``key -> menu label`` of every paper preset (CPU ones first per paper; full-size ones marked)."""
    return {k: f"{p.title}{' — full size, GPU recommended' if p.gpu_recommended else ' — CPU'}"
            for k, p in _presets.PRESETS.items()}


def preset_info(key: str) -> dict[str, Any]:
    """What the UI says about a preset: paper, title, differences, GPU, methods not implemented here, tables."""
    p = _presets.PRESETS.get(key, "preset")
    runnable, missing = p.available_methods(_catalogue.method_keys())
    paper = _presets.PAPERS[p.paper]
    return {"key": key, "title": p.title, "paper": paper.short, "paper_title": paper.title,
            "differences": p.differences, "gpu_recommended": p.gpu_recommended,
            "offline": _catalogue.dataset_offline(p.dataset),
            "methods": runnable, "missing": missing, "tables": list(dict.fromkeys(r.table for r in p.tables)),
            "dataset": p.dataset, "model": p.model}


def check_method(key: str) -> None:
    """Raise :class:`SpecError` naming ``methods`` when ``key`` is no registered method."""
    _methods.METHODS.get(key, "methods")


def preset_listing() -> list[tuple[str, str, str, bool, str]]:
    """``(key, paper, dataset / model, GPU recommended, title)`` of every preset (the CLI's ``list presets``)."""
    return [(k, p.paper_short, f"{p.dataset} / {p.model}", p.gpu_recommended, p.title)
            for k, p in _presets.PRESETS.items()]


def preset(key: str) -> Any:
    """The registered preset ``key`` (raises :class:`SpecError` naming ``preset`` when unknown)."""
    return _presets.PRESETS.get(key, "preset")


def preset_paper_numbers(key: str) -> pd.DataFrame:
    """The paper's reported numbers for a preset (``engine.presets.paper_numbers``): reported, not measured."""
    return _presets.paper_numbers(key)


# -- results bundles ---------------------------------------------------------------------------------------------
def export_comparisons(keys: list[str] | None, cache_dir: Path | str | None = None) -> bytes:
    """A results bundle (zip bytes) of the given cached comparisons (``None``: all; no weights, no pickles)."""
    buf = io.BytesIO()
    _bundle.export_bundle(_cache(cache_dir), buf, keys=keys)
    return buf.getvalue()


def write_bundle(out: IO[bytes], keys: list[str] | None, cache_dir: Path | str | None = None,
                 with_weights: bool = False) -> list[str]:
    """Write a results bundle of comparisons ``keys`` (``None``: all) to ``out``; returns the keys written.
    Weights (torch tensors, loaded back with ``weights_only=True``) only when asked."""
    return _bundle.export_bundle(_cache(cache_dir), out, keys=keys, with_weights=with_weights)


def import_comparisons(source: bytes | Path, cache_dir: Path | str | None = None) -> list[str]:
    """Validate a bundle (bytes or a file) and add it to the cache; raises :class:`BundleError` (store unchanged)."""
    return _bundle.import_bundle(_cache(cache_dir), source)


def import_startup_bundle(cache_dir: Path | str | None = None) -> str:
    """Import ``$UNLEARN_BUNDLE`` when set and present (hosted demos); returns a one-line status."""
    path = os.environ.get(BUNDLE_ENV, "").strip()
    if not path:
        return ""
    if not Path(path).is_file():
        return f"no bundle at {path}"
    try:
        keys = _bundle.import_bundle(_cache(cache_dir), Path(path))
    except _bundle.BundleError as e:
        return f"bundle {path} refused: {e.message}"
    return f"imported {len(keys)} comparison(s) from {path}"


# -- hosted demo -------------------------------------------------------------------------------------------------
def demo_enabled() -> bool:
    """Whether this server runs in hosted demo mode (``UNLEARN_DEMO=1``)."""
    return _demo.demo_enabled()


def demo_limits() -> dict[str, Any]:
    """The demo caps as plain values (for the page's explanation)."""
    lim = _demo.LIMITS
    return {"max_seeds": lim.max_seeds, "max_methods": lim.max_methods, "max_concurrent": lim.max_concurrent,
            "large_models": lim.large_models, "datasets": list(lim.datasets)}


def check_demo(spec: ComparisonSpec, data_dir: Path | str | None = None) -> None:
    """In demo mode, raise :class:`SpecError` naming the field a spec exceeds a cap with; otherwise do nothing."""
    if demo_enabled():
        _demo.check_spec(spec, data_dir if data_dir is not None else default_data_dir())


def default_methods() -> list[str]:
    """The first method selection (cut to the demo cap in demo mode)."""
    chosen = [m for m in _catalogue.DEFAULT_METHODS if m in _catalogue.method_keys()]
    return chosen[:_demo.LIMITS.max_methods] if demo_enabled() else chosen


# -- executors, devices ------------------------------------------------------------------------------------------
def executors() -> tuple[str, ...]:
    """Executor names (``local``, ``ray``); demo mode runs locally only."""
    return ("local",) if demo_enabled() else _executors.executor_names()


def default_executor() -> str:
    """The server's default executor (``$UNLEARN_EXECUTOR``, else ``local``)."""
    try:
        name = _executors.default_executor_name()
    except SpecError:
        return "local"
    return name if name in executors() else "local"


def default_workers() -> int:
    """The local executor's default worker processes (``$UNLEARN_WORKERS``, else one per usable core)."""
    return _executors.LocalExecutor().workers


def device_available(name: str) -> bool:
    """Whether device preference ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) runs on this machine."""
    try:
        _device.resolve_device(name)
    except (SpecError, RuntimeError):  # no CUDA, no such GPU; torch rejects a malformed index
        return False
    return True
