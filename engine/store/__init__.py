"""diskcache-backed store of job results, artifacts, progress and comparisons."""

from engine.store.store import (
    CACHE_DIR_ENV,
    JobResult,
    Store,
    arrays_from_bytes,
    arrays_to_bytes,
    default_cache_dir,
    state_from_bytes,
    state_to_bytes,
)

__all__ = ["CACHE_DIR_ENV", "JobResult", "Store", "arrays_from_bytes", "arrays_to_bytes", "default_cache_dir",
           "state_from_bytes", "state_to_bytes"]
