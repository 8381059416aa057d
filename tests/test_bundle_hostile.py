"""Hostile results bundles (issue #11): a bundle is the one input a stranger hands a hosted demo.

Every bundle here is built in the test from a real one (a finished digits comparison) and is malformed, oversized
or forged consistently (hashes and sizes in the manifest recomputed). Each must be refused with a
:class:`BundleError` whose message says what is wrong, quickly, and leave the target store byte for byte as it
was (a store that does not exist yet is not even created). One test measures the importer's peak memory on the
worst bundle the limits let through to the end (every array inflated, then refused) in a subprocess.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import bundle
from engine.bundle import BundleError, export_bundle, import_bundle, read_bundle
from engine.runner import run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store, arrays_to_bytes

DATA = Path("data")
SPEC = ComparisonSpec(model="mlp", scenario_params=(("forget_class", 3),), train=(("epochs", 1),), shadow_models=2,
                      methods=(MethodSpec("original"), MethodSpec("retrain"), MethodSpec("finetune", (("epochs", 1),))))
Members = dict[str, bytes]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A finished comparison (with PGU's shadow attack: every kind of blob) as bundles without and with weights."""
    root = tmp_path_factory.mktemp("hostile")
    run_comparison(SPEC, cache_dir=root / "src", data_dir=DATA, executor="local")
    light, heavy = io.BytesIO(), io.BytesIO()
    export_bundle(root / "src", light)
    export_bundle(root / "src", heavy, with_weights=True)
    return {"light": light.getvalue(), "weights": heavy.getvalue()}


# -- building bundles ---------------------------------------------------------------------------------------------
def unzip(data: bytes) -> Members:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def zipped(members: Members | list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is what one case wants
        with zipfile.ZipFile(out, "w", compression) as z:
            for n, d in (members.items() if isinstance(members, dict) else members):
                z.writestr(n, d)
    return out.getvalue()


def with_manifest(m: Members) -> Members:
    """A consistent forgery: the manifest lists every member with its true size and SHA-256."""
    manifest = json.loads(m["manifest.json"])
    manifest["members"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                           for n, d in m.items() if n != "manifest.json"}
    m["manifest.json"] = json.dumps(manifest).encode()
    return m


def forge(data: bytes, change: Callable[[Members], object], manifest: bool = True) -> bytes:
    m = unzip(data)
    change(m)
    return zipped(with_manifest(m) if manifest else m)


def first(m: Members, suffix: str, kind: str = "") -> str:
    return next(n for n in sorted(m) if n.endswith(suffix) and n.startswith(f"jobs/{kind}"))


def edit_json(m: Members, name: str, fn: Callable[[dict], object]) -> None:
    value = json.loads(m[name])
    fn(value)
    m[name] = json.dumps(value).encode()


def meta(kind: str, fn: Callable[[dict], object]) -> Callable[[Members], None]:
    return lambda m: edit_json(m, first(m, "meta.json", kind), fn)


def metric(key: str, value: object) -> Callable[[Members], None]:
    return meta("evaluate", lambda x: x["metrics"].update({key: value}))


def record(fn: Callable[[dict], object]) -> Callable[[Members], None]:
    return lambda m: edit_json(m, next(n for n in m if n.startswith("comparisons/")), fn)


def spec(fn: Callable[[dict], object]) -> Callable[[Members], None]:
    return record(lambda r: fn(r["spec"]))


def raw_meta(kind: str, old: bytes, new: bytes) -> Callable[[Members], None]:
    """Edit a meta's JSON text (for what ``json.dumps`` cannot write)."""
    def change(m: Members) -> None:
        n = first(m, "meta.json", kind)
        assert old in m[n]
        m[n] = m[n].replace(old, new, 1)
    return change


def put(member: Callable[[Members], str], data: bytes | Callable[[bytes], bytes]) -> Callable[[Members], None]:
    def change(m: Members) -> None:
        n = member(m)
        m[n] = data(m[n]) if callable(data) else data
    return change


def outputs(m: Members) -> str:
    return first(m, "outputs.npz")


def per_sample(m: Members) -> str:
    return first(m, "per_sample.npz")


def problem_npz(m: Members) -> str:
    return first(m, "problem.npz")


def shadow_npz(m: Members) -> str:
    return first(m, "shadow.npz")


def weights(m: Members) -> str:
    return first(m, "state.pt", "original")


def npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def npz(members: Members | list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    return zipped(members, compression)


def logits(**over: bytes) -> bytes:
    """An outputs.npz with valid logits, some arrays replaced by raw .npy bytes."""
    arrays = {"logits_train.npy": npy(np.zeros((4, 10), np.float32)),
              "logits_test.npy": npy(np.zeros((2, 10), np.float32))}
    return npz({**arrays, **{f"{k}.npy": v for k, v in over.items()}})


def npy_header(shape: tuple[int, ...], descr: str = "<f8", version: tuple[int, int] = (1, 0)) -> bytes:
    buf = io.BytesIO()
    d = {"descr": descr, "fortran_order": False, "shape": shape}
    (np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0)(buf, d)
    return buf.getvalue()


def central(data: bytes) -> list[tuple[int, str]]:
    """(offset, name) of every central directory entry."""
    eocd = data.rfind(b"PK\x05\x06")
    count, _, start = struct.unpack_from("<HLL", data, eocd + 10)
    out, at = [], start
    for _ in range(count):
        n, e, c = struct.unpack_from("<HHH", data, at + 28)
        out.append((at, data[at + 46:at + 46 + n].decode()))
        at += 46 + n + e + c
    return out


def patch_entry(data: bytes, which: Callable[[str], bool], field: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of the central directory entries whose name ``which`` accepts (8: flags, 10: method,
    20: compressed size, 24: uncompressed size)."""
    b = bytearray(data)
    for at, name in central(data):
        if which(name):
            struct.pack_into(fmt, b, at + field, value)
    return bytes(b)


def patch_end(data: bytes, **fields: int) -> bytes:
    """Overwrite fields of the end-of-central-directory record: members, directory (bytes)."""
    b = bytearray(data)
    at = data.rfind(b"PK\x05\x06")
    if "members" in fields:
        struct.pack_into("<HH", b, at + 8, fields["members"], fields["members"])
    if "directory" in fields:
        struct.pack_into("<L", b, at + 12, fields["directory"])
    return bytes(b)


def inner(data: bytes, member: Callable[[Members], str], change: Callable[[bytes], bytes]) -> bytes:
    """The bundle with one member's bytes transformed (e.g. a patched .npz directory), manifest fixed."""
    return forge(data, put(member, change))


def state_pt(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def evil_pickle_pt(real: bytes) -> bytes:
    """A torch.save zip whose data.pkl calls os.system: weights_only must refuse it."""
    entries = unzip(real)
    pkl = next(n for n in entries if n.endswith("/data.pkl"))
    entries[pkl] = b"cos\nsystem\n(S'echo pwned'\ntR."
    return zipped(entries)


def deflated(real: bytes) -> bytes:
    return zipped(unzip(real), zipfile.ZIP_DEFLATED)


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def too_many_arrays(_: bytes) -> bytes:
    return npz({f"a{i}.npy": npy(np.zeros(1)) for i in range(bundle.MAX_NPZ_ARRAYS + 1)}, zipfile.ZIP_STORED)


def npz_bomb(_: bytes) -> bytes:
    """An .npz whose one array declares 4 GiB once inflated (its directory patched; nothing is inflated)."""
    real = npz({"forget_acc.npy": npy(np.zeros(1000))})
    return patch_entry(real, lambda n: True, 24, "<L", 0xFFFFFFF0)


def split_npz_bomb(data: bytes) -> bytes:
    """Every .npz declares 200 MiB of arrays: each under the member cap, together over the total."""
    def change(m: Members) -> None:
        for n in [n for n in m if n.endswith(".npz")]:
            m[n] = patch_entry(m[n], lambda name: True, 24, "<L", (200 << 20) // len(unzip(m[n])))
    return forge(data, change)


def many_members(data: bytes) -> bytes:
    m = unzip(data)
    m.update({f"jobs/evaluate-{i:024x}/meta.json": b"{}" for i in range(bundle.MAX_MEMBERS)})
    return zipped(m)


CASES: dict[str, tuple[Callable[[dict[str, bytes]], bytes], str]] = {
    # -- the archive
    "empty file": (lambda b: b"", "zip"),
    "not a zip": (lambda b: b"PK\x03\x04" + bytes(100), "zip"),
    "truncated archive": (lambda b: b["light"][: len(b["light"]) // 2], "zip"),
    "end record cut": (lambda b: b["light"][:-4], "zip"),
    "duplicate member names": (lambda b: zipped([*unzip(b["light"]).items(), ("manifest.json", b"{}")]), "twice"),
    "end record declares too many members": (lambda b: patch_end(b["light"], members=60_000), "more than 10000"),
    "end record declares a huge directory": (lambda b: patch_end(b["light"], directory=1 << 30), "directory"),
    "too many members": (lambda b: many_members(b["light"]), "more than 10000"),
    "member declares 3 GiB": (lambda b: patch_entry(b["light"], lambda n: n.endswith("outputs.npz"), 24, "<L",
                                                    3 << 30), "larger than"),
    "member smaller than its header": (lambda b: patch_entry(b["light"], lambda n: n.endswith("outputs.npz"), 24,
                                                             "<L", 100), "size differs"),
    "member data beyond the end": (lambda b: patch_entry(b["light"], lambda n: n.startswith("jobs/"), 20, "<L",
                                                         len(b["light"]) // 2), "beyond the end"),
    "members share their bytes": (lambda b: overlapping(b["light"]), "overlap"),
    "zip bomb (compression ratio)": (lambda b: ratio_bomb(b["light"]), "times"),
    "encrypted member": (lambda b: patch_entry(b["light"], lambda n: n == "manifest.json", 8, "<H", 1),
                         "encrypted"),
    "bzip2 member": (lambda b: zipped(unzip(b["light"]), zipfile.ZIP_BZIP2), "compression method 12"),
    "lzma member": (lambda b: zipped(unzip(b["light"]), zipfile.ZIP_LZMA), "compression method 14"),
    "path traversal": (lambda b: forge(b["light"], lambda m: m.update({"../../evil.json": b"{}"})),
                       "unexpected member"),
    "backslash traversal": (lambda b: forge(b["light"], lambda m: m.update({"jobs\\..\\evil.json": b"{}"})),
                            "unexpected member"),
    "directory entry": (lambda b: forge(b["light"], lambda m: m.update({"jobs/": b""})), "unexpected member"),
    # -- the manifest
    "manifest not an object": (lambda b: forge(b["light"], lambda m: m.update({"manifest.json": b"[]"}), False),
                               "manifest"),
    "manifest extra field": (lambda b: forge(b["light"], lambda m: edit_json(m, "manifest.json",
                                                                             lambda x: x.update(evil=1))),
                             "unexpected field"),
    "manifest size lies": (lambda b: zipped(edit_size(unzip(b["light"]))), "size differs from the manifest"),
    "with_weights not a bool": (lambda b: forge(b["light"], lambda m: edit_json(
        m, "manifest.json", lambda x: x.update(with_weights="yes"))), "with_weights"),
    "weights in a weightless bundle": (lambda b: forge(b["weights"], lambda m: edit_json(
        m, "manifest.json", lambda x: x.update(with_weights=False))), "weights in a bundle"),
    "model job in a weightless bundle": (lambda b: forge(b["weights"], lambda m: [
        edit_json(m, "manifest.json", lambda x: x.update(with_weights=False)),
        [m.pop(n) for n in list(m) if n.endswith(".pt")]]), "travels only in a bundle made with weights"),
    # -- JSON
    "non-UTF-8 meta": (lambda b: forge(b["light"], put(lambda m: first(m, "meta.json", "evaluate"),
                                                       lambda d: d.replace(b'"', b'"\xff', 1))), "UTF-8"),
    "UTF-16 record": (lambda b: forge(b["light"], put(lambda m: next(n for n in m if n.startswith("comparisons/")),
                                                      lambda d: d.decode().encode("utf-16"))), "UTF-8"),
    "deep nesting (RecursionError)": (lambda b: forge(b["light"], put(
        lambda m: next(n for n in m if n.startswith("comparisons/")), nested(100_000))), "nested too deeply"),
    "nesting deeper than the limit": (lambda b: forge(b["light"], meta("evaluate", lambda x: x.update(
        run=json.loads(nested(40))))), "nested deeper than 32"),
    "huge float (1e999)": (lambda b: forge(b["light"], raw_meta("evaluate", b'"finished_at": ',
                                                                b'"finished_at": 1e999, "x": ')), "out of range"),
    "huge integer": (lambda b: forge(b["light"], raw_meta("problem", b'"n_forget": ',
                                                          b'"n_forget": ' + b"9" * 5000 + b', "x": ')),
                     "out of range"),
    "NaN literal": (lambda b: forge(b["light"], raw_meta("evaluate", b'"finished_at": ',
                                                         b'"finished_at": NaN, "x": ')), "NaN is not allowed"),
    "Infinity literal": (lambda b: forge(b["light"], raw_meta("evaluate", b'"finished_at": ',
                                                              b'"x": -Infinity, "finished_at": ')), "not allowed"),
    "repeated JSON key": (lambda b: forge(b["light"], raw_meta("evaluate", b'"finished_at": ',
                                                               b'"finished_at": 1, "finished_at": ')), "twice"),
    "lone surrogate": (lambda b: forge(b["light"], meta("evaluate", lambda x: x.update(label="\ud800"))),
                       "surrogate"),
    # -- the spec of a comparison record, validated as a user's
    "unknown dataset": (lambda b: forge(b["light"], spec(lambda s: s.update(dataset="imagenet"))), "dataset"),
    "train override out of TrainConfig's range (epochs=1e9)": (lambda b: forge(b["light"], spec(
        lambda s: s.update(train=[["epochs", 1e9]]))), "train.epochs"),
    "unknown train override": (lambda b: forge(b["light"], spec(lambda s: s.update(train=[["evil", 1]]))),
                               "train.evil"),
    "malformed scenario_params": (lambda b: forge(b["light"], spec(lambda s: s.update(
        scenario_params=[["forget_class"]]))), "not a comparison spec"),
    "scenario_params a string": (lambda b: forge(b["light"], spec(lambda s: s.update(scenario_params="abc"))),
                                 "spec"),
    "scenario parameter out of range": (lambda b: forge(b["light"], spec(lambda s: s.update(
        scenario_params=[["forget_class", 5000]]))), "scenario.forget_class"),
    "unknown scenario parameter": (lambda b: forge(b["light"], spec(lambda s: s.update(
        scenario_params=[["evil", 1]]))), "scenario.evil"),
    "<script> method name": (lambda b: forge(b["light"], spec(lambda s: s["methods"].append(
        {"name": "<script>alert(1)</script>", "hparams": []}))), "unknown method"),
    "hyper-parameter out of range": (lambda b: forge(b["light"], spec(lambda s: s["methods"][2].update(
        hparams=[["epochs", -1]]))), "methods.finetune.epochs"),
    "hyper-parameter of the wrong type": (lambda b: forge(b["light"], spec(lambda s: s["methods"][2].update(
        hparams=[["lr", "fast"]]))), "methods.finetune.lr"),
    "unknown hyper-parameter": (lambda b: forge(b["light"], spec(lambda s: s["methods"][2].update(
        hparams=[["evil", 1]]))), "methods.finetune.evil"),
    "hparams an object": (lambda b: forge(b["light"], spec(lambda s: s["methods"][2].update(
        hparams={"epochs": 1}))), "spec"),
    "no methods": (lambda b: forge(b["light"], spec(lambda s: s.update(methods=[]))), "methods"),
    "a method twice": (lambda b: forge(b["light"], spec(lambda s: s["methods"].append(s["methods"][0]))),
                       "methods"),
    "too many seeds": (lambda b: forge(b["light"], spec(lambda s: s.update(seeds=list(range(50))))), "seeds"),
    "negative seed": (lambda b: forge(b["light"], spec(lambda s: s.update(seeds=[-1]))), "seeds"),
    "unknown spec field": (lambda b: forge(b["light"], spec(lambda s: s.update(evil=1))), "spec"),
    "spec not an object": (lambda b: forge(b["light"], record(lambda r: r.update(spec=[1]))), "spec"),
    "rate for a paradigm without one": (lambda b: forge(b["light"], spec(lambda s: s.update(rate=0.5))), "rate"),
    "bad device": (lambda b: forge(b["light"], spec(lambda s: s.update(device="cuda:../../x"))), "device"),
    "one shadow model": (lambda b: forge(b["light"], spec(lambda s: s.update(shadow_models=1))), "shadow_models"),
    "spec not canonical": (lambda b: forge(b["light"], spec(lambda s: s.update(paradigm_params=[]))), "canonical"),
    "spec altered": (lambda b: forge(b["light"], spec(lambda s: s.update(model="cnn"))), "comparison key"),
    # -- the record's plan, recomputed from its spec
    "record lists a forged job": (lambda b: forge(b["light"], record(lambda r: r["jobs"].append(
        {"key": "evaluate-" + "a" * 24, "kind": "evaluate", "label": "evaluate x seed 0"}))), "not the plan"),
    "record drops a job": (lambda b: forge(b["light"], record(lambda r: r["jobs"].pop(1))), "not the plan"),
    "record relabels a job": (lambda b: forge(b["light"], record(lambda r: r["jobs"][0].update(
        label="<img src=x onerror=alert(1)>"))), "not the plan"),
    "record reorders its jobs": (lambda b: forge(b["light"], record(lambda r: r["jobs"].reverse())), "not the plan"),
    "rows swap their evaluations": (lambda b: forge(b["light"], record(lambda r: swap_evals(r["rows"]))),
                                    "not the plan"),
    "row hidden as not applicable": (lambda b: forge(b["light"], record(lambda r: r["rows"][2].update(
        status="not_applicable", eval_job=None, reason="diverged"))), "not the plan"),
    "row missing": (lambda b: forge(b["light"], record(lambda r: r["rows"].pop())), "not the plan"),
    "row seed a string": (lambda b: forge(b["light"], record(lambda r: r["rows"][0].update(seed="0"))),
                          "not the plan"),
    "row extra field": (lambda b: forge(b["light"], record(lambda r: r["rows"][0].update(evil=1))), "not the plan"),
    "record extra field": (lambda b: forge(b["light"], record(lambda r: r.update(evil=1))), "fields must be"),
    "record time not a number": (lambda b: forge(b["light"], record(lambda r: r.update(created="yesterday"))),
                                 "created"),
    "job not in any record": (lambda b: forge(b["light"], lambda m: [
        m.update({n.replace(n.split("/")[1], "evaluate-" + "b" * 24): m.pop(n)
                  for n in [n for n in m if n.startswith(first(m, "meta.json", "evaluate").rsplit("/", 1)[0])]})]),
        "not a job of any comparison"),
    # -- job metas
    "metric above its range": (lambda b: forge(b["light"], metric("test_acc", 5.0)), "outside its range"),
    "accuracy below 0": (lambda b: forge(b["light"], metric("forget_acc", -0.1)), "outside its range"),
    "negative KL": (lambda b: forge(b["light"], metric("kl_to_retrain", -1.0)), "outside its range"),
    "negative seconds": (lambda b: forge(b["light"], metric("unlearn_seconds", -3.0)), "outside its range"),
    "gap above 1": (lambda b: forge(b["light"], metric("gap_to_retrain", 1.5)), "outside its range"),
    "metric a boolean": (lambda b: forge(b["light"], metric("test_acc", True)), "finite numbers or null"),
    "metric a string": (lambda b: forge(b["light"], metric("test_acc", "0.9")), "finite numbers or null"),
    "unknown metric": (lambda b: forge(b["light"], metric("evil_metric", 0.5)), "unknown to this engine version"),
    "missing metric": (lambda b: forge(b["light"], meta("evaluate", lambda x: x["metrics"].pop("test_acc"))),
                       "missing"),
    "reason for a metric that has a value": (lambda b: forge(b["light"], meta("evaluate", lambda x: x["reasons"].update(
        test_acc="made up"))), "reasons"),
    "meta kind": (lambda b: forge(b["light"], meta("evaluate", lambda x: x.update(kind="problem"))), "kind"),
    "meta blobs": (lambda b: forge(b["light"], meta("evaluate", lambda x: x.update(blobs=["outputs.npz"]))),
                   "blobs"),
    "negative count": (lambda b: forge(b["light"], meta("problem", lambda x: x.update(n_forget=-1))), "count"),
    "class indices not integers": (lambda b: forge(b["light"], meta("problem", lambda x: x.update(
        forget_classes=["three"]))), "class indices"),
    "negative duration": (lambda b: forge(b["light"], meta("shadow", lambda x: x.update(seconds=-1))), "duration"),
    # -- arrays
    "pickled object array": (lambda b: forge(b["light"], put(outputs, logits(logits_train=npy(
        np.array([{"evil": 1}], dtype=object))))), "pickles"),
    "non-.npy member in an .npz": (lambda b: forge(b["light"], put(outputs, lambda d: npz(
        {**unzip(d), "evil.txt": b"hello"}))), ".npy arrays only"),
    "raw bytes named .npy (AttributeError)": (lambda b: forge(b["light"], put(outputs, logits(
        logits_train=b"not an array"))), "not a plain .npy"),
    "an .npz nested in an .npz": (lambda b: forge(b["light"], put(outputs, lambda d: logits(logits_train=d))),
                                  "not a plain .npy"),
    "npz bomb": (lambda b: forge(b["light"], put(outputs, npz_bomb)), "arrays too large"),
    "npz bombs under the member cap": (lambda b: split_npz_bomb(b["light"]), "decompresses to more than"),
    "too many arrays": (lambda b: forge(b["light"], put(per_sample, too_many_arrays)), "more than 1000"),
    "npz end record declares too many arrays": (lambda b: forge(b["light"], put(
        per_sample, lambda d: patch_end(d, members=60_000))), "more than 1000"),
    "truncated npz": (lambda b: forge(b["light"], put(outputs, lambda d: d[: len(d) // 2])), "zip"),
    "npz with a name twice": (lambda b: forge(b["light"], put(outputs, lambda d: npz(
        [*unzip(d).items(), ("logits_test.npy", npy(np.zeros((2, 10), np.float32)))]))), "twice"),
    "npz with a bzip2 array": (lambda b: forge(b["light"], put(outputs, lambda d: npz(unzip(d), zipfile.ZIP_BZIP2))),
                               "unsupported method"),
    "array shorter than its header": (lambda b: forge(b["light"], put(outputs, logits(
        logits_test=npy_header((1000, 10), "<f4") + bytes(80)))), "does not match its size"),
    "structured dtype": (lambda b: forge(b["light"], put(per_sample, lambda d: npz(
        {**unzip(d), "forget_acc.npy": npy(np.zeros(3, dtype=[("a", "<f8")]))}))), "plain numeric"),
    "unicode dtype": (lambda b: forge(b["light"], put(per_sample, lambda d: npz(
        {**unzip(d), "forget_acc.npy": npy(np.array(["<script>"]))}))), "plain numeric"),
    "complex dtype": (lambda b: forge(b["light"], put(per_sample, lambda d: npz(
        {**unzip(d), "forget_acc.npy": npy(np.zeros(3, np.complex128))}))), "plain numeric"),
    ".npy version 3": (lambda b: forge(b["light"], put(outputs, logits(
        logits_test=npy(np.zeros((2, 10), np.float32)).replace(b"NUMPY\x01\x00", b"NUMPY\x03\x00", 1)))),
        "version"),
    ".npy header of 1 MB": (lambda b: forge(b["light"], put(outputs, logits(
        logits_test=b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 20) + b" " * (1 << 20)))), "not a plain .npy"),
    "NaN in the logits": (lambda b: forge(b["light"], put(outputs, logits(logits_train=npy(
        np.full((4, 10), np.nan, np.float32))))), "NaN"),
    "infinity in per-sample values": (lambda b: forge(b["light"], put(per_sample, lambda d: npz(
        {**unzip(d), "forget_acc.npy": npy(np.array([0.0, np.inf]))}))), "infinite"),
    "outputs without logits_test": (lambda b: forge(b["light"], put(outputs, lambda d: npz(
        {"logits_train.npy": npy(np.zeros((4, 10), np.float32))}))), "logits_test"),
    "logits of different widths": (lambda b: forge(b["light"], put(outputs, logits(logits_test=npy(
        np.zeros((2, 3), np.float32))))), "as many columns"),
    "per-sample array of no metric": (lambda b: forge(b["light"], put(per_sample, lambda d: npz(
        {**unzip(d), "evil.npy": npy(np.zeros(3))}))), "not an array of a metric"),
    "forget indices beyond the training set": (lambda b: forge(b["light"], put(problem_npz, lambda d: npz(
        {**unzip(d), "forget_idx.npy": npy(np.arange(10**6, 10**6 + n_forget(d)))}))), "forget_idx"),
    "fewer forget indices than the meta says": (lambda b: forge(b["light"], put(problem_npz, lambda d: npz(
        {**unzip(d), "forget_idx.npy": npy(np.arange(3))}))), "forget_idx"),
    "logits for another training set": (lambda b: forge(b["light"], put(outputs, logits())), "its problem has"),
    "evaluation without its problem": (lambda b: forge(b["light"], lambda m: [
        m.pop(n) for n in list(m) if n.startswith("jobs/problem-")]), "without the problem job"),
    "shadow subset beyond the training set": (lambda b: forge(b["light"], put(shadow_npz, lambda d: npz(
        {**unzip(d), "forget_subset.npy": npy(np.array([0, 10**9]))}))), "forget_subset"),
    "attacker JSON with NaN": (lambda b: forge(b["light"], put(lambda m: first(m, "attacker.json"),
                                                               b'{"a": NaN}')), "not allowed"),
    "attacker not JSON": (lambda b: forge(b["light"], put(lambda m: first(m, "attacker.json"), b"\x80")), "JSON"),
    # -- weights
    "weights that call os.system": (lambda b: forge(b["weights"], put(weights, evil_pickle_pt)),
                                    "not plain tensor weights"),
    "weights not a zip (legacy pickle)": (lambda b: forge(b["weights"], put(weights, pickle.dumps({"a": 1}))),
                                          "zip"),
    "weights with compressed records": (lambda b: forge(b["weights"], put(weights, deflated)), "uncompressed"),
    "weights a list": (lambda b: forge(b["weights"], put(weights, state_pt([torch.zeros(2)]))),
                       "dict of named tensors"),
    "weights holding a number": (lambda b: forge(b["weights"], put(weights, state_pt({"a": 1}))),
                                 "dict of named tensors"),
}


def overlapping(data: bytes) -> bytes:
    """Every member's compressed data declared to run to the end of the archive (as an overlap bomb's do)."""
    b = bytearray(data)
    for at, _ in central(data):
        offset = struct.unpack_from("<L", data, at + 42)[0]
        struct.pack_into("<L", b, at + 20, len(data) - offset - 22)
    return bytes(b)


def ratio_bomb(data: bytes) -> bytes:
    """24 MiB of spaces in three JSON blobs: deflated, the bundle inflates ~50 times."""
    m = unzip(data)
    jobs = sorted({n.split("/")[1] for n in m if n.startswith("jobs/")})[:3]
    m.update({f"jobs/{k}/extra.json": b" " * (8 << 20) for k in jobs})
    return zipped(with_manifest(m), zipfile.ZIP_DEFLATED)


def n_forget(problem_npz: bytes) -> int:
    with np.load(io.BytesIO(problem_npz)) as z:
        return len(z["forget_idx"])


def edit_size(m: Members) -> Members:
    with_manifest(m)
    edit_json(m, "manifest.json", lambda x: x["members"][next(n for n in x["members"] if n.endswith(".npz"))].update(
        size=12))
    return m


def swap_evals(rows: list[dict]) -> None:
    rows[1]["eval_job"], rows[2]["eval_job"] = rows[2]["eval_job"], rows[1]["eval_job"]


def tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` with its SHA-256 (the store's exact bytes on disk)."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store with content: a refused import must leave its files exactly as they are."""
    path = tmp_path / "store"
    s = Store(path)
    s.put("problem-" + "0" * 24, {"n": 1}, {"problem.npz": arrays_to_bytes({"a": np.arange(3)})})
    s.close()
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_bundle_is_refused_quickly_and_the_store_is_unchanged(bundles, store, tmp_path, case):
    make, message = CASES[case]
    bad = make(bundles)
    before = tree(store)
    started = time.perf_counter()
    with pytest.raises(BundleError) as e:
        import_bundle(store, bad)
    assert time.perf_counter() - started < 10
    assert e.value.field == "bundle" and message.lower() in e.value.message.lower(), e.value.message
    assert tree(store) == before
    with pytest.raises(BundleError):
        import_bundle(tmp_path / "fresh", bad)
    assert not (tmp_path / "fresh").exists()  # not even created


def test_the_real_bundles_pass(bundles):
    """The cases above are refused for what they change: the bundles they start from are valid."""
    assert list(read_bundle(bundles["light"]).comparisons) == [SPEC.comparison_key()]
    contents = read_bundle(bundles["weights"])
    assert {k.split("-")[0] for k in contents.results} == {"problem", "original", "retrain", "unlearn", "shadow",
                                                           "evaluate"}
    assert read_bundle(zipped(unzip(bundles["light"]), zipfile.ZIP_DEFLATED)).manifest  # deflated is fine too


def test_sources_that_are_not_bundle_files(bundles, tmp_path, monkeypatch):
    with pytest.raises(BundleError, match="no bundle file"):
        read_bundle(tmp_path)  # a directory
    with pytest.raises(BundleError, match="no bundle file"):
        read_bundle(tmp_path / "missing.zip")

    class Stream(io.RawIOBase):  # an upload that cannot seek
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    with pytest.raises(BundleError, match="seekable"):
        read_bundle(Stream())  # type: ignore[arg-type]
    monkeypatch.setattr(bundle, "MAX_ARCHIVE_BYTES", 1000)
    with pytest.raises(BundleError, match="larger than 1000 bytes"):
        read_bundle(bundles["light"])
    path = tmp_path / "b.zip"
    path.write_bytes(bundles["light"])
    with pytest.raises(BundleError, match="larger than 1000 bytes"):
        read_bundle(path)


def test_an_npz_bomb_is_refused_from_its_headers(bundles):
    """The reviewer's 26 KB bundle of nested .npz took 22 s and 1.5 GB: the headers alone refuse it now."""
    bad = forge(bundles["light"], put(outputs, npz_bomb))
    started = time.perf_counter()
    with pytest.raises(BundleError, match="too large"):
        read_bundle(bad)
    assert time.perf_counter() - started < 2


MEMORY_PROBE = r"""
import json, resource, sys, time
from engine.bundle import BundleError, import_bundle, read_bundle
read_bundle(sys.argv[1])  # warm up: every module the validation imports is loaded before the baseline
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {}
for path in sys.argv[3:]:
    started = time.perf_counter()
    try:
        import_bundle(sys.argv[2], path)
        out[path] = "accepted"
    except BundleError as e:
        out[path] = e.message
    out[path + ":seconds"] = time.perf_counter() - started
out["grew_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps(out))
"""


def zeros_npz(mib: int, nan_at_end: bool) -> bytes:
    """A per-sample .npz of one array of ``mib`` MiB of zeros (deflated to ~1/1000), optionally ending in a NaN."""
    n = (mib << 20) // 8
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("forget_acc.npy", "w") as f:
        f.write(npy_header((n + int(nan_at_end),)))
        zero = bytes(1 << 20)
        for _ in range(mib):
            f.write(zero)
        if nan_at_end:
            f.write(struct.pack("<d", float("nan")))
    return buf.getvalue()


def streamed_bomb(data: bytes, mib: int) -> bytes:
    """The worst a bundle can do within the limits: every evaluation's per-sample arrays are ``mib`` MiB of zeros,
    honestly declared (so within the budget) and inflated in full by the check; the last one read ends in a NaN,
    so the bundle is refused at the very end."""
    def change(m: Members) -> None:
        names = sorted(n for n in m if n.endswith("per_sample.npz"))
        for n in names:
            m[n] = zeros_npz(mib, nan_at_end=n == names[-1])
    return forge(data, change)


def test_peak_memory_of_hostile_imports_is_bounded(bundles, tmp_path):
    """Measured in a fresh interpreter: the peak RSS over the baseline (python + engine + a valid bundle read)."""
    paths = {"valid": tmp_path / "valid.zip", "streamed": tmp_path / "streamed.zip",
             "headers": tmp_path / "headers.zip", "ratio": tmp_path / "ratio.zip"}
    paths["valid"].write_bytes(bundles["light"])
    paths["streamed"].write_bytes(streamed_bomb(bundles["light"], 160))  # 3 x 160 MiB inflated
    paths["headers"].write_bytes(split_npz_bomb(bundles["light"]))
    paths["ratio"].write_bytes(CASES["zip bomb (compression ratio)"][0](bundles))
    assert os.path.getsize(paths["streamed"]) < 2 << 20  # 480 MiB of arrays in a bundle of < 2 MB
    hostile = [str(paths[k]) for k in ("streamed", "headers", "ratio")]
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(paths["valid"]), str(tmp_path / "store"),
                           *hostile], capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "NaN" in out[hostile[0]] and "decompresses to more than" in out[hostile[1]] and "times" in out[hostile[2]]
    assert out["grew_kib"] < 100 * 1024, out  # 100 MiB above the baseline, for 480 MiB inflated and refused
    assert out[hostile[0] + ":seconds"] < 30 and out[hostile[1] + ":seconds"] < 2, out
    assert not (tmp_path / "store").exists()


def test_random_corruptions_are_bundle_errors_or_harmless(bundles):
    """Seeded fuzzing: bytes changed, cut or inserted in one member (the manifest made consistent again) or in the
    archive itself. Whatever is read, the only exception is a BundleError (no traceback of another kind)."""
    import random

    rng = random.Random(11)
    base = unzip(bundles["light"])
    names = sorted(base)
    for _ in range(200):
        if rng.random() < 0.15:
            b = bytearray(zipped(base, zipfile.ZIP_DEFLATED))
            for _ in range(rng.randint(1, 5)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
        else:
            m, name = dict(base), rng.choice(names)
            d = bytearray(m[name])
            for _ in range(rng.randint(1, 8)):
                pos, op = rng.randrange(max(len(d), 1)), rng.random()
                if op < 0.6 and d:
                    d[pos] = rng.randrange(256)
                elif op < 0.8:
                    del d[pos:pos + rng.randint(1, 50)]
                else:
                    d[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
            m[name] = bytes(d)
            data = zipped(m if name == "manifest.json" else with_manifest(m))
        try:
            read_bundle(data)
        except BundleError as e:
            assert e.message
