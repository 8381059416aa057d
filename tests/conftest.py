"""Suite-wide settings.

The local executor runs jobs in worker processes by default (one per core), and each spawned worker imports torch
(~1.5-3 s). Tests run their comparisons in process unless they test the workers themselves
(``tests/executors/test_local_parallel.py`` passes ``workers=`` explicitly), so the suite stays fast; the numbers
are the same either way (that test proves it). Set before any test runs, so CLI subprocesses inherit it.
"""

import os

os.environ.setdefault("UNLEARN_WORKERS", "1")
