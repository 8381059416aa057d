"""Store: atomic results, weights-only state dicts, no-pickle arrays, claims and stale-claim recovery."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.store import Store, arrays_from_bytes, arrays_to_bytes, state_from_bytes, state_to_bytes


def test_directory_is_private(tmp_path):
    Store(tmp_path / "c").close()
    assert stat.S_IMODE(os.stat(tmp_path / "c").st_mode) == 0o700


def test_put_then_read(tmp_path):
    s = Store(tmp_path)
    assert not s.has("k") and s.result("k") is None
    s.put("k", {"seconds": 1.5}, {"a.bin": b"xyz"})
    assert s.has("k")
    assert s.result("k").meta["seconds"] == 1.5
    assert s.result("k").meta["blobs"] == ["a.bin"]
    assert s.blob("k", "a.bin") == b"xyz"
    s.delete("k")
    assert not s.has("k")
    with pytest.raises(KeyError):
        s.blob("k", "a.bin")


def test_failed_transaction_leaves_nothing(tmp_path):
    s = Store(tmp_path)

    with pytest.raises(RuntimeError), s.cache.transact():
        s.cache.set("blob/k/a", b"1")
        raise RuntimeError("interrupted")
    assert "blob/k/a" not in s.cache and not s.has("k")


def test_state_dict_round_trip_weights_only(tmp_path):
    state = {"w": torch.randn(3, 4), "b": torch.arange(3)}
    back = state_from_bytes(state_to_bytes(state))
    assert all(torch.equal(state[k], back[k]) for k in state)


def test_weights_only_refuses_pickled_objects():
    import io

    buf = io.BytesIO()
    torch.save({"evil": object()}, buf)
    with pytest.raises(Exception):  # noqa: B017  (torch raises UnpicklingError)
        state_from_bytes(buf.getvalue())


def test_arrays_round_trip_without_pickle():
    arrays = {"a": np.arange(5.0), "m": np.array([True, False])}
    back = arrays_from_bytes(arrays_to_bytes(arrays))
    assert all(np.array_equal(arrays[k], back[k]) for k in arrays)
    with pytest.raises(ValueError):
        arrays_to_bytes({"o": np.array([object()], dtype=object)}) and arrays_from_bytes(
            arrays_to_bytes({"o": np.array([object()], dtype=object)}))


def test_claims_are_exclusive_and_released(tmp_path):
    a, b = Store(tmp_path), Store(tmp_path)
    assert a.claim("job")
    assert not b.claim("job")
    a.release("job")
    assert b.claim("job")


def test_stale_claim_of_dead_process_is_broken(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    s = Store(tmp_path)
    import socket
    s.cache.set("lock/job", json.dumps({"pid": dead_pid, "host": socket.gethostname(), "since": 0}))
    assert s.claim("job")


def test_progress_is_visible_to_another_process(tmp_path):
    Store(tmp_path).set_progress("job", {"state": "running", "done": 3, "total": 10})
    code = ("from engine.store import Store; import sys; "
            f"e = Store({str(tmp_path)!r}).progress('job'); print(e['state'], e['done'], e['total'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=os.getcwd())
    assert out.stdout.split() == ["running", "3", "10"], out.stderr
