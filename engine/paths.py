"""Default directories (no heavy imports: a warm CLI answer reads them without importing torch)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "UNLEARN_DATA_DIR"


def default_data_dir() -> Path:
    """The data directory: ``$UNLEARN_DATA_DIR`` or ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data").expanduser()
