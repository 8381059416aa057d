"""Results bundles: portable zip archives of comparisons, shared between caches without pickles.

A bundle holds, for every exported comparison, its recorded spec and plan (``store.comparison``) and,
for every finished job of the plan, the store's meta JSON (byte for byte) and its array blobs
(``.npz`` written with ``allow_pickle=False``). Model weights (``state.pt``) are left out unless
``with_weights`` is asked for; they are then ``torch.save`` tensors that load with ``weights_only=True``.
Without weights only the ``problem`` and ``evaluate`` jobs travel -- everything the result tables,
the charts and the CSV need; :func:`engine.runner.run.needed_jobs` then knows the models are not needed
to show a finished comparison, and a new method added later retrains them.

Layout::

    manifest.json                        format, version, engine version, comparisons, members (sha256, size)
    comparisons/<comparison key>.json    the comparison record
    jobs/<job key>/meta.json             the job's result meta, as stored
    jobs/<job key>/<blob>                problem.npz | outputs.npz | per_sample.npz | state.pt

:func:`import_bundle` validates everything first -- manifest, format and engine versions, member names
(a fixed pattern: no path traversal), sizes (capped, before and while decompressing), SHA-256 of every
member, the JSON schema of every record, ``.npz`` loadable with ``allow_pickle=False``, weights with
``weights_only=True``, spec keys recomputed from the specs -- and only then writes to the store, in one
transaction. A bad bundle raises :class:`BundleError` (a :class:`~engine.errors.SpecError` naming
``bundle``) and leaves the store untouched (its directory is not even created).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engine.errors import SpecError
from engine.version import ENGINE_VERSION

FORMAT = "unlearning-workbench-bundle"
FORMAT_VERSION = 1
MAX_MEMBERS = 100_000
MAX_MEMBER_BYTES = 1 << 30  # one member (also: an .npz's arrays once decompressed)
MAX_TOTAL_BYTES = 4 << 30  # the whole archive, decompressed
MAX_JSON_BYTES = 16 << 20

JOB_KINDS = ("problem", "original", "train_state", "retrain", "unlearn", "shadow", "evaluate")
LIGHT_KINDS = ("problem", "shadow", "evaluate")  # jobs whose blobs are arrays / JSON only: exported by default
SHADOW_BLOBS = {"attacker.json", "shadow.npz"}  # PGU's shadow attack: XGBoost JSON + arrays (a failed one: npz only)
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
    if not cache_dir.is_dir():
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
                blobs = {name: store.blob(jkey, name) for name in json.loads(meta).get("blobs", [])}
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
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _json(name: str, data: bytes) -> Any:
    if len(data) > MAX_JSON_BYTES:
        raise BundleError(f"{name}: larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise BundleError(f"{name}: not valid JSON ({e})") from None


def _need(cond: bool, name: str, what: str) -> None:
    """Raise :class:`BundleError` ``"<name>: <what>"`` (just ``what`` for the archive as a whole) unless ``cond``."""
    if not cond:
        raise BundleError(f"{name}: {what}" if name else what)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_meta(name: str, key: str, meta: Any, blob_names: set[str]) -> None:
    """The schema of a job's result meta (see :mod:`engine.runner.jobs` and ``Store.put``)."""
    kind = key.split("-", 1)[0]
    _need(isinstance(meta, dict), name, "must be a JSON object")
    blobs = meta.get("blobs")
    _need(isinstance(blobs, list) and all(isinstance(b, str) for b in blobs) and len(set(blobs)) == len(blobs),
          name, "'blobs' must be a list of distinct names")
    _need(set(blobs) == blob_names, name, f"lists blobs {sorted(blobs)} but the bundle holds {sorted(blob_names)} "
                                          f"for this job")
    _need(_is_num(meta.get("finished_at")), name, "'finished_at' must be a number")
    _need(meta.get("kind", kind) == kind, name, f"'kind' must be {kind!r} (the job key's kind)")
    _need(isinstance(meta.get("label", ""), str), name, "'label' must be a string")
    if kind == "evaluate":
        metrics, reasons = meta.get("metrics"), meta.get("reasons", {})
        _need(isinstance(metrics, dict) and all(isinstance(k, str) and (v is None or _is_num(v))
                                                for k, v in metrics.items()),
              name, "'metrics' must map metric names to finite numbers or null")
        _need(isinstance(reasons, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in reasons.items()),
              name, "'reasons' must map metric names to strings")
        _need(blob_names == {"outputs.npz", "per_sample.npz"}, name, "an evaluation carries outputs.npz and "
                                                                     "per_sample.npz")
    elif kind == "shadow":
        _need(_is_num(meta.get("seconds")), name, "'seconds' must be a number")
        _need("shadow.npz" in blob_names and blob_names <= SHADOW_BLOBS, name,
              "a shadow job carries shadow.npz and optionally attacker.json")
    elif kind == "problem":
        for field in ("n_forget", "n_retain", "n_test"):
            _need(_is_int(meta.get(field)), name, f"{field!r} must be an integer")
        _need(blob_names == {"problem.npz"}, name, "a problem carries problem.npz")
    else:
        _need(_is_num(meta.get("seconds")), name, "'seconds' must be a number")
        _need(blob_names == {"state.pt"}, name, "a model job carries state.pt")


def _check_record(name: str, key: str, record: Any) -> set[str]:
    """The schema of a comparison record (``record_comparison``); returns the job keys it lists."""
    from engine.spec import ComparisonSpec

    _need(isinstance(record, dict), name, "must be a JSON object")
    for field in ("created", "updated"):
        _need(_is_num(record.get(field)), name, f"{field!r} must be a number")
    _need(isinstance(record.get("spec"), dict), name, "'spec' must be an object")
    try:
        spec = ComparisonSpec.from_json(record["spec"])
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise BundleError(f"{name}: 'spec' is not a comparison spec ({e})") from None
    _need(spec.comparison_key() == key, name, "the spec's comparison key differs from the member name (the spec "
                                              "was altered, or the bundle comes from another engine version)")
    jobs = record.get("jobs")
    _need(isinstance(jobs, list) and all(isinstance(j, dict) and isinstance(j.get("key"), str)
                                         and _JOB_KEY.fullmatch(j["key"]) and j.get("kind") == j["key"].split("-")[0]
                                         and isinstance(j.get("label"), str) for j in jobs),
          name, "'jobs' must list {key, kind, label} with valid job keys")
    keys = {j["key"] for j in jobs}
    rows = record.get("rows")
    _need(isinstance(rows, list) and all(
        isinstance(r, dict) and isinstance(r.get("method"), str) and _is_int(r.get("seed"))
        and (r.get("eval_job") is None or r.get("eval_job") in keys) and isinstance(r.get("status"), str)
        and isinstance(r.get("reason"), str) for r in rows), name,
        "'rows' must list {method, seed, eval_job, status, reason} whose eval_job is one of 'jobs'")
    return keys


def _check_npz(name: str, data: bytes) -> None:
    """An ``.npz`` of plain arrays: no pickles, no member that decompresses beyond the caps."""
    from engine.store import arrays_from_bytes

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            _need(all(i.filename.endswith(".npy") for i in infos), name, "an .npz holds .npy arrays only")
            _need(sum(i.file_size for i in infos) <= MAX_MEMBER_BYTES, name, "arrays too large once decompressed")
        arrays = arrays_from_bytes(data)
    except BundleError:
        raise
    except Exception as e:  # ValueError for object (pickled) arrays, BadZipFile, EOFError, ...
        raise BundleError(f"{name}: not a pickle-free .npz ({type(e).__name__}: {e})") from None
    _need(all(a.dtype != object for a in arrays.values()), name, "object arrays are not allowed")


def _check_weights(name: str, data: bytes) -> None:
    import torch

    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for anything but tensors and plain containers
        raise BundleError(f"{name}: does not load with weights_only=True ({type(e).__name__}: {e})") from None
    _need(isinstance(state, dict), name, "weights must be a dict")


def _open_zip(source: BundleSource) -> zipfile.ZipFile:
    try:
        if isinstance(source, bytes | bytearray):
            return zipfile.ZipFile(io.BytesIO(bytes(source)))
        if hasattr(source, "read"):
            return zipfile.ZipFile(source)  # type: ignore[arg-type]
        path = Path(source)  # type: ignore[arg-type]
        if not path.is_file():
            raise BundleError(f"no bundle file at {path}")
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise BundleError(f"not a readable zip archive (truncated or corrupt?): {e}") from None


def _read(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with z.open(info) as f:
            data = f.read(info.file_size + 1)  # a lying size header cannot make us read more than declared
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as e:
        raise BundleError(f"{info.filename}: cannot be read (truncated or corrupt archive?): {e}") from None
    _need(len(data) == info.file_size, info.filename, "size differs from the archive's header")
    return data


def read_bundle(source: BundleSource) -> BundleContents:
    """Read and validate a bundle completely (nothing is written); raises :class:`BundleError`."""
    with _open_zip(source) as z:
        try:
            infos = z.infolist()
        except Exception as e:  # pragma: no cover - zipfile reads the directory on open
            raise BundleError(f"cannot list the archive: {e}") from None
        _need(len(infos) <= MAX_MEMBERS, "", f"more than {MAX_MEMBERS} members")
        names = [i.filename for i in infos]
        _need(len(set(names)) == len(names), "", "a member name appears twice")
        for info in infos:
            _need(_MEMBER.fullmatch(info.filename) is not None, "",
                  f"unexpected member {info.filename!r} (allowed: manifest.json, comparisons/<key>.json, "
                  f"jobs/<job key>/<meta.json | *.npz | *.json | *.pt>)")
            _need(not info.flag_bits & 0x1, info.filename, "encrypted members are not supported")
            _need(info.file_size <= MAX_MEMBER_BYTES, info.filename, f"larger than {MAX_MEMBER_BYTES} bytes")
        _need(sum(i.file_size for i in infos) <= MAX_TOTAL_BYTES, "", f"larger than {MAX_TOTAL_BYTES} bytes")
        by_name = {i.filename: i for i in infos}
        _need("manifest.json" in by_name, "", "no manifest.json (not a results bundle)")
        manifest = _json("manifest.json", _read(z, by_name["manifest.json"]))
        _check_manifest(manifest, set(by_name) - {"manifest.json"})
        data = {}
        for name, entry in manifest["members"].items():
            blob = _read(z, by_name[name])
            _need(len(blob) == entry["size"], name, "size differs from the manifest")
            _need(_sha256(blob) == entry["sha256"], name, "SHA-256 differs from the manifest (corrupted or altered)")
            data[name] = blob
    return _contents(manifest, data)


def _check_manifest(manifest: Any, present: set[str]) -> None:
    name = "manifest.json"
    _need(isinstance(manifest, dict) and manifest.get("format") == FORMAT, name, f"not a {FORMAT} manifest")
    version = manifest.get("version")
    _need(version == FORMAT_VERSION, name, f"format version {version!r} is not supported (this engine reads "
                                           f"version {FORMAT_VERSION})")
    ev = manifest.get("engine_version")
    _need(ev == ENGINE_VERSION, name, f"made by engine version {ev!r}, this is {ENGINE_VERSION!r}: its cache keys "
                                      f"would not match")
    members = manifest.get("members")
    _need(isinstance(members, dict) and all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", v["sha256"])
        and _is_int(v.get("size")) for v in members.values()), name, "'members' must map names to {sha256, size}")
    extra, missing = sorted(present - set(members)), sorted(set(members) - present)
    _need(not extra, name, f"member {extra[0]!r} is in the archive but not in the manifest" if extra else "")
    _need(not missing, name, f"member {missing[0]!r} is listed but missing from the archive" if missing else "")
    comps = manifest.get("comparisons")
    listed = {n.removeprefix("comparisons/").removesuffix(".json") for n in members if n.startswith("comparisons/")}
    _need(isinstance(comps, list) and set(comps) == listed and len(comps) == len(listed), name,
          "'comparisons' must list exactly the comparison members")


def _contents(manifest: dict[str, Any], data: dict[str, bytes]) -> BundleContents:
    comparisons: dict[str, str] = {}
    listed_jobs: set[str] = set()
    for name, raw in data.items():
        if name.startswith("comparisons/"):
            key = name.removeprefix("comparisons/").removesuffix(".json")
            listed_jobs |= _check_record(name, key, _json(name, raw))
            comparisons[key] = raw.decode()
    files: dict[str, dict[str, bytes]] = {}
    for name, raw in data.items():
        m = _MEMBER.fullmatch(name)
        if m and m.group(1):
            files.setdefault(m.group(1), {})[m.group(2)] = raw
    results: dict[str, tuple[str, dict[str, bytes]]] = {}
    for key, members in sorted(files.items()):
        _need(key in listed_jobs, f"jobs/{key}", "is not a job of any comparison in the bundle")
        _need("meta.json" in members, f"jobs/{key}", "has blobs but no meta.json")
        meta_raw = members.pop("meta.json")
        _check_meta(f"jobs/{key}/meta.json", key, _json(f"jobs/{key}/meta.json", meta_raw), set(members))
        for blob_name, blob in members.items():
            where = f"jobs/{key}/{blob_name}"
            if blob_name.endswith(".npz"):
                _check_npz(where, blob)
            elif blob_name.endswith(".json"):
                _json(where, blob)  # parses, no NaN/Infinity
            else:
                _check_weights(where, blob)
        results[key] = (meta_raw.decode(), members)
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

    digest = bundle_sha256(path)
    contents = read_bundle(path)
    store = Store(cache_dir)
    try:
        results = {k: v for k, v in contents.results.items() if store.imported_result(k) is None}
        comparisons = {k: v for k, v in contents.comparisons.items() if store.imported_comparison(k) is None}
        store.put_imported(results, comparisons, {"bundle_sha256": digest, "imported_at": time.time()})
    finally:
        store.close()
    return list(contents.manifest["comparisons"])
