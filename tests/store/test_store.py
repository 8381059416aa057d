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


def test_a_restarted_server_with_the_same_pid_breaks_its_predecessors_claim(tmp_path):
    """Issue 11 item 3: a claim names the process by PID *and* start time (and boot id): a server restarted as the
    same PID (PID 1 in a container) does not wait forever on its own dead claim."""
    import os
    import socket

    from engine.store.store import boot_id, claim_owner, owner_alive, process_start

    s = Store(tmp_path)
    me = claim_owner()
    assert me["start"] == process_start(os.getpid()) and me["start"]
    assert owner_alive(me) is True
    predecessor = {**me, "start": str(int(me["start"]) - 1)}  # same host, same PID, an earlier process
    assert owner_alive(predecessor) is False
    s.cache.set("lock/job", json.dumps(predecessor))
    assert s.claim("job")
    rebooted = {**me, "boot": "not-" + (boot_id() or "x")}
    assert owner_alive(rebooted) is (False if boot_id() else True)
    elsewhere = {**me, "host": socket.gethostname() + "-other"}
    assert owner_alive(elsewhere) is None  # cannot be told: the claim is respected
    s.cache.set("lock/job2", json.dumps(elsewhere))
    assert not s.claim("job2")
    assert s.claim_info("job2")["host"].endswith("-other")


def test_a_waiting_job_says_what_it_waits_for_and_gives_up(tmp_path, monkeypatch):
    import torch

    from engine.errors import RunFailed
    from engine.jobs import JobEnv, execute, make_job
    from engine.store.store import claim_owner

    monkeypatch.setenv("UNLEARN_WAIT_TIMEOUT", "0.5")
    store = Store(tmp_path)
    job = make_job("problem", "problem seed 0", {"x": 1}, {})
    holder = {**claim_owner(), "pid": 1, "start": "", "host": "another-host"}  # a live claim we cannot check
    store.cache.set(f"lock/{job.key}", json.dumps(holder))
    events = []
    env = JobEnv(store, tmp_path, torch.device("cpu"), on_progress=lambda k, e: events.append(e))
    with pytest.raises(RunFailed, match="gave up after 0.5 s waiting for process 1 on another-host"):
        execute(job, env, poll=0.05)
    waiting = [e for e in events if e["state"] == "waiting"]
    assert len(waiting) == 1 and "process 1 on another-host" in waiting[0]["message"]
    assert not store.has(job.key) and store.claim_info(job.key)["host"] == "another-host"  # untouched


def test_the_store_never_changes_an_existing_directorys_mode(tmp_path):
    import os
    import stat

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    Store(shared).close()
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o755
    Store(tmp_path / "new").close()
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o700
