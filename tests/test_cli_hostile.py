"""Hostile command lines (issue #11, item 5): every bad input exits 2 with ``error: <field>: <message>`` before any
work -- no traceback, no results cache created, no ``--out`` file (or temporary file) written.

Paths are checked first: a file where a directory is needed, a missing parent, no permission, a directory, a
symbolic link or a device given as ``--out``. Then counts and values: seeds, repeated ``--hparam`` / ``--train``
keys, non-finite rates, malformed CUDA devices, argparse's own errors, presets with bad overrides, bundles.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from engine.cli import check_out, main, write_atomic
from engine.errors import SpecError

NOISY = ["--paradigm", "noisy_label"]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    """A file, a directory, links to each (one broken), a FIFO; ``cache`` and ``out`` do not exist."""
    p = {"file": tmp_path / "afile", "dir": tmp_path / "adir", "link": tmp_path / "link.csv",
         "dirlink": tmp_path / "dirlink", "fifo": tmp_path / "fifo", "cache": tmp_path / "cache",
         "out": tmp_path / "r.csv", "notzip": tmp_path / "notzip.zip"}
    p["file"].write_text("keep me")
    p["dir"].mkdir()
    p["link"].symlink_to(tmp_path / "target.csv")  # dangling: replacing it would write a file at the link
    p["dirlink"].symlink_to(p["dir"])
    os.mkfifo(p["fifo"])
    p["notzip"].write_text("hello")
    return p


def _snapshot(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for q in sorted(root.rglob("*")):
        rel = str(q.relative_to(root))
        out[rel] = q.read_bytes() if q.is_file() and not q.is_symlink() else None
    return out


def _refused(argv: list[str], field: str, paths: dict[str, Path], capsys) -> str:
    before = _snapshot(paths["file"].parent)
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's errors: the same form, the same status
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert re.match(rf"error: {re.escape(field)}: \S", err), err
    assert "Traceback" not in err
    assert _snapshot(paths["file"].parent) == before  # nothing written, created or replaced; no temp file left
    return err


def _compare(p: dict[str, Path], *extra: str) -> list[str]:
    return ["compare", "--methods", "original", "--cache-dir", str(p["cache"]), "--out", str(p["out"]), *extra]


COMPARE_CASES = [
    # counts
    (lambda p: _compare(p, "--seeds", "21"), "seeds"),
    (lambda p: _compare(p, "--seeds", "1000000000"), "seeds"),  # used to build a billion-seed tuple (hang)
    (lambda p: _compare(p, "--seeds", str(10**30)), "seeds"),
    (lambda p: _compare(p, "--seeds", "-1"), "seeds"),
    (lambda p: _compare(p, "--seeds", "abc"), "seeds"),  # argparse's error, in the same form
    (lambda p: _compare(p, "--shadow-models", str(10**30)), "shadow_models"),
    (lambda p: _compare(p, "--scenario", "incremental", "--steps", "1000000000"), "scenario.steps"),
    (lambda p: _compare(p, "--forget-class", str(10**30)), "scenario.forget_class"),
    # repeated keys
    (lambda p: _compare(p, "--methods", "finetune", "--hparam", "finetune.epochs=1", "--hparam", "finetune.epochs=2"),
     "hparam"),
    (lambda p: _compare(p, "--train", "epochs=1", "--train", "epochs=2"), "train"),
    (lambda p: _compare(p, "--train", "epochs"), "train"),  # NAME=VALUE without '='
    (lambda p: _compare(p, "--train", "nope=1"), "train.nope"),
    (lambda p: _compare(p, "--methods", "finetune", "--hparam", "finetune.epochs"), "hparam"),
    (lambda p: _compare(p, "--methods", "finetune", "--hparam", "finetune.lr=nan"), "methods.finetune.lr"),
    # non-finite and negative floats (argparse took "-inf" / "-1e-3" for an option)
    (lambda p: _compare(p, *NOISY, "--rate", "-inf"), "rate"),
    (lambda p: _compare(p, *NOISY, "--rate", "inf"), "rate"),
    (lambda p: _compare(p, *NOISY, "--rate", "nan"), "rate"),
    (lambda p: _compare(p, *NOISY, "--rate", "-1e-3"), "rate"),
    (lambda p: _compare(p, *NOISY, "--rate"), "rate"),
    (lambda p: _compare(p, "--labelled-fraction", "-nan"), "labelled_fraction"),
    (lambda p: _compare(p, "--scenario", "random", "--fraction", "-inf"), "scenario.fraction"),
    # devices: cuda:N with N a GPU index, checked in the spec (whether or not this machine has CUDA)
    (lambda p: _compare(p, "--device", "cuda:abc"), "device"),
    (lambda p: _compare(p, "--device", "cuda:-1"), "device"),
    (lambda p: _compare(p, "--device", "cuda:"), "device"),
    (lambda p: _compare(p, "--device", "cuda:007"), "device"),
    (lambda p: _compare(p, "--device", " cuda"), "device"),
    (lambda p: _compare(p, "--device", ""), "device"),
    # strings
    (lambda p: _compare(p, "--dataset", ""), "dataset"),
    (lambda p: _compare(p, "--dataset", "digits\n"), "dataset"),
    (lambda p: _compare(p, "--model", "ünï🙂"), "model"),
    (lambda p: _compare(p, "--methods", ","), "methods"),
    (lambda p: _compare(p, "--executor", ""), "executor"),
    (lambda p: _compare(p, "--nope"), "arguments"),
    # a preset with bad overrides
    (lambda p: _compare(p, "--preset", "pgu_depoison", "--seeds", str(10**12)), "seeds"),
    (lambda p: _compare(p, "--preset", "pgu_depoison", "--rate", "nan"), "rate"),
    (lambda p: _compare(p, "--preset", "pgu_depoison", "--rate", "-inf"), "rate"),
    (lambda p: _compare(p, "--preset", "pgu_depoison", "--hparam", "pgu.eps=1", "--hparam", "pgu.eps=2"), "hparam"),
    (lambda p: _compare(p, "--preset", "pgu_depoison", "--methods", "original,pgu", "--hparam", "pgu.eps=abc"),
     "methods.pgu.eps"),
    (lambda p: _compare(p, "--preset", "pgu_depoison", "--train", "nope=1"), "train.nope"),
    (lambda p: _compare(p, "--preset", ""), "preset"),
    # --out: checked before any work
    (lambda p: [*_compare(p)[:-1], str(p["dir"])], "out"),
    (lambda p: [*_compare(p)[:-1], str(p["link"])], "out"),
    (lambda p: [*_compare(p)[:-1], str(p["dirlink"])], "out"),
    (lambda p: [*_compare(p)[:-1], str(p["fifo"])], "out"),
    (lambda p: [*_compare(p)[:-1], str(p["dir"] / "missing" / "r.csv")], "out"),
    (lambda p: [*_compare(p)[:-1], str(p["file"] / "r.csv")], "out"),
    (lambda p: [*_compare(p)[:-1], str(p["dir"]) + "/"], "out"),
    (lambda p: [*_compare(p)[:-1], ""], "out"),
    (lambda p: [*_compare(p)[:-1], str(p["dir"] / ("x" * 300))], "out"),
    # --cache-dir / --data-dir
    (lambda p: ["compare", "--methods", "original", "--cache-dir", str(p["file"])], "cache_dir"),
    (lambda p: ["compare", "--methods", "original", "--cache-dir", str(p["file"] / "sub")], "cache_dir"),
    (lambda p: ["compare", "--methods", "original", "--cache-dir", "/dev/null"], "cache_dir"),
    (lambda p: ["compare", "--methods", "original", "--cache-dir", ""], "cache_dir"),
    (lambda p: ["compare", "--methods", "original", "--cache-dir", str(p["link"])], "cache_dir"),
    (lambda p: ["compare", "--methods", "original", "--cache-dir", str(p["dir"] / ("x" * 300))], "cache_dir"),
    (lambda p: _compare(p, "--data-dir", str(p["file"])), "data_dir"),
    (lambda p: _compare(p, "--data-dir", str(p["file"] / "d")), "data_dir"),
    (lambda p: _compare(p, "--data-dir", "/dev/null"), "data_dir"),
    (lambda p: _compare(p, "--data-dir", ""), "data_dir"),
    # list
    (lambda p: ["list", "nope"], "kind"),
    (lambda p: ["list"], "kind"),
    # bundles
    (lambda p: ["bundle", "import", str(p["dir"] / "missing.zip"), "--cache-dir", str(p["cache"])], "bundle"),
    (lambda p: ["bundle", "import", str(p["dir"]), "--cache-dir", str(p["cache"])], "bundle"),
    (lambda p: ["bundle", "import", str(p["notzip"]), "--cache-dir", str(p["cache"])], "bundle"),
    (lambda p: ["bundle", "import", str(p["file"]), "--cache-dir", str(p["cache"])], "bundle"),
    (lambda p: ["bundle", "import", "/dev/null", "--cache-dir", str(p["cache"])], "bundle"),
    (lambda p: ["bundle", "import", str(p["fifo"]), "--cache-dir", str(p["cache"])], "bundle"),  # would block
    (lambda p: ["bundle", "import", "", "--cache-dir", str(p["cache"])], "bundle"),
    (lambda p: ["bundle", "import", str(p["notzip"]), "--cache-dir", str(p["file"])], "cache_dir"),
    (lambda p: ["bundle", "export", "--out", str(p["out"]), "--cache-dir", str(p["cache"])], "cache_dir"),
    (lambda p: ["bundle", "export", "--out", str(p["out"]), "--cache-dir", str(p["file"])], "cache_dir"),
    (lambda p: ["bundle", "export", "--out", str(p["dir"]), "--cache-dir", str(p["dir"])], "out"),
    (lambda p: ["bundle", "export", "--out", str(p["link"]), "--cache-dir", str(p["dir"])], "out"),
    (lambda p: ["bundle", "export", "--out", "/dev/null", "--cache-dir", str(p["dir"])], "out"),
    (lambda p: ["bundle", "export", "--out", str(p["fifo"]), "--cache-dir", str(p["dir"])], "out"),
    (lambda p: ["bundle", "export", "--out", str(p["dir"] / "no" / "b.zip"), "--cache-dir", str(p["dir"])], "out"),
    (lambda p: ["bundle", "export", "--out", "", "--cache-dir", str(p["dir"])], "out"),
    (lambda p: ["bundle", "nope"], "bundle_command"),
]


@pytest.mark.parametrize(("build", "field"), COMPARE_CASES)
def test_hostile_input_exits_2_naming_the_field_and_writes_nothing(paths, capsys, build, field):
    _refused(build(paths), field, paths, capsys)
    assert not paths["cache"].exists() and not paths["out"].exists()
    assert paths["file"].read_text() == "keep me" and Path("/dev/null").is_char_device()


@pytest.mark.parametrize(("env", "value", "field"), [
    ("UNLEARN_CACHE_DIR", "{file}", "cache_dir"),
    ("UNLEARN_CACHE_DIR", "", "cache_dir"),  # would have meant the current directory
    ("UNLEARN_DATA_DIR", "{file}", "data_dir"),
])
def test_a_bad_directory_from_the_environment_names_the_option_and_the_variable(paths, capsys, monkeypatch, env,
                                                                                 value, field):
    monkeypatch.setenv(env, value.format(file=paths["file"]))
    argv = ["compare", "--methods", "original", "--out", str(paths["out"])]
    if env != "UNLEARN_CACHE_DIR":
        argv += ["--cache-dir", str(paths["cache"])]
    err = _refused(argv, field, paths, capsys)
    assert f"${env}" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
@pytest.mark.parametrize(("build", "field"), [
    (lambda p, ro: [*_compare(p)[:-1], str(ro / "r.csv")], "out"),
    (lambda p, ro: ["compare", "--methods", "original", "--cache-dir", str(ro)], "cache_dir"),
    (lambda p, ro: ["compare", "--methods", "original", "--cache-dir", str(ro / "c")], "cache_dir"),
    (lambda p, ro: ["bundle", "import", str(p["notzip"]), "--cache-dir", str(ro / "c")], "cache_dir"),
])
def test_no_permission_names_the_option(paths, capsys, build, field):
    ro = paths["dir"] / "readonly"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _refused(build(paths, ro), field, paths, capsys)
    finally:
        ro.chmod(0o700)


def _forge_weights(bundle: Path) -> None:
    """Replace the bundle's first ``state.pt`` with a pickle of a Python object, manifest updated to match."""
    import hashlib
    import io
    import json
    import zipfile

    import torch

    with zipfile.ZipFile(bundle) as z:
        infos = z.infolist()  # rewritten with the exporter's own settings (compression, dates, modes)
        members = {i.filename: z.read(i) for i in infos}
    name = next(n for n in members if n.endswith("/state.pt"))
    buf = io.BytesIO()
    torch.save({"w": Path("not a tensor")}, buf)
    members[name] = buf.getvalue()
    manifest = json.loads(members["manifest.json"])
    manifest["members"][name] = {"sha256": hashlib.sha256(members[name]).hexdigest(), "size": len(members[name])}
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(bundle, "w") as z:
        for info in infos:
            z.writestr(info, members[info.filename])


def test_pickled_weights_are_refused_without_suggesting_unsafe_loading(tmp_path, capsys):
    cache, bundle = tmp_path / "c", tmp_path / "b.zip"
    assert main(["compare", "--methods", "original", "--train", "epochs=1", "--cache-dir", str(cache)]) == 0
    assert main(["bundle", "export", "--with-weights", "--out", str(bundle), "--cache-dir", str(cache)]) == 0
    _forge_weights(bundle)
    capsys.readouterr()
    assert main(["bundle", "import", str(bundle), "--cache-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bundle: ") and "state.pt" in err and not (tmp_path / "d").exists()
    assert not re.search(r"weights_only\W+(set to\W+)?False", err), err  # torch's own advice must not be quoted


# -- writing --out ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_is_never_an_out_file(device):
    """Checked on the path alone (a full run against /dev/null would, as root, have replaced it by a CSV); the
    command lines above use a FIFO, the same kind of refusal."""
    assert Path(device).is_char_device()
    for field in ("out", "bundle"):
        with pytest.raises(SpecError, match="not a regular file") as e:
            check_out(device, field)
        assert e.value.field == field
    with pytest.raises(SpecError, match="symbolic link"):
        check_out("/dev/stdout")  # a link to the terminal or a pipe


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary_file(tmp_path):
    out = tmp_path / "r.csv"

    def write(f) -> None:
        f.write(b"half a csv")
        raise OSError(28, "No space left on device")

    with pytest.raises(SpecError) as e:
        write_atomic(out, write)
    assert e.value.field == "out" and "No space left" in e.value.message
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_leaves_nothing_either(tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("old")

    def write(f) -> None:
        f.write(b"new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(out, write)
    assert [q.name for q in tmp_path.iterdir()] == ["r.csv"] and out.read_text() == "old"


def test_the_out_check_is_repeated_before_writing(tmp_path):
    """The run may take hours: a link put in place meanwhile is refused at write time too."""
    out = tmp_path / "r.csv"
    check_out(str(out))
    out.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SpecError, match="symbolic link"):
        write_atomic(out, lambda f: f.write(b"x"))
    assert not (tmp_path / "elsewhere").exists()


def test_an_existing_regular_file_is_replaced_and_nothing_else_is_left(tmp_path, capsys):
    out = tmp_path / "r.csv"
    out.write_text("old results")
    rc = main(["compare", "--methods", "original", "--train", "epochs=1", "--cache-dir", str(tmp_path / "c"),
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert out.read_text().startswith("dataset,") and out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["c", "r.csv"]
    assert f"wrote {out}" in capsys.readouterr().out


def test_a_bundle_is_written_atomically_through_the_same_path(tmp_path, capsys):
    """``bundle export`` writes through :func:`write_atomic` as ``compare --out`` does."""
    cache, out = tmp_path / "c", tmp_path / "b.zip"
    assert main(["compare", "--methods", "original", "--train", "epochs=1", "--cache-dir", str(cache)]) == 0
    assert main(["bundle", "export", "--out", str(out), "--cache-dir", str(cache)]) == 0
    assert sorted(q.name for q in tmp_path.iterdir()) == ["b.zip", "c"]
    assert main(["bundle", "import", str(out), "--cache-dir", str(tmp_path / "d")]) == 0
    assert "imported 1 comparison(s)" in capsys.readouterr().out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(("args", "field"), [
    (["--paradigm", "noisy_label", "--noise", "class_subset", "--noise-targets", "1,1"], "paradigm_params.targets"),
    (["--paradigm", "noisy_label", "--noise-classes", "1,,2"], "paradigm_params.classes"),
    (["--scenario", "random", "--classes", "\u0663"], "classes"),
    (["--methods", "finetune", "--hparam", "finetune.epochs=\u0663"], "methods.finetune.epochs"),
])
def test_repeated_or_empty_classes_and_non_ascii_numbers_name_their_field(tmp_path, capsys, args, field):
    """Doubtful acceptances: a noise class listed twice or an empty item, and a number written in another script
    (``int`` reads it, but the spec would key the same run differently). The random scenario's ``classes`` stays
    lenient on repeats and empty items (a set; tests/scenarios/test_random.py)."""
    out = tmp_path / "x.csv"
    assert main(["compare", *args, "--cache-dir", str(tmp_path / "c"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {field}: ")
    assert not out.exists() and not (tmp_path / "c").exists()
