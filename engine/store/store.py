"""Durable results store on diskcache (DESIGN.md "Store").

Layout (string keys, values are ``bytes`` or JSON ``str`` only -- never pickles of our objects):

* ``result/<job key>``   JSON meta of a finished job (written last, in the same transaction as its blobs)
* ``blob/<job key>/<name>`` artifact bytes (``torch.save`` state dicts, ``.npz`` arrays)
* ``lock/<job key>``     claim of a running job: ``{"pid", "host", "since"}``
* ``progress/<job key>`` latest progress event of a job (readable by any process)
* ``comparison/<key>``   a comparison's spec and job plan (History page)
* ``flag/<name>``        small markers shared between processes (e.g. a Ray run's cancellation flag)

A job's result exists only once all of its blobs are in (one transaction): an interrupted job leaves
nothing but, at most, a stale lock, which is broken when its process is gone.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
import numpy as np
import torch

CACHE_DIR_ENV = "UNLEARN_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$UNLEARN_CACHE_DIR`` or ``./.cache/unlearn``."""
    return Path(os.environ.get(CACHE_DIR_ENV, ".cache/unlearn")).expanduser()


@dataclass(frozen=True)
class JobResult:
    """A finished job: its JSON meta and the names of its blobs."""

    key: str
    meta: dict[str, Any]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """Process- and thread-safe results store in a private directory (mode 0700)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
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
        """Try to become the one process computing ``key``; stale claims of dead processes are broken."""
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        if self.cache.add(f"lock/{key}", json.dumps(me)):
            return True
        raw = self.cache.get(f"lock/{key}")
        if raw is None:
            return self.cache.add(f"lock/{key}", json.dumps(me))
        owner = json.loads(raw)
        if owner["host"] == me["host"] and not _pid_alive(int(owner["pid"])):
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

    def comparisons(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every saved comparison, as ``(key, record)``."""
        for k in list(self.cache.iterkeys()):
            if isinstance(k, str) and k.startswith("comparison/"):
                raw = self.cache.get(k)
                if raw is not None:
                    yield k.removeprefix("comparison/"), json.loads(raw)

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

    def put_verbatim(self, results: dict[str, tuple[str, dict[str, bytes]]], comparisons: dict[str, str]) -> None:
        """Write already-validated entries in one transaction: per job its blobs then its meta JSON text
        (unchanged, so a round trip through a bundle is exact), then the comparison records."""
        with self.cache.transact():
            for key, (meta_json, blobs) in results.items():
                for name, data in blobs.items():
                    self.cache.set(f"blob/{key}/{name}", bytes(data))
                self.cache.set(f"result/{key}", meta_json)
            for key, record_json in comparisons.items():
                self.cache.set(f"comparison/{key}", record_json)

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


# -- artifact encodings (no pickles) ----------------------------------------------------------------------------
def state_to_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """A state dict as ``torch.save`` bytes (tensors moved to CPU)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
    return buf.getvalue()


def state_from_bytes(data: bytes, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Inverse of :func:`state_to_bytes`, loaded with ``weights_only=True``."""
    return torch.load(io.BytesIO(data), map_location=device, weights_only=True)


def arrays_to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Numeric arrays as compressed ``.npz`` bytes."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def arrays_from_bytes(data: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`arrays_to_bytes` (``allow_pickle=False``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
