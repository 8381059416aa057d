"""Durable results store on diskcache (DESIGN.md "Store").

Layout (string keys, values are ``bytes`` or JSON ``str`` only -- never pickles of our objects):

* ``result/<job key>``   JSON meta of a finished job (written last, in the same transaction as its blobs)
* ``blob/<job key>/<name>`` artifact bytes (``torch.save`` state dicts, ``.npz`` arrays)
* ``lock/<job key>``     claim of a running job: ``{"pid", "host", "since"}``
* ``progress/<job key>`` latest progress event of a job (readable by any process)
* ``comparison/<key>``   a comparison's spec and job plan (History page)
* ``answer/<key>``       a finished comparison's tables (CSV text), served warm without torch (never exported)
* ``tuning/<key>``       a tuner study of one method in one setting: its trials (params, values per tuning seed,
  state), appended as each trial ends (``engine.tuning``; never exported)
* ``flag/<name>``        small markers shared between processes (e.g. a Ray run's cancellation flag)
* ``annotation/<key>``   a user's name, tags and note of comparison ``<key>`` (``annotations.py``; never
  exported, never part of the record)
* ``imported/result/<job key>``, ``imported/blob/<job key>/<name>``, ``imported/comparison/<key>``: results
  and comparisons read from a results bundle, with their provenance (bundle SHA-256, import time) in the
  comparison record. A separate key space: :meth:`Store.has` / :meth:`Store.result` / :meth:`Store.blob`
  never see them, so an imported result can never satisfy a local job (DESIGN.md "provenance"). Reading
  them takes :meth:`Store.with_imported`, a read-only view whose rows are marked ``source="imported"``.

A job's result exists only once all of its blobs are in (one transaction): an interrupted job leaves
nothing but, at most, a stale lock, which is broken when its process is gone. A claim identifies its process
by host, PID, the process's start time and the machine's boot id, so a restarted server that gets the same PID
(PID 1 in a container) recognises its predecessor's claim as dead.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import diskcache
import numpy as np

from engine.errors import RunFailed

if TYPE_CHECKING:  # torch is imported where weights are read or written: a warm answer never needs it
    import torch

CACHE_DIR_ENV = "UNLEARN_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$UNLEARN_CACHE_DIR`` or ``./.cache/unlearn``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or ".cache/unlearn").expanduser()


@dataclass(frozen=True)
class JobResult:
    """A finished job: its JSON meta and the names of its blobs; ``source`` says where it came from."""

    key: str
    meta: dict[str, Any]
    source: str = "computed"  # "computed" (by this engine, locally or on its Ray cluster) | "imported"


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is no zombie (a killed worker not yet reaped by its parent holds
    its PID but computes nothing, so its claim may be broken)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _read_text(f"/proc/{pid}/stat")
    if stat and ")" in stat:
        state = stat.rsplit(")", 1)[1].split()[:1]
        if state == ["Z"]:
            return False
    return True


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22), or ``""``."""
    stat = _read_text(f"/proc/{pid}/stat")
    if not stat:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else ""


def boot_id() -> str:
    """This machine's boot id (``/proc/sys/kernel/random/boot_id``), or ``""`` where there is none."""
    return _read_text("/proc/sys/kernel/random/boot_id")


def claim_owner() -> dict[str, Any]:
    """What identifies this process in a claim: host, PID, process start time, boot id, claim time."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "start": process_start(pid), "boot": boot_id(),
            "since": time.time()}


def owner_alive(owner: dict[str, Any]) -> bool | None:
    """Whether the claim's process still runs: ``None`` when it cannot be told (another host)."""
    if owner.get("host") != socket.gethostname():
        return None
    if owner.get("boot") and boot_id() and owner["boot"] != boot_id():
        return False  # the machine rebooted since
    pid = int(owner.get("pid", -1))
    if pid <= 0 or not _pid_alive(pid):
        return False
    start = owner.get("start")
    return not (start and process_start(pid) and process_start(pid) != start)  # same PID, another process


class Store:
    """Process- and thread-safe results store in a private directory (mode 0700)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).expanduser().resolve()
        if not self.directory.exists():  # a new store is private; an existing directory's mode is the owner's
            self.directory.mkdir(parents=True, mode=0o700)
            os.chmod(self.directory, 0o700)  # mkdir's mode is masked by the umask
        self.cache = diskcache.Cache(str(self.directory), timeout=60, size_limit=2**40, eviction_policy="none")

    # -- results -------------------------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        """Whether job ``key`` finished."""
        return f"result/{key}" in self.cache

    def result(self, key: str) -> JobResult | None:
        """The finished job's meta, or ``None``."""
        raw = self.cache.get(f"result/{key}")
        return None if raw is None else JobResult(key, json.loads(raw))

    def blob(self, key: str, name: str) -> bytes:
        """An artifact of a finished job."""
        raw = self.cache.get(f"blob/{key}/{name}")
        if raw is None:
            raise KeyError(f"no blob {name!r} for job {key}")
        return bytes(raw)

    def put(self, key: str, meta: dict[str, Any], blobs: dict[str, bytes]) -> None:
        """Record a finished job atomically: blobs first, meta last, in one transaction."""
        meta = {**meta, "blobs": sorted(blobs), "finished_at": time.time()}
        with self.cache.transact():
            for name, data in blobs.items():
                self.cache.set(f"blob/{key}/{name}", data)
            self.cache.set(f"result/{key}", json.dumps(meta))

    def delete(self, key: str) -> None:
        """Forget a job's result and blobs."""
        res = self.result(key)
        with self.cache.transact():
            for name in (res.meta.get("blobs", []) if res else []):
                self.cache.delete(f"blob/{key}/{name}")
            self.cache.delete(f"result/{key}")

    # -- claims ---------------------------------------------------------------------------------------------
    def claim(self, key: str) -> bool:
        """Try to become the one process computing ``key``; stale claims of dead processes are broken (a claim
        of this host whose PID is gone, runs another process, or predates a reboot)."""
        me = claim_owner()
        if self.cache.add(f"lock/{key}", json.dumps(me)):
            return True
        raw = self.cache.get(f"lock/{key}")
        if raw is None:
            return self.cache.add(f"lock/{key}", json.dumps(me))
        owner = json.loads(raw)
        if owner_alive(owner) is False:
            with self.cache.transact():
                if self.cache.get(f"lock/{key}") == raw:
                    self.cache.set(f"lock/{key}", json.dumps(me))
                    return True
        return False

    def release(self, key: str) -> None:
        """Drop the claim on ``key``."""
        self.cache.delete(f"lock/{key}")

    def claimed(self, key: str) -> bool:
        return f"lock/{key}" in self.cache

    def claim_info(self, key: str) -> dict[str, Any] | None:
        """Who claims ``key`` (host, pid, start, boot, since), or ``None``."""
        raw = self.cache.get(f"lock/{key}")
        return None if raw is None else json.loads(raw)

    # -- progress -------------------------------------------------------------------------------------------
    def set_progress(self, key: str, event: dict[str, Any]) -> None:
        """Publish the latest progress event of job ``key``."""
        self.cache.set(f"progress/{key}", json.dumps({**event, "time": time.time()}))

    def progress(self, key: str) -> dict[str, Any] | None:
        raw = self.cache.get(f"progress/{key}")
        return None if raw is None else json.loads(raw)

    # -- comparisons ----------------------------------------------------------------------------------------
    def put_comparison(self, key: str, record: dict[str, Any]) -> None:
        """Save a comparison's spec and plan (History page)."""
        self.cache.set(f"comparison/{key}", json.dumps(record))

    def comparison(self, key: str) -> dict[str, Any] | None:
        raw = self.cache.get(f"comparison/{key}")
        return None if raw is None else json.loads(raw)

    def _records(self, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every JSON record stored under ``prefix``, as ``(key without the prefix, record)``."""
        for k in list(self.cache.iterkeys()):
            if isinstance(k, str) and k.startswith(prefix):
                raw = self.cache.get(k)
                if raw is not None:
                    yield k.removeprefix(prefix), json.loads(raw)

    def comparisons(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every saved comparison, as ``(key, record)``."""
        return self._records("comparison/")

    # -- tuner studies ----------------------------------------------------------------------------------------
    def put_study(self, key: str, record: dict[str, Any]) -> None:
        """Save tuner study ``key`` (its method, setting, space and the trials so far; ``engine.tuning``)."""
        self.cache.set(f"tuning/{key}", json.dumps(record))

    def study(self, key: str) -> dict[str, Any] | None:
        raw = self.cache.get(f"tuning/{key}")
        return None if raw is None else json.loads(raw)

    # -- answers: a finished comparison's tables, served without recomputing (or importing torch) --------------
    def put_answer(self, key: str, answer: dict[str, Any]) -> None:
        """Save the tables of finished comparison ``key``: ``{"wide_csv", "summary_csv", "evals"}`` (the
        evaluation jobs they were read from)."""
        self.cache.set(f"answer/{key}", json.dumps(answer))

    def answer(self, key: str) -> dict[str, Any] | None:
        """The saved tables of comparison ``key``, or ``None`` when there are none or an evaluation they were read
        from is no longer stored (then the tables must be rebuilt)."""
        raw = self.cache.get(f"answer/{key}")
        if raw is None:
            return None
        rec = json.loads(raw)
        return rec if all(self.has(k) for k in rec.get("evals", [])) else None

    # -- raw entries (bundles) and flags -------------------------------------------------------------------
    def result_json(self, key: str) -> str | None:
        """The finished job's meta exactly as stored (JSON text), or ``None``."""
        raw = self.cache.get(f"result/{key}")
        return None if raw is None else str(raw)

    def comparison_json(self, key: str) -> str | None:
        """A saved comparison's record exactly as stored (JSON text), or ``None``."""
        raw = self.cache.get(f"comparison/{key}")
        return None if raw is None else str(raw)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every store key starting with ``prefix`` (e.g. ``"result/"``), in no particular order."""
        for k in list(self.cache.iterkeys()):
            if isinstance(k, str) and k.startswith(prefix):
                yield k

    # -- imported results (results bundles): a separate key space ----------------------------------------------
    def put_imported(self, results: dict[str, tuple[str, dict[str, bytes]]], comparisons: dict[str, str],
                     provenance: dict[str, Any]) -> None:
        """Write a validated bundle's entries as *imported*, in one transaction: job metas and blobs unchanged
        (under ``imported/``), and each comparison record with ``provenance`` (bundle SHA-256, import time)
        added as ``record["imported"]``. Local results are never touched."""
        with self.cache.transact():
            for key, (meta_json, blobs) in results.items():
                for name, data in blobs.items():
                    self.cache.set(f"imported/blob/{key}/{name}", bytes(data))
                self.cache.set(f"imported/result/{key}", meta_json)
            for key, record_json in comparisons.items():
                record = json.loads(record_json)
                record["imported"] = dict(provenance)
                self.cache.set(f"imported/comparison/{key}", json.dumps(record))

    def imported_result(self, key: str) -> JobResult | None:
        """An imported job's meta (``source="imported"``), or ``None``."""
        raw = self.cache.get(f"imported/result/{key}")
        return None if raw is None else JobResult(key, json.loads(raw), "imported")

    def imported_blob(self, key: str, name: str) -> bytes:
        raw = self.cache.get(f"imported/blob/{key}/{name}")
        if raw is None:
            raise KeyError(f"no imported blob {name!r} for job {key}")
        return bytes(raw)

    def imported_result_json(self, key: str) -> str | None:
        raw = self.cache.get(f"imported/result/{key}")
        return None if raw is None else str(raw)

    def imported_comparison(self, key: str) -> dict[str, Any] | None:
        """An imported comparison's record, with its ``imported`` provenance, or ``None``."""
        raw = self.cache.get(f"imported/comparison/{key}")
        return None if raw is None else json.loads(raw)

    def imported_comparisons(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every imported comparison, as ``(key, record)``."""
        return self._records("imported/comparison/")

    def with_imported(self) -> StoreView:
        """A read-only view that also answers from imported results (marked ``source="imported"``), for showing
        an imported comparison when the user asks; computed results take precedence."""
        return StoreView(self)

    def set_flag(self, name: str) -> None:
        """Raise a marker that any process using this store can see."""
        self.cache.set(f"flag/{name}", "1")

    def has_flag(self, name: str) -> bool:
        return f"flag/{name}" in self.cache

    def clear_flag(self, name: str) -> None:
        """Drop a marker (no error if it is not set)."""
        self.cache.delete(f"flag/{name}")

    def close(self) -> None:
        self.cache.close()


class StoreView:
    """Read-only :class:`Store` look-alike that falls back to imported results (``Store.with_imported``).

    Only for *reading* finished results (tables, charts, per-sample views, bundle export); executing jobs always
    uses the :class:`Store` itself, so an imported result never satisfies a job.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.directory = store.directory

    def has(self, key: str) -> bool:
        return self.store.has(key) or self.store.imported_result(key) is not None

    def result(self, key: str) -> JobResult | None:
        return self.store.result(key) or self.store.imported_result(key)

    def result_json(self, key: str) -> str | None:
        return self.store.result_json(key) or self.store.imported_result_json(key)

    def blob(self, key: str, name: str) -> bytes:
        if self.store.has(key):
            return self.store.blob(key, name)
        return self.store.imported_blob(key, name)

    def progress(self, key: str) -> dict[str, Any] | None:
        return self.store.progress(key)

    def comparison(self, key: str) -> dict[str, Any] | None:
        return self.store.comparison(key) or self.store.imported_comparison(key)

    def comparison_json(self, key: str) -> str | None:
        rec = self.comparison(key)
        return None if rec is None else json.dumps({k: v for k, v in rec.items() if k != "imported"})

    def comparisons(self) -> Iterator[tuple[str, dict[str, Any]]]:
        seen = set()
        for k, rec in self.store.comparisons():
            seen.add(k)
            yield k, rec
        for k, rec in self.store.imported_comparisons():
            if k not in seen:
                yield k, rec

    def close(self) -> None:
        self.store.close()


# -- artifact encodings (no pickles) ----------------------------------------------------------------------------
def state_to_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """A state dict as ``torch.save`` bytes (tensors moved to CPU)."""
    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
    return buf.getvalue()


def state_from_bytes(data: bytes, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Inverse of :func:`state_to_bytes`, loaded with ``weights_only=True``; anything but plain tensors is refused."""
    import torch

    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise RunFailed("stored weights hold more than plain tensors (was the results cache altered?): refused; "
                        "delete the results cache directory to recompute them") from None


def arrays_to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Numeric arrays as compressed ``.npz`` bytes."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def arrays_from_bytes(data: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`arrays_to_bytes` (``allow_pickle=False``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
