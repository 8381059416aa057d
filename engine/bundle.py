"""Results bundles: portable zip archives of comparisons, shared between caches without pickles.

A bundle holds, for every exported comparison, its recorded spec and plan (``store.comparison``) and,
for every finished job of the plan, the store's meta JSON (byte for byte) and its array blobs
(``.npz`` written with ``allow_pickle=False``). Model weights (``state.pt``) are left out unless
``with_weights`` is asked for; they are then ``torch.save`` tensors that load with ``weights_only=True``.
Without weights only the ``problem`` and ``evaluate`` jobs travel -- everything the result tables,
the charts and the CSV need; :func:`engine.runner.comparison.needed_jobs` then knows the models are not needed
to show a finished comparison, and a new method added later retrains them.

Layout::

    manifest.json                        format, version, engine version, comparisons, members (sha256, size)
    comparisons/<comparison key>.json    the comparison record
    jobs/<job key>/meta.json             the job's result meta, as stored
    jobs/<job key>/<blob>                problem.npz | outputs.npz | per_sample.npz | state.pt | a metric
                                         preparation's blobs (e.g. shadow.npz, attacker.json)

A bundle is the one input a stranger can hand a hosted demo, so :func:`read_bundle` treats every byte of it as
hostile user input and validates everything before :func:`import_bundle` opens the store; a bad bundle raises
:class:`BundleError` (a :class:`~engine.errors.SpecError` naming ``bundle``, its message naming the member) and
leaves the store untouched (its directory is not even created).

What is verified, in this order (cheap checks first; nothing is inflated before the headers allow it):

1. *The archive*, from its end record and directory alone: its size, its member count (read from the end
   record before ``zipfile`` parses the directory), member names (a fixed pattern: no path traversal, no
   directories, no duplicates), no encryption, stored or deflated only, declared sizes against the limits
   below, members not sharing bytes, and the whole decompressing to at most :data:`MAX_COMPRESSION_RATIO`
   times its compressed size (so what the importer holds in memory is bounded by the upload's size).
2. *The manifest*: format, format and engine versions, exactly the archive's members with the sizes of their
   headers, ``with_weights`` (weights and model jobs only in a bundle made with weights).
3. *Every JSON record*, strictly parsed: UTF-8, no NaN/Infinity, finite floats, 64-bit integers, no repeated
   key, nesting at most :data:`MAX_JSON_DEPTH`, no lone surrogate. Every member is read in chunks, never beyond
   its header's size, its SHA-256 checked against the manifest on the way.
4. *Every comparison record* (``record_comparison``): exactly its fields; its spec validated exactly as a
   user's spec -- :meth:`~engine.spec.ComparisonSpec.from_json`, :func:`engine.problem.resolve` (dataset,
   paradigm, scenario and their parameters, train overrides against ``TrainConfig``'s ranges) and every
   method's hyper-parameters with :func:`engine.config.build_config` against its schema -- and in canonical
   form; the member's name is the spec's comparison key.
5. *The blobs' sizes*: every ``.npz``'s declared array sizes counted against the budget before any array is
   inflated.
6. *The problems of the records' seeds* (their keys are data-free): meta and ``problem.npz`` (as in 8), then the
   digests of their training supervision and retain set (:func:`engine.problem.training_content`), which today's
   model keys hold (:mod:`engine.jobs.identity`).
7. *Every record's plan*: its ``jobs`` and ``rows`` equal, entry for entry (keys, kinds, labels, order; rows'
   methods, seeds, evaluation jobs, statuses and reasons), the plan recomputed from the spec and those digests
   without the data (:func:`_plan_shape`: :func:`engine.runner.plan.build_graph`, the data-free half of
   :func:`engine.runner.plan.make_plan`). A seed whose problem the bundle does not carry (it never ran where the
   bundle was made) has the keys that hold its content checked for kind and label only, and none of its jobs may
   travel. A record made before models were keyed by content is checked exactly against the identities it was
   made with (:class:`~engine.jobs.identity.ProblemIdentities`); its jobs are imported under today's keys and the
   record is rewritten with them (same jobs, same numbers).
8. *Every job*: listed by a comparison record of the bundle (so every imported key belongs to the plan of an
   imported spec; a model job only in a bundle made with weights); its meta's schema for its kind (counts,
   durations, class indices); an evaluation's metrics exactly this engine's metric keys, each ``null`` or finite
   and inside its declared :attr:`~engine.metrics.base.MetricInfo.range`; every job but a problem travels with
   its seed's problem job. Then its blobs: each ``.npy`` streamed in chunks (never materialised; a problem's
   four supervision arrays are loaded for 6): format 1.0/2.0, a plain numeric dtype
   (no object arrays, hence no pickles), data exactly as long as its shape, finite floats. Against the sizes in
   the seed's problem meta: as many forget / retain / test indices, within the training (held-out) split;
   logits with a row per training / test sample and as many columns; the index arrays a metric's preparation
   declares (the shadow job's forget subset) within the training split; per-sample arrays named after metrics.
   Weights: a ``torch.save`` zip of uncompressed records, loaded with ``weights_only=True``, a dict of named
   tensors. A JSON blob (the shadow attack's XGBoost model) parses.

Not verified, because it needs the data (which the importer never loads): whether a training-time state is
feasible for the dataset's size (a record may mark the methods needing it not applicable, for any short
reason, provided it leaves that state's jobs out for every seed, as ``make_plan`` does), the class indices of
scenario parameters against the dataset, that the forget set is non-empty, that the problem meta's sizes are
the dataset's (a registered dataset declares no split sizes), and that the arrays' contents (forget set, logits,
per-sample values) and the metric values are what the spec would produce -- they are only checked to be finite
numbers of the right kinds, shapes and ranges (the supervision digests the model keys are checked against are those
of the bundle's own problem arrays). Imported results are marked imported and never satisfy a local
job (DESIGN.md "provenance"), so numbers that were fabricated consistently stay someone else's numbers.

Limits (module constants): :data:`MAX_TOTAL_BYTES` 512 MiB decompressed for everything but weights, the arrays
inside every ``.npz`` included -- a digits comparison is a few MB, a CIFAR-10 comparison without weights about
2.5 MB of logits per evaluated run (~80 MB for 10 methods x 3 seeds), so several real comparisons fit while a
zip bomb is refused from its headers; :data:`MAX_WEIGHT_BYTES` 2 GiB more for ``state.pt`` members in a bundle
made with weights (a ResNet-18 is 45 MB: the models of a few methods x seeds; weights are for moving a cache
between one's own machines); :data:`MAX_MEMBER_BYTES` 256 MiB per member (a CIFAR-100 evaluation's logits are
24 MB, a ResNet-50 100 MB); :data:`MAX_MEMBERS` 10 000 members (a job is 2-3); :data:`MAX_JSON_BYTES` 8 MiB per
record; :data:`MAX_NPZ_ARRAYS` / :data:`MAX_PT_RECORDS` entries inside one ``.npz`` / ``.pt``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import math
import os
import re
import struct
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

from engine.errors import SpecError
from engine.jobs.model import (
    CORE_KINDS,
    EVALUATE,
    MODEL_KINDS,
    OUTPUTS_BLOB,
    PER_SAMPLE_BLOB,
    PROBLEM,
    PROBLEM_BLOB,
    STATE_BLOB,
)
from engine.metrics import preparations
from engine.version import ENGINE_VERSION

FORMAT = "unlearning-workbench-bundle"
FORMAT_VERSION = 1
# Limits (module docstring, "Limits"), checked from the zip headers before anything is read and again while reading
MAX_TOTAL_BYTES = 512 << 20  # everything but weights once decompressed: members + the arrays inside every .npz
MAX_WEIGHT_BYTES = 2 << 30  # the state.pt members together (bundles made with weights only)
MAX_ARCHIVE_BYTES = MAX_TOTAL_BYTES + MAX_WEIGHT_BYTES + (64 << 20)  # the bundle file itself
MAX_MEMBERS = 10_000  # archive members
MAX_MEMBER_BYTES = 256 << 20  # one member once decompressed (an .npz: also its arrays once decompressed)
MAX_JSON_BYTES = 8 << 20  # one record: manifest.json, a comparison record, a job's meta.json
MAX_JSON_BLOB_BYTES = 64 << 20  # a JSON blob (the shadow attack's XGBoost model)
MAX_JSON_DEPTH = 32  # nesting of a record (real ones: 7)
MAX_NPZ_ARRAYS = 1_000  # arrays in one .npz
MAX_PT_RECORDS = 20_000  # records in one torch.save zip
MAX_TEXT_CHARS = 10_000  # a not-applicable reason, a metric's reason
CHUNK_BYTES = 1 << 20  # members and arrays are read in chunks of this size
MAX_COMPRESSION_RATIO = 20  # all members together, decompressed / compressed (real bundles: 1.1-1.5)
RATIO_SLACK_BYTES = 1 << 20  # ... plus this much (a bundle of a few small JSON records compresses better)

PREPARATIONS = {p.kind: p for p in preparations()}  # the metrics' preparation jobs by kind (e.g. "shadow")
JOB_KINDS = (*CORE_KINDS, *PREPARATIONS)
# jobs whose blobs are arrays / JSON only (no weights): exported by default
LIGHT_KINDS = tuple(k for k in JOB_KINDS if k not in MODEL_KINDS)
# .npz blob of a metric preparation -> its arrays of training-split indices (checked against the problem's sizes)
_INDEX_ARRAYS = {blob: names for p in PREPARATIONS.values() for blob, names in p.index_arrays.items()}
_HEX = r"[0-9a-f]{24}"
_JOB_KEY = re.compile(rf"(?:{'|'.join(JOB_KINDS)})-{_HEX}")
_MEMBER = re.compile(rf"(?:manifest\.json|comparisons/{_HEX}\.json|jobs/({_JOB_KEY.pattern})/"
                     r"(meta\.json|[a-z][a-z0-9_]{0,63}\.(?:npz|pt|json)))")

BundleSource = str | os.PathLike[str] | bytes | IO[bytes]


class BundleError(SpecError):
    """A bundle cannot be written or read; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__("bundle", message)


@dataclass(frozen=True)
class BundleContents:
    """A validated bundle, ready to be written: raw JSON texts and blobs keyed as in the store."""

    manifest: dict[str, Any]
    comparisons: dict[str, str]  # comparison key -> record JSON text
    results: dict[str, tuple[str, dict[str, bytes]]]  # job key -> (meta JSON text, blobs)

    def specs(self) -> dict[str, dict[str, Any]]:
        """Each comparison's spec (JSON form), for a preview before importing."""
        return {k: json.loads(v)["spec"] for k, v in self.comparisons.items()}


# -- export ---------------------------------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_bundle(cache_dir: Path | str, out: str | os.PathLike[str] | IO[bytes], keys: Iterable[str] | None = None,
                  with_weights: bool = False) -> list[str]:
    """Write comparisons ``keys`` (default: every saved comparison) of the store at ``cache_dir`` to ``out``.

    ``out`` is a file path (written atomically) or a binary file object (e.g. ``io.BytesIO`` for a
    download button). Unfinished jobs are left out (their rows stay ``pending`` elsewhere). Returns the
    exported comparison keys; an unknown key or an empty store raises :class:`BundleError`.
    """
    from engine.store import Store

    cache_dir = Path(cache_dir).expanduser()
    if not cache_dir.is_dir() or not (cache_dir / "cache.db").is_file():  # never create a store to export from
        raise BundleError(f"no results cache at {cache_dir}")
    base = Store(cache_dir)
    store = base.with_imported()  # an imported comparison can be passed on (it is imported again at the other end)
    try:
        wanted = list(dict.fromkeys(keys)) if keys is not None else sorted(k for k, _ in store.comparisons())
        if not wanted:
            raise BundleError(f"no saved comparisons in {cache_dir}: nothing to export")
        members: dict[str, bytes] = {}
        for key in wanted:
            record = store.comparison_json(key) if re.fullmatch(_HEX, key) else None
            if record is None:
                raise BundleError(f"comparison {key!r} is not in the store at {cache_dir}")
            members[f"comparisons/{key}.json"] = record.encode()
            for job in json.loads(record)["jobs"]:
                jkey, kind = job["key"], job["kind"]
                if f"jobs/{jkey}/meta.json" in members or (kind not in LIGHT_KINDS and not with_weights):
                    continue
                meta = store.result_json(jkey)
                if meta is None:
                    continue
                # weights a light job carries (U-LiRA's shadow originals, a preparation's optional blob) only
                # travel in a bundle made with weights
                listed = json.loads(meta).get("blobs", [])
                blobs = {name: store.blob(jkey, name) for name in listed if with_weights or not name.endswith(".pt")}
                if len(blobs) < len(listed):  # the meta lists what the bundle holds
                    meta = json.dumps({**json.loads(meta), "blobs": [n for n in listed if n in blobs]})
                for name in blobs:
                    if not _MEMBER.fullmatch(f"jobs/{jkey}/{name}") or name == "meta.json":
                        raise BundleError(f"job {jkey} has a blob named {name!r} that bundles cannot carry")
                members[f"jobs/{jkey}/meta.json"] = meta.encode()
                for name, data in blobs.items():
                    members[f"jobs/{jkey}/{name}"] = data
    finally:
        store.close()
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "engine_version": ENGINE_VERSION,
                "created": time.time(), "with_weights": with_weights, "comparisons": wanted,
                "members": {n: {"sha256": _sha256(d), "size": len(d)} for n, d in sorted(members.items())}}
    _write_zip(out, {"manifest.json": json.dumps(manifest, indent=1, sort_keys=True).encode(), **members})
    return wanted


def _write_zip(out: str | os.PathLike[str] | IO[bytes], members: dict[str, bytes]) -> None:
    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED  # stored .npz/.pt would expose their own zip records
                info.external_attr = 0o600 << 16
                z.writestr(info, data)

    if hasattr(out, "write"):
        write(out)  # type: ignore[arg-type]
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)  # never a half-written bundle
    finally:
        tmp.unlink(missing_ok=True)


# -- validation -------------------------------------------------------------------------------------------------
RECORD_FIELDS = frozenset({"spec", "created", "updated", "rows", "jobs"})  # runner.comparison.record_comparison
MANIFEST_FIELDS = frozenset({"format", "version", "engine_version", "created", "with_weights", "comparisons",
                             "members"})
ROW_FIELDS = frozenset({"method", "seed", "eval_job", "status", "reason"})
_NPY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]{0,159}\.npy")  # an .npz member: one array, named as np.savez does
_RANGE_SLACK = 1e-9  # floating rounding at a range's ends (a KL of clipped distributions can be -1e-13)
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_DIRECTORY_BYTES_PER_MEMBER = 256  # central directory entry (46 bytes + name + extra fields), generously


def _need(cond: bool, name: str, what: str) -> None:
    """Raise :class:`BundleError` ``"<name>: <what>"`` (just ``what`` for the archive as a whole) unless ``cond``."""
    if not cond:
        raise BundleError(f"{name}: {what}" if name else what)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v: Any, limit: int = 200) -> str:
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


# -- JSON -------------------------------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"the number {text[:40]} is out of range")
    return v


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not -(2**63) <= int(text) < 2**63:
        raise ValueError(f"the integer {text[:40]}{'...' if len(text) > 40 else ''} is out of range (64 bits)")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"an object has the key {k[:40]!r} twice")
        d[k] = v
    return d


def _check_tree(name: str, value: Any) -> None:
    """Depth at most :data:`MAX_JSON_DEPTH`; every string encodable as UTF-8 (no lone surrogates). Iterative."""
    todo = [(value, 1)]
    while todo:
        v, depth = todo.pop()
        if isinstance(v, dict | list):
            _need(depth <= MAX_JSON_DEPTH, name, f"nested deeper than {MAX_JSON_DEPTH} levels")
            items = list(v.items()) if isinstance(v, dict) else [(None, x) for x in v]
            for k, x in items:
                if k is not None:
                    todo.append((k, depth))
                todo.append((x, depth + 1))
        elif isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise BundleError(f"{name}: a string holds a lone surrogate ({v[:40]!r})") from None


def _json(name: str, data: bytes, limit: int | None = None, tree: bool = True) -> Any:
    """Parse strict JSON: UTF-8, no NaN/Infinity, finite floats, 64-bit integers, no repeated keys, bounded depth."""
    limit = MAX_JSON_BYTES if limit is None else limit
    _need(len(data) <= limit, name, f"larger than {limit} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"{name}: not valid JSON (not UTF-8: {e.reason} at byte {e.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int,
                           object_pairs_hook=_unique_keys)
    except RecursionError:
        raise BundleError(f"{name}: not valid JSON (nested too deeply)") from None
    except ValueError as e:
        raise BundleError(f"{name}: not valid JSON ({e})") from None
    if tree:
        _check_tree(name, value)
    return value


# -- zip archives (the bundle, and the .npz / .pt inside it) ------------------------------------------------------
def _declared_directory(fp: IO[bytes], size: int) -> tuple[int, int]:
    """(members, central directory bytes) as the archive's end record declares them, read before ``zipfile``
    parses (and holds in memory) the whole directory. Finds the record as ``zipfile`` does."""
    tail = min(size, _EOCD.size + 0xFFFF)
    fp.seek(size - tail)
    data = fp.read(tail)
    if len(data) >= _EOCD.size and data[-_EOCD.size:-_EOCD.size + 4] == b"PK\x05\x06" and data[-2:] == b"\0\0":
        at = len(data) - _EOCD.size
    else:
        at = data.rfind(b"PK\x05\x06")
        if at < 0 or len(data) - at < _EOCD.size:
            raise BundleError("not a zip archive (no end-of-central-directory record: truncated or corrupt?)")
    members, directory = _EOCD.unpack_from(data, at)[4:6]
    loc = size - tail + at - _ZIP64_LOCATOR.size
    if loc >= 0:  # a zip64 locator: zipfile then takes the zip64 record's counts (whatever the classic ones say)
        fp.seek(loc)
        if fp.read(4) == b"PK\x06\x07":
            fp.seek(max(loc - _ZIP64_EOCD.size, 0))
            rec = fp.read(_ZIP64_EOCD.size)
            if len(rec) != _ZIP64_EOCD.size or rec[:4] != b"PK\x06\x06":
                raise BundleError("not a readable zip archive (a zip64 locator without its record)")
            m64, d64 = _ZIP64_EOCD.unpack_from(rec)[7:9]
            members, directory = max(members, m64), max(directory, d64)
    return members, directory


def _zip(fp: IO[bytes], size: int, what: str, max_members: int) -> zipfile.ZipFile:
    """Open ``fp`` (``size`` bytes) as a zip archive of at most ``max_members`` members; ``what`` names it."""
    try:
        members, directory = _declared_directory(fp, size)
        _need(members <= max_members, what, f"more than {max_members} members ({members})")
        _need(directory <= max_members * _DIRECTORY_BYTES_PER_MEMBER, what,
              f"a central directory of {directory} bytes (more than {max_members} members can need)")
        z = zipfile.ZipFile(fp)
    except BundleError as e:
        raise BundleError(f"{what}: {e.message}" if what and not e.message.startswith(what) else e.message) from None
    except Exception as e:  # BadZipFile, OSError, EOFError, ValueError, struct.error, NotImplementedError, ...
        raise BundleError(f"{what}: not a readable zip archive (truncated or corrupt?): {type(e).__name__}: {e}"
                          ) from None
    _need(len(z.infolist()) <= max_members, what, f"more than {max_members} members")
    return z


@contextlib.contextmanager
def _open_zip(source: BundleSource) -> Iterator[tuple[zipfile.ZipFile, int]]:
    """The bundle as a zip archive and its size in bytes; size and member count checked before its directory is
    read."""
    with contextlib.ExitStack() as stack:
        fp: IO[bytes]
        if isinstance(source, bytes | bytearray | memoryview):
            _need(len(source) <= MAX_ARCHIVE_BYTES, "", f"the bundle is larger than {MAX_ARCHIVE_BYTES} bytes")
            fp = io.BytesIO(bytes(source))
        elif hasattr(source, "read"):
            fp = source  # type: ignore[assignment]
            _need(getattr(fp, "seekable", lambda: False)(), "", "the bundle must be a seekable file")
        else:
            path = Path(source)  # type: ignore[arg-type]
            if not path.is_file():
                raise BundleError(f"no bundle file at {path}")
            try:
                fp = stack.enter_context(open(path, "rb"))
            except OSError as e:
                raise BundleError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            size = fp.seek(0, os.SEEK_END)
        except (OSError, ValueError) as e:
            raise BundleError(f"cannot read the bundle: {e}") from None
        _need(size <= MAX_ARCHIVE_BYTES, "", f"the bundle is larger than {MAX_ARCHIVE_BYTES} bytes ({size})")
        yield stack.enter_context(_zip(fp, size, "", MAX_MEMBERS)), size


def _read(z: zipfile.ZipFile, info: zipfile.ZipInfo, sha256: str | None = None) -> bytes:
    """A member's bytes, streamed in chunks: never more than its header declares; SHA-256 checked on the way."""
    h = hashlib.sha256()
    chunks: list[bytes] = []
    n = 0
    try:
        with z.open(info) as f:
            while chunk := f.read(min(CHUNK_BYTES, info.file_size + 1 - n)):
                n += len(chunk)
                _need(n <= info.file_size, info.filename, "decompresses to more than its header declares")
                h.update(chunk)
                chunks.append(chunk)
    except BundleError:
        raise
    except Exception as e:  # BadZipFile (bad CRC), zlib.error, EOFError, OSError, ...
        raise BundleError(f"{info.filename}: cannot be read (truncated or corrupt archive?): "
                          f"{type(e).__name__}: {e}") from None
    _need(n == info.file_size, info.filename, "size differs from the archive's header")
    _need(sha256 is None or h.hexdigest() == sha256, info.filename,
          "SHA-256 differs from the manifest (corrupted or altered)")
    return b"".join(chunks)


def _check_directory(z: zipfile.ZipFile, size: int) -> dict[str, zipfile.ZipInfo]:
    """Member names, duplicates, encryption, compression methods and declared sizes, before anything is read.

    Members may not share bytes (their compressed sizes add up to at most the archive's ``size``) and together
    decompress to at most :data:`MAX_COMPRESSION_RATIO` times their compressed size: what the importer holds in
    memory is then bounded by the size of the upload.
    """
    by_name: dict[str, zipfile.ZipInfo] = {}
    weights = other = compressed = 0
    for info in z.infolist():
        name = info.filename
        _need(_MEMBER.fullmatch(name) is not None, "",
              f"unexpected member {name!r} (allowed: manifest.json, comparisons/<key>.json, "
              f"jobs/<job key>/<meta.json | *.npz | *.json | *.pt>)")
        _need(name not in by_name, "", f"member {name!r} appears twice in the archive")
        _need(not info.flag_bits & 0x1, name, "encrypted members are not supported")
        _need(info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED), name,
              f"compression method {info.compress_type} is not supported (stored or deflated only)")
        record = not name.startswith("jobs/") or name.endswith("/meta.json")
        cap = MAX_JSON_BYTES if record else MAX_JSON_BLOB_BYTES if name.endswith(".json") else MAX_MEMBER_BYTES
        _need(info.file_size <= cap, name, f"larger than {cap} bytes ({info.file_size} once decompressed)")
        _need(info.header_offset + info.compress_size <= size, name, "its data lies beyond the end of the archive")
        compressed += info.compress_size
        if name.endswith(".pt"):
            weights += info.file_size
        else:
            other += info.file_size
        by_name[name] = info
    _need(compressed <= size, "", "members overlap (their compressed sizes add up to more than the archive)")
    _need(weights + other <= MAX_COMPRESSION_RATIO * compressed + RATIO_SLACK_BYTES, "",
          f"the members decompress to {weights + other} bytes from {compressed}: more than "
          f"{MAX_COMPRESSION_RATIO} times (a real bundle's arrays and weights hardly compress; a zip bomb's do)")
    _need(other <= MAX_TOTAL_BYTES, "", f"larger than {MAX_TOTAL_BYTES} bytes once decompressed, weights aside "
                                        f"({other})")
    _need(weights <= MAX_WEIGHT_BYTES, "", f"more than {MAX_WEIGHT_BYTES} bytes of weights ({weights})")
    return by_name


class _Budget:
    """What may still be decompressed (arrays inside the .npz members), against :data:`MAX_TOTAL_BYTES`."""

    def __init__(self, used: int) -> None:
        self.used = used

    def take(self, n: int, name: str) -> None:
        self.used += n
        _need(self.used <= MAX_TOTAL_BYTES, name, f"the bundle decompresses to more than {MAX_TOTAL_BYTES} bytes "
                                                  f"(weights aside; the arrays inside every .npz included)")


class _Counted:
    """A reader that counts the bytes read through it (the .npy header's length)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.count = f, 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.count += len(data)
        return data


class _Array(NamedTuple):
    """What :func:`_check_npy` saw of an array (which it never materialises)."""

    shape: tuple[int, ...]
    dtype: Any
    lo: int | None = None  # an integer array's smallest and largest values (None: empty, or not integers)
    hi: int | None = None


def _check_npy(where: str, z: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Array:
    """One .npy member, streamed: format 1.0/2.0, a plain numeric dtype (no objects, so no pickles), data exactly
    as long as its shape says, finite floats; an integer array's range is noted on the way."""
    import numpy as np
    from numpy.lib import format as npy

    lo = hi = None
    try:
        with z.open(info) as raw:
            f = _Counted(raw)
            version = npy.read_magic(f)  # type: ignore[arg-type]
            _need(version in ((1, 0), (2, 0)), where, f".npy format version {version} is not supported")
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read_header(f)  # type: ignore[arg-type]  # numpy caps the header at 10 000 bytes
            _need(not dtype.hasobject, where, "object arrays (pickles) are not allowed")
            _need(dtype.kind in "biuf" and dtype.fields is None and dtype.subdtype is None, where,
                  f"dtype {dtype} is not a plain numeric type (bool, int, uint or float)")
            left = math.prod(shape) * dtype.itemsize
            _need(f.count + left == info.file_size, where, f"its header's shape {shape} ({left} bytes) does not "
                                                           f"match its size")
            step = max(dtype.itemsize, CHUNK_BYTES - CHUNK_BYTES % dtype.itemsize)
            while left:
                chunk = f.read(min(step, left))
                _need(len(chunk) == min(step, left), where, "truncated array data")
                values = np.frombuffer(chunk, dtype)
                if dtype.kind == "f":
                    _need(bool(np.isfinite(values).all()), where, "holds NaN or infinite values")
                elif dtype.kind in "iu":
                    lo, hi = (min(int(values.min()), lo if lo is not None else int(values.min())),
                              max(int(values.max()), hi if hi is not None else int(values.max())))
                left -= len(chunk)
            _need(f.read(1) == b"", where, "data after the array")
    except BundleError:
        raise
    except Exception as e:  # ValueError (bad header), BadZipFile (bad CRC), zlib.error, EOFError, ...
        raise BundleError(f"{where}: not a plain .npy array ({type(e).__name__}: {e})") from None
    return _Array(tuple(shape), dtype, lo, hi)


def _npz_directory(name: str, data: bytes) -> int:
    """An ``.npz``'s directory: .npy members only, once each, stored or deflated; returns their declared size once
    inflated (nothing is inflated here)."""
    with _zip(io.BytesIO(data), len(data), name, MAX_NPZ_ARRAYS) as z:
        infos = z.infolist()
        seen: set[str] = set()
        for info in infos:
            _need(_NPY.fullmatch(info.filename) is not None, name,
                  f"holds {info.filename!r}: an .npz holds .npy arrays only")
            _need(info.filename not in seen, name, f"holds {info.filename!r} twice")
            seen.add(info.filename)
            _need(not info.flag_bits & 0x1 and info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED), name,
                  f"{info.filename}: encrypted or compressed with an unsupported method")
        declared = sum(i.file_size for i in infos)
        _need(declared <= MAX_MEMBER_BYTES, name, f"arrays too large once decompressed ({declared} bytes, more "
                                                  f"than {MAX_MEMBER_BYTES})")
        return declared


def _check_npz(name: str, data: bytes) -> dict[str, _Array]:
    """An ``.npz`` of plain arrays (see :func:`_check_npy`), its directory checked by :func:`_npz_directory`
    first. Returns what was seen of each array, by array name."""
    with _zip(io.BytesIO(data), len(data), name, MAX_NPZ_ARRAYS) as z:
        return {i.filename.removesuffix(".npy"): _check_npy(f"{name}: {i.filename}", z, i) for i in z.infolist()}


def _check_arrays(name: str, arrays: dict[str, _Array], problem: dict[str, Any]) -> None:
    """What the readers of a blob rely on (:mod:`engine.runner.breakdowns`, the result tables), against the sizes its
    seed's ``problem`` meta declares: a problem's forget, retain and test indices are as many as it says and within
    its splits; logits are 2-D floats with a row per training / test sample and as many columns; a metric
    preparation's index arrays are within the training split; per-sample arrays belong to metrics. (Whether those
    sizes are the dataset's needs the data.)"""
    from engine.metrics import METRICS

    blob = name.rsplit("/", 1)[-1]
    n_train, n_test = problem["n_forget"] + problem["n_retain"], problem["n_test"]
    if blob == PROBLEM_BLOB:
        held_out = n_test + problem["n_val"] if _is_int(problem.get("n_val")) else None
        indices = [("forget_idx", problem["n_forget"], n_train), ("retain_idx", problem["n_retain"], n_train)]
        for key, n, bound in indices + ([("test_idx", n_test, held_out)] if "test_idx" in arrays else []):
            a = arrays.get(key)
            _need(a is not None and a.dtype.kind in "iu" and a.shape == (n,)
                  and (n == 0 or bound is None or (a.lo is not None and a.lo >= 0 and a.hi is not None
                                                   and a.hi < bound)),
                  name, f"{key!r} must be {n} indices" + (f" in [0, {bound})" if bound is not None else "")
                  + " (the problem's meta)")
    elif blob == OUTPUTS_BLOB:
        shapes = {k: a.shape for k, a in arrays.items() if a.dtype.kind == "f" and len(a.shape) == 2}
        _need(set(arrays) == {"logits_train", "logits_test"} and len(shapes) == 2
              and shapes["logits_train"][1] == shapes["logits_test"][1], name,
              "holds logits_train and logits_test, 2-D float arrays with as many columns")
        _need(shapes["logits_train"][0] == n_train and shapes["logits_test"][0] == n_test, name,
              f"logits for {shapes['logits_train'][0]} training and {shapes['logits_test'][0]} test samples; its "
              f"problem has {n_train} and {n_test}")
    elif blob in _INDEX_ARRAYS:  # a metric preparation's arrays of training-split indices (the shadow subset)
        for key in _INDEX_ARRAYS[blob]:
            a = arrays.get(key)
            _need(a is not None and a.dtype.kind in "iu" and len(a.shape) == 1
                  and (a.shape[0] == 0 or (a.lo is not None and a.lo >= 0 and a.hi is not None and a.hi < n_train)),
                  name, f"{key!r} must be indices in [0, {n_train}) (the problem's meta)")
    elif blob == PER_SAMPLE_BLOB:
        for k in arrays:
            _need(k.split(".", 1)[0] in METRICS, name, f"holds {k!r}, not an array of a metric of this engine "
                                                       f"version")


def _check_weights(name: str, data: bytes) -> None:
    """``torch.save`` weights: a zip of uncompressed records (bounded by the member's size), loaded
    ``weights_only=True``; a dict of named tensors."""
    import torch

    with _zip(io.BytesIO(data), len(data), name, MAX_PT_RECORDS) as z:
        _need(all(i.compress_type == zipfile.ZIP_STORED and not i.flag_bits & 0x1 for i in z.infolist()), name,
              "torch.save writes its records uncompressed; compressed or encrypted records are refused")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for anything but tensors and plain containers
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        what = f"it holds a Python object ({found.group(1)})" if found else f"it does not load ({type(e).__name__})"
        raise BundleError(f"{name}: not plain tensor weights: {what}; such a file can run code when loaded, so it "
                          f"is refused. Import a bundle exported without --with-weights, or ask its author to "
                          f"re-export it with 'python -m engine bundle export --with-weights'") from None
    _need(isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()),
          name, "weights must be a dict of named tensors")


# -- records ------------------------------------------------------------------------------------------------------
def _check_manifest(manifest: Any, by_name: dict[str, zipfile.ZipInfo]) -> None:
    name = "manifest.json"
    present = set(by_name) - {name}
    _need(isinstance(manifest, dict) and manifest.get("format") == FORMAT, name, f"not a {FORMAT} manifest")
    version = manifest.get("version")
    _need(version == FORMAT_VERSION, name, f"format version {version!r} is not supported (this engine reads "
                                           f"version {FORMAT_VERSION})")
    ev = manifest.get("engine_version")
    _need(ev == ENGINE_VERSION, name, f"made by engine version {ev!r}, this is {ENGINE_VERSION!r}: its cache keys "
                                      f"would not match")
    extra = sorted(set(manifest) - MANIFEST_FIELDS)
    _need(not extra, name, f"unexpected field {extra[0]!r}" if extra else "")
    _need(_is_num(manifest.get("created")), name, "'created' must be a number")
    _need(isinstance(manifest.get("with_weights"), bool), name, "'with_weights' must be true or false")
    members = manifest.get("members")
    _need(isinstance(members, dict) and all(
        isinstance(v, dict) and set(v) == {"sha256", "size"} and isinstance(v["sha256"], str)
        and re.fullmatch(r"[0-9a-f]{64}", v["sha256"]) and _is_int(v["size"]) for v in members.values()), name,
        "'members' must map names to {sha256, size}")
    extra, missing = sorted(present - set(members)), sorted(set(members) - present)
    _need(not extra, name, f"member {extra[0]!r} is in the archive but not in the manifest" if extra else "")
    _need(not missing, name, f"member {missing[0]!r} is listed but missing from the archive" if missing else "")
    for n, entry in members.items():
        _need(entry["size"] == by_name[n].file_size, n, f"size differs from the manifest ({by_name[n].file_size} "
                                                        f"in the archive's header, {entry['size']} listed)")
    weights = sorted(n for n in members if n.endswith(".pt"))
    _need(manifest["with_weights"] or not weights, weights[0] if weights else "",
          "weights in a bundle whose manifest says it has none")
    comps = manifest.get("comparisons")
    listed = {n.removeprefix("comparisons/").removesuffix(".json") for n in members if n.startswith("comparisons/")}
    _need(isinstance(comps, list) and all(isinstance(c, str) for c in comps) and set(comps) == listed
          and len(comps) == len(listed), name, "'comparisons' must list exactly the comparison members")
    _need(bool(comps), name, "the bundle holds no comparison")


def _check_spec(name: str, raw: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Validate a record's spec exactly as a user's: :meth:`ComparisonSpec.from_json`, :func:`engine.problem.resolve`
    (registries, paradigm, scenario, train overrides against ``TrainConfig``) and every method's config against its
    schema -- what :func:`engine.runner.plan.make_plan` checks before it loads data. Returns (spec, setting,
    configs)."""
    from engine.config import build_config
    from engine.methods import METHODS
    from engine.problem import resolve
    from engine.spec import ComparisonSpec

    _need(isinstance(raw, dict), name, "'spec' must be an object")
    try:
        spec = ComparisonSpec.from_json(raw)
        if not spec.methods:
            raise SpecError("methods", "select at least one method")
        setting = resolve(spec)
        cfgs = {m.name: build_config(METHODS.get(m.name, "methods").config, m.hparam_dict(), f"methods.{m.name}")
                for m in spec.methods}
    except SpecError as e:
        raise BundleError(f"{name}: its spec is invalid: {e.field}: {e.message}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, RecursionError) as e:
        raise BundleError(f"{name}: 'spec' is not a comparison spec ({type(e).__name__}: {e})") from None
    _need(spec.to_json() == raw, name, "'spec' is not in the engine's canonical form (a field left out, added or "
                                       "written differently)")
    return spec, setting, cfgs


@dataclass(frozen=True)
class _PlanShape:
    """What ``record_comparison`` records of a plan: its jobs and rows (``reason=None``: decided by the data)."""

    jobs: list[dict[str, str]]
    rows: list[dict[str, Any]]
    state_jobs: dict[str, dict[int, str]]  # training-time state id -> seed -> its job key
    problem_of: dict[str, str]  # job key -> the key of its seed's problem job


_DATA_REASON = "\0"  # the reason build_graph is given for a state the data makes infeasible (the record's is checked)
# what the importer gives build_graph as the training content of a seed whose problem the bundle does not carry
# (two of them: the keys that differ between the two hold the seed's content and cannot be checked)
_UNKNOWN = ("unknown 0", "unknown 1")


def _plan_shape(spec: Any, setting: Any, cfgs: dict[str, Any], infeasible: frozenset[str], ids: Any) -> _PlanShape:
    """The job list and rows :func:`engine.runner.plan.make_plan` builds for ``spec``, without the data: the
    planner's own data-free half, :func:`engine.runner.plan.build_graph`, with the identities ``ids``
    (:mod:`engine.jobs.identity`: today's from the training content of the bundle's problems, or the identities
    bundles exported before were keyed with).

    The data decides only which training-time states are feasible (``infeasible``: their jobs are left out and the
    methods needing them are not applicable, for a reason written from the data's sizes: ``reason=None`` here) and
    validates the forget set; neither changes a key.
    """
    from engine.runner.plan import build_graph

    graph = build_graph(spec, setting, cfgs, dict.fromkeys(infeasible, _DATA_REASON), ids)
    jobs = [{"key": j.key, "kind": j.kind, "label": j.label} for j in graph.jobs]
    rows = [{"method": r.method, "seed": r.seed, "eval_job": r.eval_job, "status": r.status,
             "reason": None if r.reason == _DATA_REASON else r.reason} for r in graph.rows]
    return _PlanShape(jobs, rows, graph.state_jobs, graph.problem_of)


def _first_difference(what: str, got: list[Any], want: list[Any], same: Any) -> str | None:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if not same(g, w):
            return f"{what}[{i}] is {_short(g)}; the plan recomputed from the spec has {_short(w)}"
    if len(got) != len(want):
        return f"it lists {len(got)} {what}, the plan recomputed from the spec has {len(want)}"
    return None


def _same_row(got: Any, want: dict[str, Any]) -> bool:
    if not isinstance(got, dict) or set(got) != ROW_FIELDS:
        return False
    if want["reason"] is None:  # not applicable for a reason written from the data (an infeasible state)
        return ({k: v for k, v in got.items() if k != "reason"} == {k: v for k, v in want.items() if k != "reason"}
                and isinstance(got["reason"], str) and 0 < len(got["reason"]) <= MAX_TEXT_CHARS)
    return got == want and type(got["seed"]) is int


@dataclass(frozen=True)
class _CheckedRecord:
    """A comparison record that is the plan of its spec.

    ``jobs``: record key -> ``kind``, ``label``, ``problem`` (its seed's problem key), ``store_as`` (the key it is
    imported under: today's key of a job a bundle exported before content identities listed under its old key) and
    ``unverified`` (its key holds the training content of a seed whose problem the bundle does not carry, so it
    could not be checked; no such job may travel). ``record``: the record to store (rewritten when keys moved).
    """

    jobs: dict[str, dict[str, Any]]
    record: dict[str, Any]


def _check_record_spec(name: str, key: str, record: Any) -> tuple[Any, Any, dict[str, Any]]:
    """A comparison record's fields, its spec validated as a user's and its key (no plan yet)."""
    _need(isinstance(record, dict), name, "must be a JSON object")
    fields = set(record)
    _need(fields == RECORD_FIELDS, name, f"fields must be {sorted(RECORD_FIELDS)}, not {sorted(fields)}")
    for field in ("created", "updated"):
        _need(_is_num(record[field]) and record[field] >= 0, name, f"{field!r} must be a time (a number)")
    spec, setting, cfgs = _check_spec(name, record["spec"])
    _need(spec.comparison_key() == key, name, "the spec's comparison key differs from the member name (the spec "
                                              "was altered, or the bundle comes from another engine version)")
    _need(isinstance(record["jobs"], list) and isinstance(record["rows"], list), name,
          "'jobs' and 'rows' must be lists")
    return spec, setting, cfgs


def _listed_keys(jobs: list[Any]) -> set[str]:
    return {j["key"] for j in jobs if isinstance(j, dict) and isinstance(j.get("key"), str)}


def _match(jobs: list[Any], rows: list[Any], shape: _PlanShape, unverified: set[str]
           ) -> tuple[str | None, dict[str, str]]:
    """The first difference between a record's jobs and rows and ``shape`` (``None``: it is that plan), and the
    plan's keys -> the record's. A job in ``unverified`` must only have the planned kind and label and a key of
    that kind; the rows then name it by the record's key."""
    def same_job(got: Any, want: dict[str, str]) -> bool:
        if want["key"] not in unverified:
            return got == want
        return (isinstance(got, dict) and set(got) == {"key", "kind", "label"} and got["kind"] == want["kind"]
                and got["label"] == want["label"] and isinstance(got["key"], str)
                and re.fullmatch(rf"{re.escape(want['kind'])}-{_HEX}", got["key"]) is not None)

    diff = _first_difference("jobs", jobs, shape.jobs, same_job)
    if diff is not None:
        return diff, {}
    keys = [g["key"] for g in jobs]
    if len(set(keys)) != len(keys):
        return "a job is listed twice", {}
    mapping = {w["key"]: g["key"] for g, w in zip(jobs, shape.jobs, strict=True)}
    want_rows = [{**r, "eval_job": mapping.get(r["eval_job"], r["eval_job"])} for r in shape.rows]
    return _first_difference("rows", rows, want_rows, _same_row), mapping


def _shape_for(jobs: list[Any], spec: Any, setting: Any, cfgs: dict[str, Any], ids: Any, known: set[int]
               ) -> tuple[_PlanShape, frozenset[str]]:
    """The plan of ``spec`` with the training-time states the record lists, and the states it leaves out.

    A state the data made infeasible is left out for every seed, so one seed whose keys can be checked (``known``)
    tells; with none, the smallest set of infeasible states whose plan lists the record's kinds and labels."""
    shape = _plan_shape(spec, setting, cfgs, frozenset(), ids)
    if not shape.state_jobs:
        return shape, frozenset()
    seed = next((s for s in spec.seeds if s in known), None)
    if seed is not None:
        listed = _listed_keys(jobs)
        infeasible = frozenset(sid for sid, keys in shape.state_jobs.items() if keys[seed] not in listed)
        return (_plan_shape(spec, setting, cfgs, infeasible, ids) if infeasible else shape), infeasible
    labels = [(j.get("kind"), j.get("label")) if isinstance(j, dict) else None for j in jobs]
    sids = sorted(shape.state_jobs)
    for n in range(len(sids) + 1):
        for combo in itertools.combinations(sids, n):
            other = _plan_shape(spec, setting, cfgs, frozenset(combo), ids) if combo else shape
            if [(j["kind"], j["label"]) for j in other.jobs] == labels:
                return other, frozenset(combo)
    return shape, frozenset()


def _check_plan(name: str, record: dict[str, Any], spec: Any, setting: Any, cfgs: dict[str, Any],
                contents: dict[str, Any]) -> _CheckedRecord:
    """The record's jobs and rows equal the plan recomputed from its spec (:func:`_plan_shape`), entry for entry.

    Today's plan keys each seed's models by their training content: the digests of the seed's ``problem.npz`` in
    the bundle (``contents``: problem key -> :class:`~engine.problem.TrainingContent`). A seed whose problem the
    bundle does not carry (it never ran where the bundle was made) cannot have those keys checked: they need only
    the planned kind and label, and no job of that seed may travel (:func:`read_bundle`). A record that is not
    today's plan may be the plan that a bundle exported before content identities recorded
    (:class:`~engine.jobs.identity.ProblemIdentities`: data-free, checked exactly); its jobs are then imported
    under today's keys and the record is rewritten with them (the same jobs and numbers: only the keys moved).
    """
    from engine.jobs.identity import ContentIdentities, ProblemIdentities
    from engine.problem import TrainingContent

    jobs, rows = record["jobs"], record["rows"]
    problem = {seed: setting.problem_key(seed) for seed in spec.seeds}
    known = {seed for seed, p in problem.items() if p in contents}

    def identities(unknown: str) -> ContentIdentities:
        blank = TrainingContent(unknown, unknown)
        return ContentIdentities(setting, {s: contents[p] if s in known else blank for s, p in problem.items()})

    ids = identities(_UNKNOWN[0])
    shape, infeasible = _shape_for(jobs, spec, setting, cfgs, ids, known)
    unverified: set[str] = set()
    if len(known) < len(problem):  # the keys that move with the content of the seeds without their problem
        other = _plan_shape(spec, setting, cfgs, infeasible, identities(_UNKNOWN[1]))
        unverified = {a["key"] for a, b in zip(shape.jobs, other.jobs, strict=True) if a["key"] != b["key"]}
    diff, mapping = _match(jobs, rows, shape, unverified)
    if diff is None:
        return _CheckedRecord({mapping[j["key"]]: {**j, "key": mapping[j["key"]], "problem": shape.problem_of[j["key"]],
                                                  "store_as": mapping[j["key"]], "unverified": j["key"] in unverified}
                               for j in shape.jobs}, record)
    legacy, infeasible = _shape_for(jobs, spec, setting, cfgs, ProblemIdentities(setting), set(spec.seeds))
    old_diff, _ = _match(jobs, rows, legacy, set())
    _need(old_diff is None, name, f"not the plan of its spec: {diff}")
    # exported before content identities: today's key of every job of a seed whose problem the bundle carries
    today = _plan_shape(spec, setting, cfgs, infeasible, ids)
    _need(len(today.jobs) == len(legacy.jobs), name, "its jobs cannot be filed under today's keys (the plans differ "
                                                     "in length)")
    moved = {a["key"]: b["key"] for a, b in zip(legacy.jobs, today.jobs, strict=True)
             if legacy.problem_of[a["key"]] in contents}
    checked = {j["key"]: {**j, "problem": legacy.problem_of[j["key"]], "store_as": moved.get(j["key"], j["key"]),
                          "unverified": False} for j in legacy.jobs}
    if not moved:  # no problem of it travels: nothing to move
        return _CheckedRecord(checked, record)
    rewritten = {**record, "jobs": [{**j, "key": moved.get(j["key"], j["key"])} for j in jobs],
                 "rows": [{**r, "eval_job": moved.get(r["eval_job"], r["eval_job"])} for r in rows]}
    return _CheckedRecord(checked, rewritten)


def _check_record(name: str, key: str, record: Any, contents: dict[str, Any]) -> _CheckedRecord:
    """A comparison record (``record_comparison``): its spec validated as a user's, its key, and its jobs and rows
    equal to the plan recomputed from the spec (:func:`_check_plan`; ``contents``: problem key -> training content
    of the problems the bundle carries)."""
    spec, setting, cfgs = _check_record_spec(name, key, record)
    return _check_plan(name, record, spec, setting, cfgs, contents)


def _check_meta(name: str, job: dict[str, str], meta: Any, blob_names: set[str]) -> None:
    """The schema of a job's result meta (see :mod:`engine.jobs.model` and ``Store.put``)."""
    from engine.metrics import METRICS

    kind = job["kind"]
    _need(isinstance(meta, dict), name, "must be a JSON object")
    blobs = meta.get("blobs")
    _need(isinstance(blobs, list) and all(isinstance(b, str) for b in blobs) and len(set(blobs)) == len(blobs),
          name, "'blobs' must be a list of distinct names")
    _need(set(blobs) == blob_names, name, f"lists blobs {sorted(blobs)} but the bundle holds {sorted(blob_names)} "
                                          f"for this job")
    _need(_is_num(meta.get("finished_at")), name, "'finished_at' must be a number")
    _need(meta.get("kind", kind) == kind, name, f"'kind' must be {kind!r} (the job key's kind)")
    label = meta.get("label", "")
    _need(isinstance(label, str) and len(label) <= MAX_TEXT_CHARS, name, "'label' must be a (short) string")
    if kind == EVALUATE:
        metrics, reasons = meta.get("metrics"), meta.get("reasons", {})
        _need(isinstance(metrics, dict), name, "'metrics' must map metric names to finite numbers or null")
        unknown = sorted(set(metrics) - set(METRICS.keys()))
        _need(not unknown, name, f"metric {unknown[0]!r} is unknown to this engine version" if unknown else "")
        missing = sorted(set(METRICS.keys()) - set(metrics))
        _need(not missing, name, f"metric {missing[0]!r} is missing" if missing else "")
        for k, v in metrics.items():
            _need(v is None or _is_num(v), name, f"'metrics' must map metric names to finite numbers or null "
                                                 f"({k}: {_short(v, 40)})")
            lo, hi = METRICS.get(k).range or (-math.inf, math.inf)
            _need(v is None or lo - _RANGE_SLACK <= v <= hi + _RANGE_SLACK, name,
                  f"metric {k} = {v!r} is outside its range [{lo}, {hi}]")
        _need(isinstance(reasons, dict) and all(
            isinstance(k, str) and metrics.get(k, 0) is None and isinstance(v, str) and len(v) <= MAX_TEXT_CHARS
            for k, v in reasons.items()), name, "'reasons' must map metrics without a value to strings")
        _need(blob_names == {OUTPUTS_BLOB, PER_SAMPLE_BLOB}, name, f"an evaluation carries {OUTPUTS_BLOB} and "
                                                                   f"{PER_SAMPLE_BLOB}")
    elif kind in PREPARATIONS:  # a metric's preparation job (e.g. PGU's shadow attack: XGBoost JSON + arrays)
        prep = PREPARATIONS[kind]
        optional = [b for b in prep.blobs if b not in prep.required_blobs]
        _need(_is_num(meta.get("seconds")) and meta["seconds"] >= 0, name, "'seconds' must be a duration")
        _need(set(prep.required_blobs) <= blob_names <= set(prep.blobs), name,
              f"a {kind} job carries {' and '.join(prep.required_blobs)}"
              + (f" and optionally {', '.join(optional)}" if optional else ""))
    elif kind == PROBLEM:
        for field in ("n_forget", "n_retain", "n_test"):
            _need(_is_int(meta.get(field)) and meta[field] >= 0, name, f"{field!r} must be a count")
        for field in ("n_val", "n_requests"):
            _need(field not in meta or (_is_int(meta[field]) and meta[field] >= 0), name, f"{field!r} must be a count")
        for field in ("forget_classes", "touched_classes"):  # read by engine.runner.breakdowns
            v = meta.get(field, [])
            _need(isinstance(v, list) and all(_is_int(c) and c >= 0 for c in v), name,
                  f"{field!r} must be a list of class indices")
        _need(blob_names == {PROBLEM_BLOB}, name, f"a problem carries {PROBLEM_BLOB}")
    else:
        _need(_is_num(meta.get("seconds")) and meta["seconds"] >= 0, name, "'seconds' must be a duration")
        _need(blob_names == {STATE_BLOB}, name, f"a model job carries {STATE_BLOB}")


def _training_content(where: str, blob: bytes) -> Any:
    """The training content (:func:`engine.problem.training_content`) of a problem's ``problem.npz``, already
    checked to hold plain arrays: the supervision digests today's model keys hold."""
    import numpy as np

    from engine.problem import training_content

    names = ("observed_labels", "candidates", "labelled", "retain_idx")
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        missing = [n for n in names if n not in z.files]
        _need(not missing, where, f"lacks {missing[0]!r} (the supervision its models' keys hold)" if missing else "")
        arrays = [z[n] for n in names]
    try:
        return training_content(*arrays)
    except ValueError as e:
        raise BundleError(f"{where}: {e}") from None


def _merge_jobs(jobs: dict[str, dict[str, Any]], name: str, checked: _CheckedRecord) -> None:
    """Add a checked record's jobs to ``jobs`` (key -> kind, label, problems, store_as, unverified): a job that
    several comparisons share (an original is shared by every scenario) may belong to several problems; a job whose
    key could not be checked belongs to its record alone."""
    for key, j in checked.jobs.items():
        have = jobs.get(key)
        if have is None:
            jobs[key] = {**j, "problems": {j["problem"]}}
            continue
        _need(not (j["unverified"] or have["unverified"]), name,
              f"lists job {key}, whose key holds the content of a problem the bundle does not carry, and so does "
              f"another comparison")
        _need(have["kind"] == j["kind"] and have["store_as"] == j["store_as"], name,
              f"lists job {key} as another comparison of the bundle does not")
        have["problems"].add(j["problem"])


def read_bundle(source: BundleSource) -> BundleContents:
    """Read and validate a bundle completely (nothing is written); raises :class:`BundleError`.

    Order: the archive's directory (sizes from the headers), the manifest, every comparison record's spec (small and
    capped), the blobs' sizes against the budget (every ``.npz`` from its directory, before any array is inflated),
    the problems of the records' seeds (meta and arrays: today's model keys hold digests of their supervision), the
    records' plans, every other job's meta, and the other blobs, streamed.
    """
    with _open_zip(source) as (z, size):
        by_name = _check_directory(z, size)
        _need("manifest.json" in by_name, "", "no manifest.json (not a results bundle)")
        manifest = _json("manifest.json", _read(z, by_name["manifest.json"]))
        _check_manifest(manifest, by_name)
        entries: dict[str, dict[str, Any]] = manifest["members"]

        def read(name: str) -> bytes:
            return _read(z, by_name[name], entries[name]["sha256"])

        records: dict[str, tuple[str, str, dict[str, Any], Any, Any, dict[str, Any]]] = {}
        for name in sorted(n for n in entries if n.startswith("comparisons/")):
            raw = read(name)
            key = name.removeprefix("comparisons/").removesuffix(".json")
            record = _json(name, raw)
            records[key] = (name, raw.decode(), record, *_check_record_spec(name, key, record))
        files: dict[str, set[str]] = {}
        for name in entries:
            m = _MEMBER.fullmatch(name)
            if m and m.group(1):
                files.setdefault(m.group(1), set()).add(m.group(2))
        # the blobs: every .npz's arrays are counted from its directory before any array is inflated
        blobs = {key: {n: read(f"jobs/{key}/{n}") for n in sorted(names - {"meta.json"})}
                 for key, names in sorted(files.items())}
        budget = _Budget(sum(i.file_size for n, i in by_name.items() if not n.endswith(".pt")))
        for key, members in blobs.items():
            for blob_name, blob in members.items():
                if blob_name.endswith(".npz"):
                    budget.take(_npz_directory(f"jobs/{key}/{blob_name}", blob), f"jobs/{key}/{blob_name}")
        metas: dict[str, str] = {}
        parsed: dict[str, dict[str, Any]] = {}

        def read_meta(key: str, kind: str) -> None:
            where = f"jobs/{key}"
            _need("meta.json" in files[key], where, "has blobs but no meta.json")
            raw = read(f"{where}/meta.json")
            parsed[key] = _json(f"{where}/meta.json", raw)
            _check_meta(f"{where}/meta.json", {"kind": kind}, parsed[key], files[key] - {"meta.json"})
            metas[key] = raw.decode()

        # the problems of the records' seeds first: the training content their models' keys hold
        contents: dict[str, Any] = {}
        problems = {r[4].problem_key(seed) for r in records.values() for seed in r[3].seeds}
        for key in sorted(problems & set(files)):
            read_meta(key, PROBLEM)
            where = f"jobs/{key}/{PROBLEM_BLOB}"
            _check_arrays(where, _check_npz(where, blobs[key][PROBLEM_BLOB]), parsed[key])
            contents[key] = _training_content(where, blobs[key][PROBLEM_BLOB])
        comparisons: dict[str, str] = {}
        jobs: dict[str, dict[str, Any]] = {}
        for key, (name, raw_text, record, spec, setting, cfgs) in records.items():
            checked = _check_plan(name, record, spec, setting, cfgs, contents)
            _merge_jobs(jobs, name, checked)
            comparisons[key] = raw_text if checked.record is record else json.dumps(checked.record)
        for key in sorted(files):
            where = f"jobs/{key}"
            _need(key in jobs, where, "is not a job of any comparison in the bundle")
            kind = jobs[key]["kind"]
            _need(manifest["with_weights"] or kind in LIGHT_KINDS, where,
                  f"a {kind} job travels only in a bundle made with weights")
            if key not in parsed:
                read_meta(key, kind)
        for key in parsed:
            job = jobs[key]
            _need(job["kind"] == PROBLEM or any(p in parsed for p in job["problems"]), f"jobs/{key}",
                  f"travels without the problem job of its seed ({min(job['problems'])})")
        for key, members in blobs.items():
            for blob_name, blob in members.items():
                where = f"jobs/{key}/{blob_name}"
                if key in contents:  # a problem: checked above
                    continue
                if blob_name.endswith(".npz"):
                    problem = min(p for p in jobs[key]["problems"] if p in parsed)
                    _check_arrays(where, _check_npz(where, blob), parsed[problem])
                elif blob_name.endswith(".json"):
                    _json(where, blob, MAX_JSON_BLOB_BYTES, tree=False)  # parses, no NaN/Infinity
                else:
                    _check_weights(where, blob)
    results: dict[str, tuple[str, dict[str, bytes]]] = {}
    for key in blobs:  # under today's keys (a job exported before content identities moves; shared ones once)
        results.setdefault(jobs[key]["store_as"], (metas[key], blobs[key]))
    return BundleContents(manifest, comparisons, results)


# -- import -----------------------------------------------------------------------------------------------------
def bundle_sha256(source: BundleSource) -> str:
    """SHA-256 of the bundle's bytes (streamed from a path or a file object, which is rewound afterwards)."""
    h = hashlib.sha256()
    if isinstance(source, bytes | bytearray | memoryview):
        h.update(bytes(source))
        return h.hexdigest()
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as e:
            raise BundleError(f"cannot read {os.fspath(source)}: {e.strerror or e}") from None
        return h.hexdigest()
    pos = source.tell()
    source.seek(0)
    for chunk in iter(lambda: source.read(1 << 20), b""):
        h.update(chunk)
    source.seek(pos)
    return h.hexdigest()


def import_bundle(cache_dir: Path | str, path: BundleSource) -> list[str]:
    """Validate the bundle at ``path`` (a path, bytes or binary file) and add it to the store at ``cache_dir``
    as *imported* (DESIGN.md "provenance").

    Everything is checked before the store is opened; then every job result and comparison record is
    written in one transaction into the store's imported key space, each comparison with its provenance
    (the bundle's SHA-256 and the import time). Imported results never satisfy a local job: a local comparison
    that needs them computes its own. Entries already imported are kept. Returns the bundle's comparison keys.
    """
    from engine.store import Store

    contents = read_bundle(path)  # first: a path that is not a bounded regular file is never read whole
    digest = bundle_sha256(path)
    store = Store(cache_dir)
    try:
        results = {k: v for k, v in contents.results.items() if store.imported_result(k) is None}
        comparisons = {k: v for k, v in contents.comparisons.items() if store.imported_comparison(k) is None}
        store.put_imported(results, comparisons, {"bundle_sha256": digest, "imported_at": time.time()})
    finally:
        store.close()
    return list(contents.manifest["comparisons"])
