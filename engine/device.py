"""Device selection: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

import torch

from engine.errors import SpecError


def resolve_device(pref: str = "auto") -> torch.device:
    """The torch device for a user preference; asking for CUDA without one is a :class:`SpecError`."""
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref == "cuda" or pref.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise SpecError("device", "CUDA was requested but no GPU is available; use auto or cpu")
        dev = torch.device(pref)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SpecError("device", f"{pref} does not exist; {torch.cuda.device_count()} GPU(s) present")
        return dev
    raise SpecError("device", f"must be auto, cpu, cuda or cuda:N, got {pref!r}")
