"""Command line: ``python -m engine compare ...`` runs a cached comparison headless; ``list`` shows registries;
``bundle export|import`` moves finished comparisons between caches.

Environment: ``UNLEARN_CACHE_DIR``, ``UNLEARN_DATA_DIR``, ``UNLEARN_EXECUTOR`` (``local`` | ``ray``; with
``RAY_ADDRESS`` to join a cluster) and ``UNLEARN_DEMO=1`` (demo caps, see :mod:`engine.demo`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from engine.errors import SpecError

KINDS = ("datasets", "paradigms", "scenarios", "models", "methods", "metrics")
SCENARIO_FLAGS = {"forget_class": "--forget-class", "fraction": "--fraction", "count": "--count",
                  "steps": "--steps", "classes": "--classes", "forget_group": "--forget-group"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine", description="Unlearning Workbench engine")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="run a comparison and write a CSV (one row per method x seed)")
    c.add_argument("--dataset", default="digits")
    c.add_argument("--coarse", action="store_true", help="cifar100: train on the 20 coarse labels")
    c.add_argument("--model", default="cnn")
    c.add_argument("--paradigm", default="supervised")
    c.add_argument("--rate", type=float, default=None, help="partial rate q / noise rate r")
    c.add_argument("--labelled-fraction", type=float, default=1.0, help="label_free: labelled share at training")
    c.add_argument("--scenario", default="class")
    c.add_argument("--forget-class", type=int, default=None)
    c.add_argument("--fraction", type=float, default=None)
    c.add_argument("--count", type=int, default=None)
    c.add_argument("--steps", type=int, default=None)
    c.add_argument("--classes", default=None, help="random: comma-separated classes to draw from")
    c.add_argument("--forget-group", type=int, default=None, help="subclass: fine class to forget")
    c.add_argument("--methods", default="original,retrain,finetune,gradient_ascent,neggrad_plus,random_label",
                   help="comma-separated method keys, or 'all'")
    c.add_argument("--hparam", action="append", default=[], metavar="METHOD.NAME=VALUE",
                   help="a method hyper-parameter, e.g. finetune.epochs=3 (repeatable)")
    c.add_argument("--train", action="append", default=[], metavar="NAME=VALUE",
                   help="override the training config, e.g. epochs=10 (repeatable)")
    c.add_argument("--seeds", type=int, default=1, help="number of seeds (0..S-1)")
    c.add_argument("--shadow-models", type=int, default=0, metavar="N",
                   help="PGU shadow-model attack (mia_shadow_auc): N shadow original/retrain pairs trained per "
                        "seed (0 = off, else 2..100)")
    c.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    c.add_argument("--cache-dir", default=None, help="results cache (default $UNLEARN_CACHE_DIR or .cache/unlearn)")
    c.add_argument("--data-dir", default=None, help="dataset files (default $UNLEARN_DATA_DIR or ./data)")
    c.add_argument("--out", default=None, help="CSV file to write")
    c.add_argument("--executor", default=None, metavar="local|ray",
                   help="where jobs run (default $UNLEARN_EXECUTOR or local; ray joins $RAY_ADDRESS or starts "
                        "a local runtime)")
    ls = sub.add_parser("list", help="list registered components")
    ls.add_argument("kind", choices=KINDS)
    b = sub.add_parser("bundle", help="export or import finished comparisons as a portable archive")
    bsub = b.add_subparsers(dest="bundle_command", required=True)
    be = bsub.add_parser("export", help="write comparisons (specs, metrics, arrays; no pickles) to a zip file")
    be.add_argument("--out", required=True, help="bundle file to write")
    be.add_argument("--comparison", action="extend", nargs="+", default=None, metavar="KEY",
                    help="comparison keys to export (default: every saved comparison)")
    be.add_argument("--cache-dir", default=None, help="results cache (default $UNLEARN_CACHE_DIR or .cache/unlearn)")
    be.add_argument("--with-weights", action="store_true",
                    help="also export model weights (torch tensors, loaded with weights_only=True)")
    bi = bsub.add_parser("import", help="validate a bundle, then add it to the results cache")
    bi.add_argument("file", help="bundle file to read")
    bi.add_argument("--cache-dir", default=None, help="results cache (default $UNLEARN_CACHE_DIR or .cache/unlearn)")
    return p


def _key_values(items: list[str], field: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if "=" not in item:
            raise SpecError(field, f"expected NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out.append((k.strip(), v.strip()))
    return out


def build_spec(args: argparse.Namespace) -> Any:
    """Turn parsed CLI arguments into a validated-at-plan-time :class:`ComparisonSpec`."""
    from engine.methods import METHODS
    from engine.spec import ComparisonSpec, MethodSpec

    if args.seeds < 1:
        raise SpecError("seeds", f"must be at least 1, got {args.seeds}")
    names = METHODS.keys() if args.methods.strip() == "all" else [m.strip() for m in args.methods.split(",")
                                                                  if m.strip()]
    for n in names:
        METHODS.get(n, "methods")
    hparams: dict[str, list[tuple[str, str]]] = {n: [] for n in names}
    for k, v in _key_values(args.hparam, "hparam"):
        if "." not in k:
            raise SpecError("hparam", f"expected METHOD.NAME=VALUE, got {k!r}")
        m, name = k.split(".", 1)
        if m not in hparams:
            raise SpecError("hparam", f"method {m!r} is not among the selected methods")
        hparams[m].append((name, v))
    scen = tuple((name, getattr(args, name)) for name in SCENARIO_FLAGS if getattr(args, name) is not None)
    return ComparisonSpec(
        dataset=args.dataset, coarse=args.coarse, paradigm=args.paradigm, rate=args.rate,
        labelled_fraction=args.labelled_fraction, scenario=args.scenario, scenario_params=scen, model=args.model,
        train=tuple(_key_values(args.train, "train")),
        methods=tuple(MethodSpec(n, tuple(hparams[n])) for n in names), seeds=tuple(range(args.seeds)),
        device=args.device, shadow_models=args.shadow_models,
    )


class TerminalProgress:
    """Live per-job progress: one updating line on a terminal, state changes only otherwise."""

    def __init__(self, total: int, stream: Any = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.finished = 0
        self.start = time.perf_counter()

    def __call__(self, key: str, e: dict[str, Any]) -> None:
        state = e["state"]
        clock = f"{time.perf_counter() - self.start:6.1f}s"
        if state == "running":
            if self.tty:
                step = f" {e['done']}/{e['total']}" if e.get("total") else ""
                line = f"[{self.finished}/{self.total}] {e['label']}{step} {e.get('message', '')} " \
                       f"({e.get('elapsed', 0.0):.1f}s) {clock}"
                self.stream.write("\r\033[K" + line[:150])
                self.stream.flush()
            return
        if state in ("done", "cached", "failed", "cancelled", "not_applicable"):
            self.finished += 1
        if state == "waiting" and not self.tty:
            return
        prefix = "\r\033[K" if self.tty else ""
        msg = f" {e['message']}" if e.get("message") else ""
        self.stream.write(f"{prefix}[{self.finished}/{self.total}] {e['label']}: {state}{msg} {clock}\n")
        self.stream.flush()


def _fmt(mean: float, std: float) -> str:
    if mean != mean:  # NaN
        return "n/a"
    return f"{mean:.3f}" if std != std else f"{mean:.3f}±{std:.3f}"


def print_summary(result: Any, stream: Any = sys.stdout) -> None:
    """A short table: per method, mean (± std over seeds) of the headline metrics."""
    cols = ["forget_acc", "retain_acc", "test_acc", "mia_efficacy", "forget_entropy", "unlearn_seconds"]
    wide = result.wide
    summ = result.summary.set_index("method") if not result.summary.empty else None
    header = f"{'method':<18}{'status':<16}" + "".join(f"{c:>18}" for c in cols)
    stream.write(header + "\n")
    for method in dict.fromkeys(wide["method"]):
        rows = wide[wide["method"] == method]
        statuses = sorted(set(rows["status"]))
        status = statuses[0] if len(statuses) == 1 else "/".join(statuses)
        if summ is not None and method in summ.index:
            vals = "".join(f"{_fmt(summ.loc[method, c], summ.loc[method, c + '_std']):>18}" for c in cols)
        else:
            note = rows["note"].iloc[0]
            vals = f"  {note[:100]}"
        stream.write(f"{method:<18}{status:<16}{vals}\n")


def _write_csv(df: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    df.to_csv(tmp, index=False, na_rep="NA")
    os.replace(tmp, out)  # atomic: never a half-written CSV


def cmd_compare(args: argparse.Namespace) -> int:
    """Run the comparison; exit status 2 on bad input (nothing written), 1 if any run failed."""
    from engine import demo
    from engine.data import DatasetUnavailable, default_data_dir
    from engine.device import resolve_device
    from engine.executors import make_executor
    from engine.runner import make_plan, run_comparison
    from engine.store import default_cache_dir

    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    try:
        executor = make_executor(args.executor)
        spec = build_spec(args)
        if demo.demo_enabled():
            demo.check_spec(spec, data_dir)
        if executor.name == "local":  # Ray workers resolve the device where they run
            resolve_device(spec.device)
        plan = make_plan(spec, data_dir)
    except SpecError as e:
        return _bad_input(e.field, e.message)
    except DatasetUnavailable as e:
        return _bad_input("dataset", str(e))
    progress = TerminalProgress(len(plan.jobs))
    result = run_comparison(spec, cache_dir=cache_dir, data_dir=data_dir, executor=executor, on_event=progress,
                            plan=plan)
    print_summary(result)
    if args.out:
        _write_csv(result.wide, Path(args.out))
        sys.stdout.write(f"wrote {args.out} ({len(result.wide)} rows) in {result.seconds:.1f}s\n")
    failed = result.wide[result.wide["status"].isin(["failed", "cancelled", "pending"])]
    return 1 if len(failed) else 0


def _bad_input(field: str, message: str) -> int:
    """Report bad input naming the field; exit status 2 (nothing was written)."""
    sys.stderr.write(f"error: {field}: {message}\n")
    return 2


def cmd_list(kind: str) -> int:
    """Print the keys of one registry with a one-line description."""
    from engine import catalogue

    for key, title in catalogue.describe(kind):
        sys.stdout.write(f"{key:<20}{title}\n")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    """Export or import a results bundle; exit status 2 (nothing changed) when the bundle or a key is bad."""
    from engine.bundle import export_bundle, import_bundle
    from engine.store import default_cache_dir

    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    try:
        if args.bundle_command == "export":
            keys = export_bundle(cache_dir, Path(args.out), args.comparison, with_weights=args.with_weights)
            sys.stdout.write(f"wrote {args.out}: {len(keys)} comparison(s)\n")
        else:
            keys = import_bundle(cache_dir, Path(args.file))
            sys.stdout.write(f"imported {len(keys)} comparison(s) into {cache_dir}\n")
    except SpecError as e:
        return _bad_input(e.field, e.message)
    for k in keys:
        sys.stdout.write(f"  {k}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine``."""
    args = _parser().parse_args(argv)
    if args.command == "list":
        return cmd_list(args.kind)
    if args.command == "bundle":
        return cmd_bundle(args)
    return cmd_compare(args)
