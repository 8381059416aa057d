"""Cost of the sealed-view audit (``engine.jobs.method_inputs.audit_view``): hashing rows proves no view has test rows.

Prints seconds to digest a digits-sized and a CIFAR-sized training split (one torch thread) and the machine's load.
The audit digests the training and validation splits once per problem and process, plus each view's own rows.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.jobs.method_inputs import _row_digests  # noqa: E402


def seconds(x: torch.Tensor, repeats: int = 3) -> float:
    """Median seconds of digesting every row of ``x``."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        _row_digests(x)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main() -> None:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    print(f"load (1 min): {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores; 1 torch thread")
    for name, shape in (("digits train (1437 x 1x8x8)", (1437, 1, 8, 8)),
                        ("CIFAR train (50000 x 3x32x32)", (50000, 3, 32, 32))):
        print(f"{name}: {seconds(torch.randn(*shape, generator=gen)):.3f} s")


if __name__ == "__main__":
    main()
