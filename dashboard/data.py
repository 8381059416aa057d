"""The dashboard's only door to the engine: menus, spec building, background jobs and results.

Pages and charts never import :mod:`engine`; everything they need comes from here as plain Python
objects and pandas tables. :class:`JobManager` is plain Python (no Streamlit calls: its worker threads
have no session); a page keeps one instance per cache directory with ``st.cache_resource``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine import demo as demo_module
from engine.bundle import BundleError, export_bundle, import_bundle
from engine.config import ParamSchema, config_dict, schema
from engine.data import DATASETS, default_data_dir, load_dataset
from engine.errors import SpecError
from engine.executors import Executor, default_executor_name, executor_names, make_executor
from engine.methods import METHODS
from engine.metrics import METRICS
from engine.models import MODELS
from engine.paradigms import PARADIGMS
from engine.presets import PAPERS, PRESETS, paper_numbers
from engine.problem import resolve
from engine.runner import ComparisonResult, Plan, collect, inspect, make_plan, per_sample, run_comparison
from engine.runner import plan as plan_module
from engine.runner.views import not_applicable_reason
from engine.scenarios import SCENARIOS
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store, default_cache_dir
from engine.training.config import default_train_config

__all__ = ["DEFAULT_METHODS", "ComparisonSpec", "Inspection", "JobManager", "ParamSchema", "Plan", "Results",
           "Selection", "SpecError", "BundleError"]

DEFAULT_METHODS = ("original", "retrain", "finetune", "gradient_ascent", "neggrad_plus", "random_label", "udru",
                   "ugradsl", "ugradsl_plus", "pgu", "ppu", "laf")
DEVICES = ("auto", "cpu", "cuda")
FINISHED = ("done", "cached", "failed", "cancelled", "not_applicable", "skipped")
BUNDLE_ENV = "UNLEARN_BUNDLE"


# -- deployment: demo mode, executors, bundles ------------------------------------------------------------------
def demo_enabled() -> bool:
    """Whether the server runs in hosted demo mode (``UNLEARN_DEMO=1``)."""
    return demo_module.demo_enabled()


def demo_limits() -> dict[str, Any]:
    """The demo caps as plain values (for the page's explanation)."""
    lim = demo_module.LIMITS
    return {"max_seeds": lim.max_seeds, "max_methods": lim.max_methods, "max_concurrent": lim.max_concurrent,
            "large_models": lim.large_models, "datasets": list(lim.datasets)}


def default_methods() -> list[str]:
    """The default method selection (cut to the demo cap in demo mode)."""
    chosen = [m for m in DEFAULT_METHODS if m in METHODS]
    return chosen[:demo_module.LIMITS.max_methods] if demo_enabled() else chosen


def check_demo(spec: ComparisonSpec) -> None:
    """In demo mode, raise :class:`SpecError` naming the field a spec exceeds a cap with; otherwise do nothing."""
    if demo_enabled():
        demo_module.check_spec(spec, default_data_dir())


def executors() -> tuple[str, ...]:
    """Executor names (``local``, ``ray``); demo mode runs locally only."""
    return ("local",) if demo_enabled() else executor_names()


def default_executor() -> str:
    """The server's default executor (``$UNLEARN_EXECUTOR``, else ``local``)."""
    try:
        name = default_executor_name()
    except SpecError:
        return "local"
    return name if name in executors() else "local"


def export_comparisons(keys: list[str], cache_dir: Path | None = None) -> bytes:
    """A results bundle (zip bytes) of the given cached comparisons (no weights, no pickles)."""
    import io

    buf = io.BytesIO()
    export_bundle(cache_dir or default_cache_dir(), buf, keys=keys)
    return buf.getvalue()


def import_comparisons(data: bytes, cache_dir: Path | None = None) -> list[str]:
    """Validate an uploaded bundle and add it to the cache; raises :class:`BundleError` (store unchanged)."""
    return import_bundle(cache_dir or default_cache_dir(), data)


def import_startup_bundle(cache_dir: Path | None = None) -> str:
    """Import ``$UNLEARN_BUNDLE`` when set and present (hosted demos); returns a one-line status."""
    import os

    path = os.environ.get(BUNDLE_ENV, "").strip()
    if not path:
        return ""
    if not Path(path).is_file():
        return f"no bundle at {path}"
    try:
        keys = import_bundle(cache_dir or default_cache_dir(), Path(path))
    except BundleError as e:
        return f"bundle {path} refused: {e.message}"
    return f"imported {len(keys)} comparison(s) from {path}"


# -- menus -----------------------------------------------------------------------------------------------------
def datasets() -> dict[str, str]:
    """``key -> label`` of every dataset (offline ones marked)."""
    return {k: f"{d.title}{'' if d.offline else ' (download)'}" for k, d in DATASETS.items()}


def dataset_offline(key: str) -> bool:
    return key in DATASETS and DATASETS.get(key).offline


def dataset_has_groups(key: str) -> bool:
    return key in DATASETS and DATASETS.get(key).has_groups


def paradigms() -> dict[str, str]:
    return {k: p.title for k, p in PARADIGMS.items()}


def paradigm_rate(key: str) -> tuple[str | None, float | None]:
    """The paradigm's rate name (``None`` if it takes none) and its default value."""
    p = PARADIGMS.get(key, "paradigm")
    return p.rate_name, p.default_rate


def scenarios() -> dict[str, str]:
    return {k: s.title for k, s in SCENARIOS.items()}


def scenario_description(key: str) -> str:
    return SCENARIOS.get(key, "scenario").description


def scenario_schema(key: str) -> list[ParamSchema]:
    return schema(SCENARIOS.get(key, "scenario").config)


def paradigm_schema(key: str) -> list[ParamSchema]:
    """The paradigm's generator / training-loss options (noisy labels: noise, pairs, classes, train loss, ...)."""
    config = PARADIGMS.get(key, "paradigm").config
    return [] if config is None else schema(config)


def models() -> dict[str, str]:
    return {k: m.title for k, m in MODELS.items()}


def methods() -> dict[str, str]:
    return {k: m.title for k, m in METHODS.items()}


def method_title(key: str) -> str:
    """The method's title; result rows that are no registered method (e.g. ``sisa_original``, a method's own
    model before unlearning) get their plan title, anything else its key."""
    if key in METHODS:
        return METHODS.get(key).title
    return getattr(plan_module, "BEFORE_TITLES", {}).get(key, key)


def method_family(key: str) -> str:
    """The method's family (``reference`` for rows that evaluate a model before unlearning, else ``""``)."""
    if key in METHODS:
        return METHODS.get(key).family
    return "reference" if key in getattr(plan_module, "BEFORE_TITLES", {}) else ""


def method_schema(key: str) -> list[ParamSchema]:
    """Hyper-parameter schema of a registered method (an unknown key has none: it is rejected by ``build_spec``)."""
    return schema(METHODS.get(key).config) if key in METHODS else []


def not_applicable(paradigm: str) -> dict[str, str]:
    """``method -> reason`` for every method that cannot run under ``paradigm`` (retrain always can)."""
    p = PARADIGMS.get(paradigm, "paradigm")
    out = {}
    for k, m in METHODS.items():
        reason = None if k == "retrain" else not_applicable_reason(m, p)
        if reason:
            out[k] = reason
    return out


def default_epochs(dataset: str, model: str) -> int:
    """Epochs of the default training config of ``dataset`` x ``model``."""
    return int(default_train_config(dataset, model).epochs)


def method_catalogue() -> list[dict[str, Any]]:
    """Everything the Methods page shows about each registered method."""
    out = []
    for k, m in METHODS.items():
        needs = m.needs
        out.append({
            "key": k, "title": m.title, "family": m.family, "paper": m.paper, "doc": m.doc or "",
            "needs": needs.describe(), "paradigms": ", ".join(m.paradigms) if m.paradigms else "all",
            "defaults_chosen": m.defaults_chosen, "ours_fields": ", ".join(m.ours_fields()),
            "schema": pd.DataFrame([{"name": p.name, "type": p.type, "default": _text(p.default),
                                     "range": _text(p.range or p.choices or ""), "help": p.help,
                                     "source": p.source} for p in schema(m.config)]),
        })
    return out


def metric_catalogue() -> pd.DataFrame:
    """One row per metric: key, title, direction, ideal, group and the papers' names for it."""
    return pd.DataFrame([{"key": k, "title": m.title, "direction": m.direction,
                          "ideal": "" if m.ideal is None else _text(m.ideal), "group": m.group,
                          "papers": m.papers} for k, m in METRICS.items()])


def metric_titles() -> dict[str, str]:
    return {k: m.title for k, m in METRICS.items()}


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


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


def build_spec(sel: Selection) -> ComparisonSpec:
    """A :class:`ComparisonSpec` from the page's selection (raises :class:`SpecError` naming the field)."""
    for name in sel.methods:
        METHODS.get(name, "methods")
    rate_name, _ = paradigm_rate(sel.paradigm)
    train: tuple[tuple[str, Any], ...] = ()
    if sel.epochs is not None and sel.epochs != default_epochs(sel.dataset, sel.model):
        train = (("epochs", int(sel.epochs)),)
    # only the user's departures from the defaults go into the spec, so the cache key matches the CLI's
    scen_defaults = {p.name: p.default for p in scenario_schema(sel.scenario)}
    scen = tuple((k, v) for k, v in sel.scenario_params.items() if k in scen_defaults)
    para_defaults = {p.name: p.default for p in paradigm_schema(sel.paradigm)}
    para = tuple((k, v) for k, v in sel.paradigm_params.items() if k in para_defaults and v != para_defaults[k])
    meths = []
    for name in sel.methods:
        defaults = {p.name: p.default for p in method_schema(name)}
        given = sel.hparams.get(name, {})
        meths.append(MethodSpec(name, tuple((k, v) for k, v in given.items()
                                            if k in defaults and v != defaults[k])))
    return ComparisonSpec(
        dataset=sel.dataset, coarse=dataset_has_groups(sel.dataset) and sel.scenario == "subclass",
        paradigm=sel.paradigm, rate=sel.rate if rate_name else None, paradigm_params=para, scenario=sel.scenario,
        scenario_params=scen,
        model=sel.model, train=train, methods=tuple(meths), seeds=tuple(range(int(sel.seeds))), device=sel.device,
        shadow_models=int(sel.shadow_models))


def spec_summary(spec: ComparisonSpec | dict[str, Any]) -> str:
    """One line describing a comparison."""
    d = spec.to_json() if isinstance(spec, ComparisonSpec) else spec
    rate = f" {d['rate']}" if d.get("rate") is not None else ""
    para = ", ".join(f"{k}={v}" for k, v in d.get("paradigm_params", []))
    rate += f" ({para})" if para else ""
    params = ", ".join(f"{k}={v}" for k, v in d.get("scenario_params", []))
    train = ", ".join(f"{k}={v}" for k, v in d.get("train", []))
    return (f"{d['dataset']} · {d['paradigm']}{rate} · {d['scenario']}{f' ({params})' if params else ''} · "
            f"{d['model']}{f' [{train}]' if train else ''} · {len(d['methods'])} methods · "
            f"{len(d['seeds'])} seed(s)")


def comparison_key(spec: ComparisonSpec) -> str:
    return spec.comparison_key()


def plan(spec: ComparisonSpec) -> Plan:
    """Validate ``spec`` and build its plan (raises :class:`SpecError`); cheap for the embedded dataset."""
    return make_plan(spec, default_data_dir())


# -- results ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inspection:
    """Per-class, forget-set and per-sample views of a comparison (``engine.runner.inspect``), ready to chart."""

    per_class: pd.DataFrame  # method, seed, split, class, n, correct, accuracy
    confusion: pd.DataFrame  # method, seed, true, predicted, count (forget set)
    samples: pd.DataFrame  # one row per forget sample x method x seed (the per-sample CSV)
    gallery: inspect.Gallery
    forget_classes: tuple[int, ...]
    class_names: tuple[str, ...]

    def samples_csv(self) -> bytes:
        return self.samples.to_csv(index=False).encode()


@dataclass(frozen=True)
class Results:
    """A comparison's tables as the results view shows them."""

    key: str
    spec: ComparisonSpec
    wide: pd.DataFrame  # exactly what the CSV export writes
    summary: pd.DataFrame
    complete: bool  # no row pending
    eval_jobs: dict[tuple[str, int], str]  # (method, seed) -> evaluation job of ok rows
    cache_dir: Path
    plan: Plan | None = None
    include_imported: bool = False  # rows may come from an imported results bundle (``source`` column says)

    def _store(self) -> Any:
        store = Store(self.cache_dir)
        return store.with_imported() if self.include_imported else store

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

    def forget_entropy_samples(self) -> pd.DataFrame:
        """Per-sample forget-set entropy of every finished run: columns method, seed, entropy."""
        frames = []
        store = self._store()
        try:
            for (method, seed), job in self.eval_jobs.items():
                try:
                    arr = per_sample(store, job).get("forget_entropy")
                except KeyError:
                    continue
                if arr is not None:
                    frames.append(pd.DataFrame({"method": method, "seed": seed, "entropy": np.asarray(arr)}))
        finally:
            store.close()
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "seed", "entropy"])

    def shadow_roc(self) -> pd.DataFrame:
        """ROC points of PGU's shadow attack per method (seed 0) plus the attacker's held-out shadow ROC:
        columns method, fpr, tpr. Empty when the comparison ran without shadow models."""
        frames = []
        first = min((s for (_, s) in self.eval_jobs), default=0)
        store = self._store()
        try:
            for (method, seed), job in self.eval_jobs.items():
                if seed != first:
                    continue
                try:
                    arrays = per_sample(store, job)
                except KeyError:
                    continue
                if "mia_shadow_auc.fpr" in arrays:
                    frames.append(pd.DataFrame({"method": method, "fpr": arrays["mia_shadow_auc.fpr"],
                                                "tpr": arrays["mia_shadow_auc.tpr"]}))
                    if "mia_shadow_auc.shadow_fpr" in arrays and not any(
                            f["method"].iloc[0] == "attacker on shadow models" for f in frames):
                        frames.append(pd.DataFrame({"method": "attacker on shadow models",
                                                    "fpr": arrays["mia_shadow_auc.shadow_fpr"],
                                                    "tpr": arrays["mia_shadow_auc.shadow_tpr"]}))
        finally:
            store.close()
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "fpr", "tpr"])

    def inspect(self, gallery_size: int = 16, data_dir: Path | None = None) -> Inspection:
        """Read the stored outputs of the finished runs into per-class / forget-set / per-sample tables.

        Loads the dataset for its true labels and images (nothing is trained or evaluated).
        """
        if self.plan is None:
            raise ValueError("these results carry no plan to inspect")
        spec = self.spec
        data = load_dataset(spec.dataset, Path(data_dir) if data_dir is not None else default_data_dir(),
                            coarse=spec.coarse, device="cpu")
        store = self._store()
        try:
            p = self.plan
            return Inspection(inspect.per_class_accuracy(p, store, data), inspect.forget_confusion(p, store, data),
                              inspect.forget_samples(p, store, data), inspect.gallery(p, store, data, gallery_size),
                              inspect.forget_classes(p, store), data.class_names)
        finally:
            store.close()


def _results(result: ComparisonResult, cache_dir: Path, include_imported: bool = False) -> Results:
    wide = result.wide
    rows = {(r.method, r.seed): r.eval_job for r in result.plan.rows}
    ok = wide[wide["status"] == "ok"]
    eval_jobs = {(m, int(s)): rows[(m, int(s))] for m, s in zip(ok["method"], ok["seed"], strict=True)
                 if rows.get((m, int(s)))}
    return Results(result.plan.key, result.plan.spec, wide, result.summary,
                   not (wide["status"] == "pending").any(), eval_jobs, cache_dir, result.plan, include_imported)


def stored_results(p: Plan, cache_dir: Path | None = None, include_imported: bool = False) -> Results:
    """What the store already holds for plan ``p`` (nothing is computed).

    Rows whose jobs failed in an earlier run show as ``failed`` with the job's error (``collect`` reads
    the failure the store recorded), not as ``pending``. With ``include_imported`` rows this engine has not
    computed are filled from imported results bundles, marked ``source="imported"``.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    base = Store(cache_dir)
    store = base.with_imported() if include_imported else base
    try:
        result = collect(p, store)
        return _results(result, cache_dir, include_imported)
    finally:
        store.close()


def provenance(rec: dict[str, Any]) -> str:
    """``computed`` or ``imported (bundle <sha256 prefix>, <time>)`` for a comparison record."""
    imp = rec.get("imported")
    if not imp:
        return "computed"
    when = pd.Timestamp(imp.get("imported_at", 0), unit="s").strftime("%Y-%m-%d %H:%M")
    return f"imported (bundle {str(imp.get('bundle_sha256', ''))[:12]}, {when})"


def history(cache_dir: Path | None = None) -> pd.DataFrame:
    """Every comparison recorded in the store, newest first; ``source`` says which were imported."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    store = Store(cache_dir)
    rows = []
    try:
        recs = [(k, r, False) for k, r in store.comparisons()]
        local = {k for k, _, _ in recs}
        recs += [(k, r, True) for k, r in store.imported_comparisons() if k not in local]
        for key, rec, imported in recs:
            found = store.imported_result if imported else store.result
            n_ok = sum(1 for r in rec["rows"] if r["eval_job"] and found(r["eval_job"]) is not None)
            rows.append({"key": key, "comparison": spec_summary(rec["spec"]), "source": provenance(rec),
                         "created": pd.Timestamp(rec["created"], unit="s").strftime("%Y-%m-%d %H:%M:%S"),
                         "rows ok": f"{n_ok}/{len(rec['rows'])}", "_t": rec["created"]})
    finally:
        store.close()
    df = pd.DataFrame(rows, columns=["key", "comparison", "source", "created", "rows ok", "_t"])
    return df.sort_values("_t", ascending=False).drop(columns="_t").reset_index(drop=True)


def history_spec(key: str, cache_dir: Path | None = None) -> ComparisonSpec | None:
    """The spec of a recorded (or imported) comparison."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    store = Store(cache_dir)
    try:
        rec = store.with_imported().comparison(key)
    finally:
        store.close()
    return None if rec is None else ComparisonSpec.from_json(rec["spec"])


def short_labels(specs: dict[str, ComparisonSpec]) -> dict[str, str]:
    """``key -> label`` naming only what differs between the comparisons (e.g. ``paradigm=noisy_label 0.2``)."""
    fields = {k: _describe(s) for k, s in specs.items()}
    names = list(next(iter(fields.values()), {}))
    differ = [n for n in names if len({str(f[n]) for f in fields.values()}) > 1]
    out = {}
    for k, f in fields.items():
        text = ", ".join(f"{n}={f[n]}" for n in differ if n != "methods") or f"comparison {k[:6]}"
        out[k] = text
    if len(set(out.values())) < len(out):  # still ambiguous (e.g. only hyper-parameters differ): add the key
        out = {k: f"{v} [{k[:6]}]" for k, v in out.items()}
    return out


def _describe(spec: ComparisonSpec) -> dict[str, str]:
    params = ", ".join(f"{k}={v}" for k, v in spec.scenario_params)
    return {"dataset": spec.dataset, "paradigm": spec.paradigm + (f" {spec.rate}" if spec.rate is not None else ""),
            "scenario": spec.scenario + (f" ({params})" if params else ""), "model": spec.model,
            "train": ", ".join(f"{k}={v}" for k, v in spec.train) or "default",
            "seeds": str(len(spec.seeds)), "methods": ",".join(m.name for m in spec.methods)}


def side_by_side(keys: list[str], cache_dir: Path | None = None) -> tuple[dict[str, str], dict[str, Results]]:
    """Stored results of several recorded comparisons and a short label for each (nothing is computed)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    specs = {k: s for k in keys if (s := history_spec(k, cache_dir)) is not None}
    labels = short_labels(specs)
    return labels, {k: stored_results(plan(s), cache_dir, include_imported=True) for k, s in specs.items()}


def comparison_source(key: str, cache_dir: Path | None = None) -> str:
    """``computed`` / ``imported (bundle …)`` / ``computed; also imported (bundle …)`` for a comparison key."""
    store = Store(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    try:
        local, imported = store.comparison(key), store.imported_comparison(key)
    finally:
        store.close()
    if imported is None:
        return "computed"
    return provenance(imported) if local is None else f"computed; also {provenance(imported)}"


def has_imported(p: Plan, cache_dir: Path | None = None) -> bool:
    """Whether a results bundle brought rows of plan ``p`` that this engine has not computed (jobs are content-
    keyed, so any comparison sharing the rows counts); they are shown only when asked for."""
    store = Store(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    try:
        return any(r.eval_job and not store.has(r.eval_job) and store.imported_result(r.eval_job) is not None
                   for r in p.rows)
    finally:
        store.close()


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


# -- paper presets -----------------------------------------------------------------------------------------------
def presets() -> dict[str, str]:
    """``key -> menu label`` of every paper preset (CPU ones first per paper; full-size ones marked)."""
    return {k: f"{p.title}{' — full size, GPU recommended' if p.gpu_recommended else ' — CPU'}"
            for k, p in PRESETS.items()}


def preset_info(key: str) -> dict[str, Any]:
    """What the page says about a preset: paper, title, differences, GPU, methods not implemented here."""
    p = PRESETS.get(key, "preset")
    runnable, missing = p.available_methods(METHODS.keys())
    paper = PAPERS[p.paper]
    return {"key": key, "title": p.title, "paper": paper.short, "paper_title": paper.title,
            "differences": p.differences, "gpu_recommended": p.gpu_recommended, "offline": dataset_offline(p.dataset),
            "methods": runnable, "missing": missing,
            "tables": list(dict.fromkeys(r.table for r in p.tables))}


def preset_selection(key: str) -> Selection:
    """The preset as the Compare page's selection (scenario parameters complete, in schema order)."""
    p = PRESETS.get(key, "preset")
    given = dict(p.scenario_params)
    scen = {q.name: given.get(q.name, q.default) for q in scenario_schema(p.scenario)}
    runnable, _ = p.available_methods(METHODS.keys())
    hp = p.hparam_dict()
    return Selection(dataset=p.dataset, paradigm=p.paradigm, rate=p.rate, paradigm_params=dict(p.paradigm_params),
                     scenario=p.scenario, scenario_params=scen,
                     model=p.model, methods=runnable, hparams={m: dict(hp[m]) for m in runnable if m in hp},
                     seeds=p.seeds, epochs=p.epochs if p.epochs is not None else default_epochs(p.dataset, p.model))


def _setting_id(spec: ComparisonSpec) -> str:
    """The setting (everything but methods, seeds and device) with every parameter resolved to its value, so that
    a parameter given at its default and one left out compare equal."""
    d = spec.to_json()
    for k in ("methods", "seeds", "device"):
        d.pop(k)
    setting = resolve(spec)
    d["scenario_params"] = config_dict(setting.scenario_cfg)
    d["train"] = config_dict(setting.train_cfg)
    d["paradigm_params"] = config_dict(setting.paradigm_cfg) if setting.paradigm_cfg is not None else {}
    return json.dumps(d, sort_keys=True, default=str)


def matching_presets(spec: ComparisonSpec) -> list[str]:
    """Presets whose setting (everything but methods, seeds and device) is ``spec``'s."""
    target = _setting_id(spec)
    out = []
    for key in PRESETS.keys():
        try:
            if _setting_id(build_spec(preset_selection(key))) == target:
                out.append(key)
        except SpecError:
            continue
    return out


def preset_paper_numbers(key: str) -> pd.DataFrame:
    """The paper's reported numbers for a preset (``engine.presets.paper_numbers``): reported, not measured."""
    return paper_numbers(key)


# -- background jobs ---------------------------------------------------------------------------------------------
@dataclass
class _Run:
    spec: ComparisonSpec
    plan: Plan | None
    cancel: threading.Event
    started: float
    executor: str = "local"
    state: str = "running"  # running | done | failed | cancelled
    ticket: str | None = None  # demo mode: place in the run queue
    error: str = ""
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: float | None = None
    thread: threading.Thread | None = None


class JobManager:
    """Runs comparisons in background threads and answers status, progress and result per comparison key.

    Thread-safe; worker threads only touch this object and the engine, never Streamlit.
    """

    def __init__(self, cache_dir: Path | str, data_dir: Path | str | None = None,
                 queue: demo_module.RunQueue | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.queue = queue  # demo mode: at most ``queue.slots`` comparisons run at once, the others wait in order
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._executors: dict[str, Executor] = {}

    def _executor(self, name: str) -> Executor:
        """One executor per name for this server (a Ray connection is made once)."""
        with self._lock:
            if name not in self._executors:
                self._executors[name] = make_executor(name)
            return self._executors[name]

    def start(self, spec: ComparisonSpec, p: Plan | None = None, executor: str = "local") -> str:
        """Start ``spec`` unless it is already running; returns its comparison key (non-blocking)."""
        check_demo(spec)  # the same demo.check_spec the page and the CLI apply (no-op outside demo mode)
        key = spec.comparison_key()
        with self._lock:
            cur = self._runs.get(key)
            if cur is not None and cur.state == "running":
                return key
            run = _Run(spec, p, threading.Event(), time.time(), executor)
            if self.queue is not None:
                run.ticket = self.queue.join()
            run.thread = threading.Thread(target=self._work, args=(key, run), daemon=True, name=f"compare-{key}")
            self._runs[key] = run
        run.thread.start()
        return key

    def _work(self, key: str, run: _Run) -> None:
        def on_event(job_key: str, event: dict[str, Any]) -> None:
            with self._lock:
                run.events[job_key] = {**event, "time": time.time()}

        try:
            if run.plan is None:
                p = make_plan(run.spec, self.data_dir)
                with self._lock:
                    run.plan = p
            admitted = True
            if self.queue is not None and run.ticket is not None:
                admitted = self.queue.wait_turn(run.ticket, run.cancel)
            if admitted:
                run_comparison(run.spec, self.cache_dir, self.data_dir, executor=self._executor(run.executor),
                               on_event=on_event, cancel=run.cancel, plan=run.plan)
            state, error = ("cancelled" if run.cancel.is_set() else "done"), ""
        except SpecError as e:
            state, error = "failed", str(e)
        except Exception as e:  # shown on the page; the thread must not die silently
            state, error = "failed", f"{type(e).__name__}: {e}"
        finally:
            if self.queue is not None and run.ticket is not None:
                self.queue.leave(run.ticket)
        with self._lock:
            run.state, run.error, run.finished = state, error, time.time()

    def status(self, key: str) -> str:
        """``idle`` (never started here), ``running``, ``done``, ``failed`` or ``cancelled``."""
        with self._lock:
            run = self._runs.get(key)
            return "idle" if run is None else run.state

    def queue_position(self, key: str) -> int | None:
        """Demo mode: ``0`` while the run holds a slot, ``k`` while ``k - 1`` runs wait before it; else ``None``."""
        with self._lock:
            run = self._runs.get(key)
        if run is None or run.ticket is None or self.queue is None or run.state != "running":
            return None
        return self.queue.position(run.ticket)

    def error(self, key: str) -> str:
        with self._lock:
            run = self._runs.get(key)
            return "" if run is None else run.error

    def cancel(self, key: str) -> None:
        with self._lock:
            run = self._runs.get(key)
        if run is not None:
            run.cancel.set()

    def wait(self, key: str, timeout: float | None = None) -> str:
        """Block until the run ends (for scripts and tests); returns its status."""
        with self._lock:
            run = self._runs.get(key)
        if run is not None and run.thread is not None:
            run.thread.join(timeout)
        return self.status(key)

    def progress(self, key: str) -> pd.DataFrame:
        """One row per job of the run: job, state, step (done/total), message, elapsed seconds."""
        cols = ["job", "kind", "state", "step", "progress", "message", "elapsed (s)"]
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.plan is None:
                return pd.DataFrame(columns=cols)
            jobs = list(run.plan.jobs)
            events = {k: dict(v) for k, v in run.events.items()}
            running = run.state == "running"
        rows = []
        for j in jobs:
            e = events.get(j.key)
            state = e["state"] if e else ("queued" if running else "not run")
            done, total = (int(e.get("done", 0)), int(e.get("total", 0))) if e else (0, 0)
            if state in ("done", "cached"):
                frac = 1.0
            else:
                frac = done / total if total else 0.0
            elapsed = float(e.get("elapsed", 0.0)) if e else 0.0
            if e and state == "running":
                elapsed += time.time() - e["time"]  # time since the last event
            rows.append({"job": j.label, "kind": j.kind, "state": state,
                         "step": f"{done}/{total}" if total else "", "progress": frac,
                         "message": e.get("message", "") if e else "", "elapsed (s)": round(elapsed, 1)})
        return pd.DataFrame(rows, columns=cols)

    def result(self, key: str) -> Results | None:
        """The finished (or partly finished) run's results, read from the store."""
        with self._lock:
            run = self._runs.get(key)
        if run is None or run.plan is None:
            return None
        return stored_results(run.plan, self.cache_dir)


def spec_to_text(spec: ComparisonSpec) -> str:
    """Canonical JSON text of a spec (hashable, for caches)."""
    return json.dumps(spec.to_json(), sort_keys=True)


def spec_from_text(text: str) -> ComparisonSpec:
    return ComparisonSpec.from_json(json.loads(text))


# -- devices (the link's ``device``: refused when opened if this machine cannot run it) ---------------------------
def device_available(name: str) -> bool:
    """Whether device preference ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) runs on this machine."""
    from engine.device import resolve_device

    try:
        resolve_device(name)
    except (SpecError, RuntimeError):  # no CUDA, no such GPU; torch rejects a malformed index
        return False
    return True
