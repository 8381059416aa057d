"""Command line: ``python -m engine compare ...`` runs a cached comparison headless (``--preset KEY`` fills it
with a seed paper's setting); ``list`` shows registries and the paper presets; ``bundle export|import`` moves
finished comparisons between caches.

Bad input exits 2 with ``error: <field>: <message>`` before any work (argparse's own errors too): the paths
(``--cache-dir``, ``--data-dir``, ``--out``, a bundle file) are checked first, and ``--out`` is written through a
temporary file in its directory, never through a link or onto a device.

Environment: ``UNLEARN_CACHE_DIR``, ``UNLEARN_DATA_DIR``, ``UNLEARN_EXECUTOR`` (``local`` | ``ray``; with
``RAY_ADDRESS`` to join a cluster), ``UNLEARN_WORKERS`` (the local executor's worker processes) and
``UNLEARN_DEMO=1`` (demo caps, see :mod:`engine.demo`).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from engine import api
from engine.api import SpecError

KINDS = api.KINDS
SCENARIO_FLAGS = {"forget_class": "--forget-class", "fraction": "--fraction", "count": "--count",
                  "steps": "--steps", "classes": "--classes", "forget_group": "--forget-group",
                  "stratified": "--stratified"}
# CLI option (dest) -> paradigm parameter (``ComparisonSpec.paradigm_params``)
PARADIGM_FLAGS = {"noise": "noise", "noise_pairs": "pairs", "noise_classes": "classes", "noise_targets": "targets",
                  "train_loss": "train_loss", "official_generator": "official"}


# options of type float: a negative value that argparse takes for an option (``--rate -inf``, ``-1e-3``) is joined
FLOAT_OPTIONS = ("--rate", "--labelled-fraction", "--fraction")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as the rest of the CLI does: ``error: <field>: <message>``."""

    def error(self, message: str) -> Any:
        m = re.match(r"argument ([\w-]+)(?:/[\w-]+)*: (.*)", message, re.S)
        if m:
            field, message = m.group(1).lstrip("-").replace("-", "_"), m.group(2)
        elif message.startswith("the following arguments are required: "):
            field = message.split(": ", 1)[1].split(",")[0].strip().lstrip("-").replace("-", "_")
        else:
            field = "arguments"
        sys.stderr.write(f"error: {field}: {message}\n{self.format_usage()}")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine", description="Unlearning Workbench engine")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="run a comparison and write a CSV (one row per method x seed)")
    c.add_argument("--dataset", default="digits")
    c.add_argument("--coarse", action="store_true", help="cifar100: train on the 20 coarse labels")
    c.add_argument("--model", default="cnn")
    c.add_argument("--paradigm", default="supervised")
    c.add_argument("--rate", type=float, default=None, help="partial rate q / noise rate r")
    c.add_argument("--labelled-fraction", type=float, default=1.0, help="label_free: labelled share at training")
    c.add_argument("--noise", default=None, metavar="symmetric|pair|class_subset",
                   help="noisy_label: how labels are corrupted (default symmetric)")
    c.add_argument("--noise-pairs", default=None, metavar="A-B,C-D",
                   help="noisy_label pair noise: mutual partner classes (default each class k -> k+1)")
    c.add_argument("--noise-classes", default=None, metavar="C,C,...",
                   help="noisy_label: true classes whose samples are corrupted (class_subset: LAF uses 0,1,2,3,4)")
    c.add_argument("--noise-targets", default=None, metavar="C,C,...",
                   help="noisy_label class_subset: classes a wrong label is drawn from (default any other)")
    c.add_argument("--train-loss", default=None, metavar="gce|ce",
                   help="noisy_label: loss of original/retrain training and the methods' task loss (default gce)")
    c.add_argument("--official-generator", action="store_true", default=None,
                   help="partial_label / symmetric noisy_label: the official UDRU code's label generator")
    c.add_argument("--scenario", default="class")
    c.add_argument("--forget-class", type=int, default=None)
    c.add_argument("--fraction", type=float, default=None)
    c.add_argument("--count", type=int, default=None)
    c.add_argument("--steps", type=int, default=None)
    c.add_argument("--classes", default=None, help="random: comma-separated classes to draw from")
    c.add_argument("--forget-group", type=int, default=None, help="subclass: fine class to forget")
    c.add_argument("--stratified", action="store_true", default=None,
                   help="random: draw the fraction from every class separately (UGradSL Sec. 5.3)")
    c.add_argument("--methods", default="original,retrain,finetune,gradient_ascent,neggrad_plus,random_label",
                   help="comma-separated method keys, or 'all'")
    c.add_argument("--hparam", action="append", default=[], metavar="METHOD.NAME=VALUE",
                   help="a method hyper-parameter, e.g. finetune.epochs=3 (repeatable)")
    c.add_argument("--train", action="append", default=[], metavar="NAME=VALUE",
                   help="override the training config, e.g. epochs=10 (repeatable)")
    c.add_argument("--seeds", type=int, default=1, help="number of seeds (0..S-1; at most 20)")
    c.add_argument("--shadow-models", type=int, default=0, metavar="N",
                   help="PGU shadow-model attack (mia_shadow_auc): N shadow original/retrain pairs trained per "
                        "seed (0 = off, else 2..100)")
    c.add_argument("--ulira", type=int, default=0, metavar="K", dest="ulira_shadows",
                   help="U-LiRA and RMIA (mia_ulira, mia_rmia): K shadow originals and K shadow retrains per seed, "
                        "and every method applied to each shadow original (0 = off, else 4..64)")
    c.add_argument("--feature-audit", action="store_true",
                   help="representation audit: CKA per layer to retrain / original, linear-probe and k-NN forget "
                        "accuracy, weight distances, a 2-D embedding (one extra job per model)")
    c.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    c.add_argument("--cache-dir", default=None, help="results cache (default $UNLEARN_CACHE_DIR or .cache/unlearn)")
    c.add_argument("--data-dir", default=None, help="dataset files (default $UNLEARN_DATA_DIR or ./data)")
    c.add_argument("--out", default=None, help="CSV file to write (its directory must exist; an existing regular "
                                                "file is replaced, a link or a device is refused)")
    c.add_argument("--executor", default=None, metavar="local|ray",
                   help="where jobs run (default $UNLEARN_EXECUTOR or local; ray joins $RAY_ADDRESS or starts "
                        "a local runtime)")
    c.add_argument("--workers", default=None, metavar="N",
                   help="local executor: jobs at once in worker processes (default $UNLEARN_WORKERS or one per "
                        "core; 1 = in process, one after another)")
    c.add_argument("--tune", type=int, default=None, metavar="N",
                   help="also tune every method under one protocol: N trials each (seeded TPE on the validation "
                        "split, tuning seeds never reported), then report default and tuned rows (column variant)")
    c.add_argument("--tune-seeds", default=None, metavar="S,S,...",
                   help="tuning seeds, disjoint from the reported 0..S-1 (default 100,101)")
    c.add_argument("--tune-prune", action="store_true",
                   help="let the median pruner stop a trial after a tuning seed")
    add_preset_option(c)
    td = sub.add_parser("tune-defaults", help="run the tuner run that chooses the shipped digits defaults (every "
                                              "method, one budget) and write its record")
    td.add_argument("--cache-dir", default=None, help="results cache (default $UNLEARN_CACHE_DIR or .cache/unlearn)")
    td.add_argument("--data-dir", default=None, help="dataset files (default $UNLEARN_DATA_DIR or ./data)")
    td.add_argument("--out", default=None, help="record to write (default engine/methods/shared/tuned_defaults.json)")
    td.add_argument("--executor", default=None, metavar="local|ray", help="where jobs run (as for compare)")
    td.add_argument("--workers", default=None, metavar="N", help="local executor: jobs at once (as for compare)")
    ls = sub.add_parser("list", help="list registered components, or the paper presets")
    ls.add_argument("kind", choices=(*KINDS, PRESET_KIND))
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
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise SpecError(field, f"expected NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        if k in out:
            raise SpecError(field, f"{k!r} is given twice ({out[k]!r} and {v.strip()!r}); give it once")
        out[k] = v.strip()
    return list(out.items())


def build_spec(args: argparse.Namespace, check: bool = True) -> Any:
    """Turn parsed CLI arguments into a validated-at-plan-time :class:`ComparisonSpec`.

    ``check=False`` skips the registry look-ups (method keys), so that a saved answer can be found without importing
    the registries; the spec is the same.
    """
    if not 1 <= args.seeds <= api.MAX_SEEDS:  # before range(): a huge count must not build a huge tuple
        raise SpecError("seeds", f"must be from 1 to {api.MAX_SEEDS}, got {args.seeds}")
    names = api.method_keys() if args.methods.strip() == "all" else [m.strip() for m in args.methods.split(",")
                                                                  if m.strip()]
    for n in names if check else ():
        api.check_method(n)
    hparams: dict[str, list[tuple[str, str]]] = {n: [] for n in names}
    for k, v in _key_values(args.hparam, "hparam"):
        if "." not in k:
            raise SpecError("hparam", f"expected METHOD.NAME=VALUE, got {k!r}")
        m, name = k.split(".", 1)
        if m not in hparams:
            raise SpecError("hparam", f"method {m!r} is not among the selected methods")
        hparams[m].append((name, v))
    scen = tuple((name, getattr(args, name)) for name in SCENARIO_FLAGS if getattr(args, name) is not None)
    para = tuple((name, getattr(args, flag)) for flag, name in PARADIGM_FLAGS.items()
                 if getattr(args, flag, None) is not None)
    return api.ComparisonSpec(
        dataset=args.dataset, coarse=args.coarse, paradigm=args.paradigm, rate=args.rate,
        labelled_fraction=args.labelled_fraction, paradigm_params=para, scenario=args.scenario,
        scenario_params=scen, model=args.model,
        train=tuple(_key_values(args.train, "train")),
        methods=tuple(api.MethodSpec(n, tuple(hparams[n])) for n in names), seeds=tuple(range(args.seeds)),
        device=args.device, shadow_models=args.shadow_models, ulira_shadows=args.ulira_shadows,
        feature_audit=bool(args.feature_audit),
    )


class TerminalProgress:
    """Live per-job progress: one updating line on a terminal, state changes only otherwise."""

    def __init__(self, total: int | None, stream: Any = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.finished = 0
        self.start = time.perf_counter()

    def _count(self) -> str:
        """Jobs ended so far, of the total when it is known (``None``: a tuner's jobs are planned as it goes)."""
        return str(self.finished) if self.total is None else f"{self.finished}/{self.total}"

    def __call__(self, key: str, e: dict[str, Any]) -> None:
        state = e["state"]
        clock = f"{time.perf_counter() - self.start:6.1f}s"
        if state == "running":
            if self.tty:
                step = f" {e['done']}/{e['total']}" if e.get("total") else ""
                line = f"[{self._count()}] {e['label']}{step} {e.get('message', '')} " \
                       f"({e.get('elapsed', 0.0):.1f}s) {clock}"
                self.stream.write("\r\033[K" + line[:150])
                self.stream.flush()
            return
        if state in ("done", "cached", "failed", "cancelled", "not_applicable"):
            self.finished += 1
        # "waiting" comes at most every 30 s (engine.jobs.execution.execute) and says what it waits for: printed on
        # a terminal and in a log alike
        prefix = "\r\033[K" if self.tty else ""
        msg = f" {e['message']}" if e.get("message") else ""
        self.stream.write(f"{prefix}[{self._count()}] {e['label']}: {state}{msg} {clock}\n")
        self.stream.flush()


def _fmt(mean: float, std: float) -> str:
    if mean != mean:  # NaN
        return "n/a"
    return f"{mean:.3f}" if std != std else f"{mean:.3f}±{std:.3f}"


def _num(v: Any) -> float:
    """A table cell as a float (``NA`` / empty / ``None`` -> NaN), from a DataFrame record or a CSV row."""
    if v is None or v in ("", "NA"):
        return float("nan")
    return float(v)


def print_summary(wide: list[dict[str, Any]], summary: list[dict[str, Any]], stream: Any = sys.stdout) -> None:
    """A short table: per method, mean (± std over seeds) of the headline metrics, else the row's note.

    ``wide`` / ``summary``: the wide and summary tables as records (``DataFrame.to_dict("records")`` or the rows
    of their CSV text -- a saved answer is printed without pandas)."""
    cols = ["forget_acc", "retain_acc", "test_acc", "mia_efficacy", "forget_entropy", "unlearn_seconds"]
    summ = {r["method"]: r for r in summary}
    header = f"{'method':<18}{'status':<16}" + "".join(f"{c:>18}" for c in cols)
    stream.write(header + "\n")
    for method in dict.fromkeys(r["method"] for r in wide):
        rows = [r for r in wide if r["method"] == method]
        statuses = sorted({r["status"] for r in rows})
        status = statuses[0] if len(statuses) == 1 else "/".join(statuses)
        if method in summ:
            vals = "".join(f"{_fmt(_num(summ[method][c]), _num(summ[method][c + '_std'])):>18}" for c in cols)
        else:
            note = rows[0]["note"]
            vals = f"  {(note if isinstance(note, str) else '')[:100]}"
        stream.write(f"{method:<18}{status:<16}{vals}\n")


# -- paths: checked before any work; outputs written atomically ---------------------------------------------------
@contextmanager
def _os_errors(field: str, path: object) -> Iterator[None]:
    """An ``OSError`` (permission, name too long, loop of links, ...) or a NUL byte while looking at ``path``
    becomes a :class:`SpecError` naming ``field``."""
    try:
        yield
    except SpecError:
        raise
    except (OSError, ValueError) as e:
        raise SpecError(field, f"cannot access {str(path)!r}: {getattr(e, 'strerror', None) or e}") from None


def _given_path(raw: str | None, default: Callable[[], Path], env: str, field: str) -> tuple[Path, str]:
    """The path of a directory option (or of its default) and where it came from, for messages."""
    if raw is not None:
        if not raw.strip():
            raise SpecError(field, "empty path")
        return Path(raw).expanduser(), ""
    if env in os.environ and not os.environ[env].strip():
        raise SpecError(field, f"${env} is set but empty; unset it or give a directory")
    return default(), (f" (from ${env})" if env in os.environ else " (the default)")


def check_dir(path: Path, field: str, *, write: bool, must_exist: bool = False, where: str = "") -> Path:
    """``path`` is a directory the command can use, or one it can create (with its missing parents).

    Raises :class:`SpecError` naming ``field`` when ``path`` or one of its parents is a file (or a device), when
    ``path`` cannot be read (or, with ``write``, written or created), or, with ``must_exist``, is missing.
    ``where`` says where the path came from (``" (from $UNLEARN_CACHE_DIR)"``) in the messages.
    """
    name = f"{str(path)!r}{where}"
    with _os_errors(field, path):
        if path.exists():
            if not path.is_dir():
                raise SpecError(field, f"{name} is not a directory")
            need = os.R_OK | os.X_OK | (os.W_OK if write else 0)
            if not os.access(path, need):
                raise SpecError(field, f"no permission to {'write to' if write else 'read'} {name}")
            return path
        if path.is_symlink():
            raise SpecError(field, f"{name} is a broken symbolic link")
        if must_exist:
            raise SpecError(field, f"{name} does not exist")
        ancestor = next(a for a in path.absolute().parents if a.exists())
        if not ancestor.is_dir():
            raise SpecError(field, f"cannot create {name}: {str(ancestor)!r} is not a directory")
        if write and not os.access(ancestor, os.W_OK | os.X_OK):
            raise SpecError(field, f"cannot create {name}: no permission to write in {str(ancestor)!r}")
        return path


def check_out(raw: str, field: str = "out") -> Path:
    """``raw`` names a file the command may write: a new one in an existing directory, or a regular file.

    A directory, a symbolic link, a device, pipe or socket, a missing or unwritable directory is a
    :class:`SpecError` naming ``field`` (checked before any work; :func:`write_atomic` checks again).
    """
    if not raw.strip():
        raise SpecError(field, "empty path")
    if raw.endswith(("/", os.sep)):
        raise SpecError(field, f"{raw!r} names a directory; give a file name")
    path = Path(raw).expanduser()
    with _os_errors(field, raw):
        if path.is_symlink():
            raise SpecError(field, f"{raw!r} is a symbolic link; refusing to replace it (give the file's real path)")
        if path.exists():
            if path.is_dir():
                raise SpecError(field, f"{raw!r} is a directory; give a file name")
            if not path.is_file():
                raise SpecError(field, f"{raw!r} is not a regular file (a device, pipe or socket); refusing to "
                                       f"replace it")
        parent = path.absolute().parent
        if not parent.exists():
            raise SpecError(field, f"directory {str(parent)!r} does not exist")
        if not parent.is_dir():
            raise SpecError(field, f"{str(parent)!r} is not a directory")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise SpecError(field, f"no permission to write in {str(parent)!r}")
        return path


def check_file(raw: str, field: str) -> Path:
    """``raw`` names an existing regular file to read (a directory, device or pipe is a :class:`SpecError`)."""
    if not raw.strip():
        raise SpecError(field, "empty path")
    path = Path(raw).expanduser()
    with _os_errors(field, raw):
        if not path.exists():
            raise SpecError(field, f"{raw!r} does not exist")
        if path.is_dir():
            raise SpecError(field, f"{raw!r} is a directory; give a file")
        if not path.is_file():
            raise SpecError(field, f"{raw!r} is not a regular file (a device, pipe or socket)")
        if not os.access(path, os.R_OK):
            raise SpecError(field, f"no permission to read {raw!r}")
        return path


def write_atomic(out: Path, write: Callable[[IO[bytes]], None], field: str = "out") -> None:
    """Write ``out`` through a new temporary file in its directory, then ``os.replace``: never a half-written file,
    and no temporary file left behind whatever fails (the check of :func:`check_out` is repeated first)."""
    check_out(str(out), field)
    tmp = out.absolute().parent / f".{out.name[:100]}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # new file (never a link); umask applies
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, out)
    except OSError as e:
        raise SpecError(field, f"cannot write {str(out)!r}: {e.strerror or e}") from None
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)  # after os.replace there is nothing left to remove


def _shown(path: Path) -> str:
    """A path for the terminal: bytes that are not UTF-8 (``$'\\xff'`` on the command line) as ``\\xff``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _write_csv(df: Any, out: Path) -> None:
    write_atomic(out, lambda f: df.to_csv(f, index=False, na_rep="NA"))


def answer_from_cache(args: argparse.Namespace, cache_dir: Path, out: Path | None) -> int | None:
    """Answer ``compare`` from the saved tables of the same finished comparison (:func:`engine.api.cached_answer`)
    -- the summary and the CSV, byte for byte what a run would write -- without planning or importing torch.

    ``None`` (run the comparison) when there is no saved answer, or the command line asks for what needs the
    registries or a check this path does not make: a preset, ``--methods all``, an executor or worker count that is
    not plainly valid (the full path reports those). Demo caps are not applied: a saved answer computes nothing.
    """
    if getattr(args, "preset", None) is not None or args.methods.strip() == "all" or args.tune is not None:
        return None
    if args.workers is not None and not (str(args.workers).strip().isdigit() and int(args.workers) >= 1):
        return None
    if args.executor is not None and args.executor.strip().lower() not in ("local", "ray"):
        return None
    try:
        spec = build_spec(args, check=False)
    except (SpecError, TypeError, ValueError):
        return None
    answer = api.cached_answer(spec, cache_dir)
    if answer is None:
        return None
    wide = list(csv.DictReader(io.StringIO(answer["wide_csv"])))
    print_summary(wide, list(csv.DictReader(io.StringIO(answer["summary_csv"]))))
    if out is not None:
        write_atomic(out, lambda f: f.write(answer["wide_csv"].encode()))
        sys.stdout.write(f"wrote {_shown(out)} ({len(wide)} rows) from the saved results\n")
    return 0


def checked_paths(args: argparse.Namespace) -> tuple[Path, Path, Path | None]:
    """``--cache-dir`` (writable), ``--data-dir`` (readable) and ``--out`` checked before any work (``SpecError``
    naming the field)."""
    cache_dir, where = _given_path(args.cache_dir, api.default_cache_dir, api.CACHE_DIR_ENV, "cache_dir")
    check_dir(cache_dir, "cache_dir", write=True, where=where)
    data_dir, where = _given_path(args.data_dir, api.default_data_dir, api.DATA_DIR_ENV, "data_dir")
    check_dir(data_dir, "data_dir", write=False, where=where)
    return cache_dir, data_dir, check_out(args.out) if args.out is not None else None


def cmd_compare(args: argparse.Namespace) -> int:
    """Run the comparison; exit status 2 on bad input (nothing written), 1 if any run failed."""
    try:
        cache_dir, data_dir, out = checked_paths(args)
        answered = answer_from_cache(args, cache_dir, out)
        if answered is not None:  # every result cached: answered from the saved tables, without torch
            return answered
        executor = api.make_executor(args.executor, workers=args.workers)
        spec = build_preset_spec(args) if getattr(args, "preset", None) is not None else build_spec(args)
        api.check_demo(spec, data_dir)  # no-op outside demo mode
        if executor.name == "local":  # Ray workers resolve the device where they run
            api.resolve_device(spec.device)
        plan = api.plan(spec, data_dir)
    except SpecError as e:
        return _bad_input(e.field, e.message)
    except api.DatasetUnavailable as e:
        return _bad_input("dataset", str(e))
    if args.tune is not None:
        return _compare_tuned(args, spec, plan, cache_dir, data_dir, executor, out)
    progress = TerminalProgress(len(plan.jobs))
    result = api.run(spec, cache_dir=cache_dir, data_dir=data_dir, executor=executor, on_event=progress,
                            plan=plan)
    print_summary(result.wide.to_dict("records"), result.summary.to_dict("records"))
    if out is not None:
        try:
            _write_csv(result.wide, out)
        except SpecError as e:  # the path changed during the run: the results stay in the cache
            return _bad_input(e.field, e.message)
        sys.stdout.write(f"wrote {_shown(out)} ({len(result.wide)} rows) in {result.seconds:.1f}s\n")
    failed = result.wide[result.wide["status"].isin(["failed", "cancelled", "pending"])]
    return 1 if len(failed) else 0


def tune_options(args: argparse.Namespace) -> Any:
    """``--tune N``, ``--tune-seeds`` and ``--tune-prune`` as :class:`~engine.tuning.TuneOptions` (``SpecError``
    naming ``tune`` / ``tune_seeds``)."""
    seeds = api.DEFAULT_TUNING_SEEDS
    if args.tune_seeds is not None:
        try:
            seeds = tuple(int(s) for s in args.tune_seeds.split(",") if s.strip())
        except ValueError:
            raise SpecError("tune_seeds", f"expected comma-separated integers, got {args.tune_seeds!r}") from None
    return api.TuneOptions(trials=args.tune, seeds=seeds, prune=bool(args.tune_prune))


def print_tuning(result: Any, stream: Any = None) -> None:
    """Per method: the trials, the objective of the default configuration (trial 0) and of the best trial, the
    study's wall time and the chosen values that differ from the defaults."""
    stream = stream or sys.stdout
    stream.write(f"\ntuning: {result.options.trials} trials per method on seeds "
                 f"{', '.join(map(str, result.options.seeds))}; objective: {api.OBJECTIVE}\n")
    stream.write(f"{'method':<18}{'trials':>8}{'default':>10}{'tuned':>10}{'seconds':>9}  chosen\n")
    for name, study in result.studies.items():
        first = study.trials[0] if study.trials else None
        d = first.value if first is not None and first.value is not None else float("nan")
        best = study.best
        b = best.value if best is not None else float("nan")
        done = sum(t.state == "complete" for t in study.trials)
        changed = {k: v for k, v in (best.params if best else {}).items() if k in study.space.defaults()
                   and v != study.space.defaults()[k]}
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in changed.items())
        stream.write(f"{name:<18}{f'{done}/{len(study.trials)}':>8}{d:>10.4f}{b:>10.4f}{study.seconds():>9.1f}  "
                     f"{shown or '(the defaults)'}\n")
    for name, why in result.reasons.items():
        if why and name not in result.studies:
            stream.write(f"{name:<18}not tuned: {why}\n")
    stream.write(f"tuning wall time {result.tuning_seconds:.1f}s\n\n")


def _compare_tuned(args: argparse.Namespace, spec: Any, plan: Any, cache_dir: Path, data_dir: Path, executor: Any,
                   out: Path | None) -> int:
    """``compare --tune N``: the comparison, the studies, the tuned comparison; one table with both variants."""
    try:
        options = tune_options(args)
        options.check(spec.seeds)
    except SpecError as e:
        return _bad_input(e.field, e.message)
    progress = TerminalProgress(None)  # the trials' jobs are planned as the studies go
    result = api.run_tuned(spec, options, cache_dir=cache_dir, data_dir=data_dir, executor=executor,
                           on_event=progress, plan=plan)
    print_tuning(result)
    table = result.table()
    summary = result.summary()
    for variant in ("default", "tuned"):
        sub = table[table["variant"] == variant]
        if not sub.empty:
            sys.stdout.write(f"{variant}:\n")
            print_summary(sub.to_dict("records"), summary[summary["variant"] == variant].to_dict("records"))
    if out is not None:
        try:
            _write_csv(table, out)
        except SpecError as e:
            return _bad_input(e.field, e.message)
        sys.stdout.write(f"wrote {_shown(out)} ({len(table)} rows)\n")
    failed = table[table["status"].isin(["failed", "cancelled", "pending"])]
    return 1 if len(failed) or result.tuned is None else 0


def _bad_input(field: str, message: str) -> int:
    """Report bad input naming the field; exit status 2 (nothing was written)."""
    sys.stderr.write(f"error: {field}: {message}\n")
    return 2


def cmd_list(kind: str) -> int:
    """Print the keys of one registry with a one-line description."""
    for key, title in api.describe(kind):
        sys.stdout.write(f"{key:<20}{title}\n")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    """Export or import a results bundle; exit status 2 (nothing changed) when the bundle or a key is bad."""
    try:
        cache_dir, where = _given_path(args.cache_dir, api.default_cache_dir, api.CACHE_DIR_ENV, "cache_dir")
        if args.bundle_command == "export":
            check_dir(cache_dir, "cache_dir", write=True, must_exist=True, where=where)
            out = check_out(args.out)
            keys: list[str] = []
            write_atomic(out, lambda f: keys.extend(api.write_bundle(f, args.comparison, cache_dir,
                                                                     with_weights=args.with_weights)))
            sys.stdout.write(f"wrote {_shown(out)}: {len(keys)} comparison(s)\n")
        else:
            check_dir(cache_dir, "cache_dir", write=True, where=where)
            keys = api.import_comparisons(check_file(args.file, "bundle"), cache_dir)
            sys.stdout.write(f"imported {len(keys)} comparison(s) into {_shown(cache_dir)}\n")
    except SpecError as e:
        return _bad_input(e.field, e.message)
    for k in keys:
        sys.stdout.write(f"  {k}\n")
    return 0


# -- paper presets: ``list presets`` and ``compare --preset KEY`` -----------------------------------------------
PRESET_KIND = "presets"


class _PresetOption(argparse.Action):
    """``--preset KEY``: keeps the key, and the parser it was read by (see :func:`given_options`)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.preset_parser = parser


def add_preset_option(c: argparse.ArgumentParser) -> None:
    """``compare --preset KEY``: the preset fills the spec; every option given on the command line overrides it."""
    c.add_argument("--preset", default=None, metavar="KEY", action=_PresetOption,
                   help="a seed paper's setting ('python -m engine list presets'); options given explicitly "
                        "override it (e.g. --seeds 1, --methods original,retrain,pgu, --train epochs=5)")


class _NotGiven(list):
    """The default of every option while :func:`given_options` re-parses (a list: append options copy it)."""


def given_options(args: argparse.Namespace, argv: list[str]) -> frozenset[str]:
    """The ``compare`` options the command line gives (dest names), whatever their value.

    The ``compare`` part of ``argv`` is parsed again by the same sub-parser with one marker as every default, so
    an option given at its default value (``--dataset digits`` over a CIFAR-10 preset) still counts as given.
    """
    parser, marker = args.preset_parser, _NotGiven()
    parser.set_defaults(**{dest: marker for dest in vars(args) if dest != "preset_parser"})
    given, _ = parser.parse_known_args(argv[argv.index(args.command) + 1:])
    return frozenset(d for d, v in vars(given).items() if v is not marker and d != "preset_parser")


def build_preset_spec(args: argparse.Namespace) -> Any:
    """The spec of preset ``args.preset`` with the options in ``args.given`` overriding it.

    The preset fills dataset, model, paradigm (+ rate and options), scenario (+ parameters), methods (+
    hyper-parameters), seeds and training epochs. Given options replace those fields; ``--hparam``, ``--train``,
    the scenario flags and the paradigm options (``--noise`` ...) are merged by name over the preset's values. A
    given paradigm or scenario other than the preset's drops the preset's rate and options or scenario
    parameters (they belong to its own); methods listed by ``--methods`` keep the preset's hyper-parameters.
    Errors: ``preset`` (unknown key) or the overridden field.
    """
    from dataclasses import replace

    preset = api.preset(args.preset)
    given = getattr(args, "given", frozenset())
    fill: dict[str, Any] = {
        "dataset": preset.dataset, "coarse": preset.scenario == "subclass", "model": preset.model,
        "paradigm": preset.paradigm, "rate": preset.rate, "scenario": preset.scenario, "seeds": preset.seeds,
        "methods": ",".join(preset.available_methods(api.method_keys())[0]),
    }
    for name, value in fill.items():
        if name not in given:
            setattr(args, name, value)
    if "paradigm" in given and "rate" not in given and args.paradigm != preset.paradigm:
        args.rate = None
    spec = build_spec(args)  # the given options, validated as without a preset
    scen = {**(dict(preset.scenario_params) if spec.scenario == preset.scenario else {}), **dict(spec.scenario_params)}
    para = {**(dict(preset.paradigm_params) if spec.paradigm == preset.paradigm else {}), **dict(spec.paradigm_params)}
    train = {**({"epochs": int(preset.epochs)} if preset.epochs is not None else {}), **dict(spec.train)}
    hp = preset.hparam_dict()
    methods = tuple(replace(m, hparams=tuple({**hp.get(m.name, {}), **m.hparam_dict()}.items()))
                    for m in spec.methods)
    return replace(spec, scenario_params=tuple(scen.items()), paradigm_params=tuple(para.items()),
                   train=tuple(train.items()), methods=methods)


def cmd_list_presets() -> int:
    """Print every paper preset: key, paper, dataset / model, CPU or GPU recommended, title."""
    for key, paper, setting, gpu, title in api.preset_listing():
        size = "GPU recommended" if gpu else "CPU"
        sys.stdout.write(f"{key:<22}{paper:<10}{setting:<22}{size:<17}{title}\n")
    return 0


def _join_negative_floats(argv: list[str]) -> list[str]:
    """``--rate -inf`` -> ``--rate=-inf``: argparse reads a token like ``-inf`` or ``-1e-3`` as an option."""
    out: list[str] = []
    it = iter(argv)
    for tok in it:
        if tok == "--":
            out += [tok, *it]
            break
        if tok in FLOAT_OPTIONS:
            nxt = next(it, None)
            if nxt is None:
                out.append(tok)
                break
            try:
                float(nxt)
                negative = nxt.strip().startswith("-")
            except ValueError:
                negative = False
            out += [f"{tok}={nxt}"] if negative else [tok, nxt]
            continue
        out.append(tok)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine``."""
    argv = _join_negative_floats(sys.argv[1:] if argv is None else list(argv))
    args = _parser().parse_args(argv)
    if args.command == "list":
        return cmd_list_presets() if args.kind == PRESET_KIND else cmd_list(args.kind)
    if args.command == "compare" and args.preset is not None:
        args.given = given_options(args, argv)
    if args.command == "bundle":
        return cmd_bundle(args)
    if args.command == "tune-defaults":
        return cmd_tune_defaults(args)
    return cmd_compare(args)


def cmd_tune_defaults(args: argparse.Namespace) -> int:
    """``tune-defaults``: the defaults run (cached), its tuning summary, and the record written."""
    try:
        cache_dir, data_dir, out = checked_paths(args)
        executor = api.make_executor(args.executor, workers=args.workers)
    except SpecError as e:
        return _bad_input(e.field, e.message)
    run, path = api.tune_defaults(cache_dir=cache_dir, data_dir=data_dir, executor=executor,
                                  on_event=TerminalProgress(None), out=out)
    print_tuning(run.result)
    sys.stdout.write("stability rule (confirmation seeds):\n")
    for name, conf in run.confirmations.items():
        sys.stdout.write(f"  {name}: {conf.why()}\n")
    sys.stdout.write(f"wrote {_shown(path)}\n")
    return 0 if run.result.tuned is not None else 1
