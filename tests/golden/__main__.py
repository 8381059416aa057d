"""``python -m tests.golden``: re-record the golden CSVs (only when a change is *meant* to move the numbers)."""

import tempfile
from pathlib import Path

from tests.golden import record

with tempfile.TemporaryDirectory() as tmp:
    record(Path(tmp) / "cache", Path(tmp) / "data")
print("recorded")
