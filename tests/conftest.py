"""Suite-wide settings.

The local executor runs jobs in worker processes by default (one per core), and each spawned worker imports torch
(~1.5-3 s). Tests run their comparisons in process unless they test the workers themselves
(``tests/executors/test_local_parallel.py`` passes ``workers=`` explicitly), so the suite stays fast; the numbers
are the same either way (that test proves it). Set before any test runs, so CLI subprocesses inherit it.
"""

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("UNLEARN_WORKERS", "1")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Pin torch's intra-op threads to 1, as ``engine.rng.fix_threads`` does for CPU jobs (restored after); a test
    module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch  # only the tests that ask pay for torch here

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
