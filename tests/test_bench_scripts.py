"""The GPU-check scripts (issue 13 part 6): ``bench/gpu_check.sh`` stops at once, loudly, without a CUDA device;
``bench/make_synthetic.py`` writes CIFAR files the engine loads (and labels them synthetic); a CPU dry run of
``gpu_check.sh`` goes through every step."""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch

from engine.data import load_dataset
from engine.data.loading import DatasetUnavailable

ROOT = Path(__file__).resolve().parents[1]
GPU_CHECK = ROOT / "bench" / "gpu_check.sh"
MAKE_SYNTHETIC = ROOT / "bench" / "make_synthetic.py"
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
CIFAR100_FILES = ["train", "test", "meta"]


def _module() -> ModuleType:
    """``bench/make_synthetic.py`` imported as a module (``bench/`` is no package)."""
    spec = importlib.util.spec_from_file_location("make_synthetic", MAKE_SYNTHETIC)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get("make_synthetic") or importlib.util.module_from_spec(spec)
    sys.modules["make_synthetic"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, check=False)


# ---- gpu_check.sh ---------------------------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible: the check would run")
def test_gpu_check_fails_fast_and_loudly_without_cuda(tmp_path: Path) -> None:
    start = time.perf_counter()
    done = _run(["bash", str(GPU_CHECK)], {"PYTHON": sys.executable}, timeout=120)
    elapsed = time.perf_counter() - start
    assert done.returncode == 2, done.stdout + done.stderr
    assert "gpu_check: FAILED: no CUDA device is visible" in done.stderr  # on stderr
    assert "torch.cuda.is_available() is False" in done.stderr and "needs one NVIDIA GPU" in done.stderr
    assert "[1/3]" not in done.stdout + done.stderr  # nothing else ran
    assert elapsed < 60
    logged = _run(["bash", str(GPU_CHECK), "--out", str(tmp_path)], {"PYTHON": sys.executable}, timeout=120)
    assert logged.returncode == 2 and "no CUDA device is visible" in (tmp_path / "gpu_check.log").read_text()


def test_gpu_check_refuses_unknown_arguments() -> None:
    done = _run(["bash", str(GPU_CHECK), "--frobnicate"], timeout=30)
    assert done.returncode == 64 and "unknown argument --frobnicate" in done.stderr


@pytest.mark.slow
def test_gpu_check_dry_run_on_cpu_goes_through_every_step(tmp_path: Path) -> None:
    """``GPU_CHECK_DEVICE=cpu`` with tiny settings: the tests step (CUDA tests skip), the synthetic data, the
    comparison with its table and CSV, all labelled synthetic."""
    out = tmp_path / "out"
    done = _run(["bash", str(GPU_CHECK), "--out", str(out)],
                {"PYTHON": sys.executable, "GPU_CHECK_DEVICE": "cpu", "GPU_CHECK_PER_CLASS": "10",
                 "GPU_CHECK_MODEL": "cnn", "GPU_CHECK_METHODS": "finetune", "GPU_CHECK_TRAIN": "epochs=1"})
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    for needle in ("DRY RUN", "[1/3]", "[2/3]", "[3/3]", "SYNTHETIC DATA", "| finetune | ok |",
                   "speed-up vs retrain", "gpu_check: OK"):
        assert needle in text, needle
    assert "SKIPPED" in (out / "pytest.log").read_text()  # the CUDA tests, collected and skipped
    assert (out / "comparison.csv").read_text().startswith("dataset,")
    assert "gpu_check: OK" in (out / "gpu_check.log").read_text()


# ---- make_synthetic.py ----------------------------------------------------------------------------------------------
def test_synthetic_cifar_files_load_through_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = _run([sys.executable, str(MAKE_SYNTHETIC), str(tmp_path), "--train-per-class", "3",
                 "--test-per-class", "2"], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("SYNTHETIC") == 2 and "timing only" in done.stdout
    ten, hundred = tmp_path / "cifar-10-batches-py", tmp_path / "cifar-100-python"
    assert sorted(p.name for p in ten.iterdir()) == sorted([*CIFAR10_FILES, "SYNTHETIC.txt"])
    assert sorted(p.name for p in hundred.iterdir()) == sorted([*CIFAR100_FILES, "SYNTHETIC.txt"])
    assert "SYNTHETIC DATA" in (tmp_path / "SYNTHETIC.txt").read_text()
    assert _module().is_synthetic(tmp_path) and not _module().is_synthetic(tmp_path / "elsewhere")

    with pytest.raises(DatasetUnavailable, match="md5"):  # torchvision's checksums reject them by default
        load_dataset("cifar10", tmp_path, download=False)
    monkeypatch.setenv("UNLEARN_VERIFY_CHECKSUMS", "0")
    c10 = load_dataset("cifar10", tmp_path, download=False)
    assert tuple(c10.x_train.shape) == (30, 3, 32, 32) and tuple(c10.x_test.shape) == (20, 3, 32, 32)
    assert c10.num_classes == 10 and c10.class_names == tuple(f"synthetic_{i}" for i in range(10))
    assert torch.equal(c10.y_train.bincount(), torch.full((10,), 3))
    c100 = load_dataset("cifar100", tmp_path, download=False)
    assert tuple(c100.x_train.shape) == (300, 3, 32, 32) and c100.num_classes == 100
    coarse = load_dataset("cifar100", tmp_path, coarse=True, download=False)
    assert coarse.num_classes == 20 and coarse.class_names[0] == "synthetic_super0"
    assert torch.equal(coarse.y_train, coarse.groups_train // 5)  # fine f lies in super-class f // 5


def test_synthetic_pixels_are_the_written_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader's images are the pickled rows (CIFAR's channel-major layout), before normalisation."""
    _module().write(tmp_path, ("cifar10",), train_per_class=2, test_per_class=1, seed=4)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    assert batch["data"].dtype.name == "uint8" and batch["data"].shape[1] == 3072
    assert "SYNTHETIC" in batch["batch_label"]
    monkeypatch.setenv("UNLEARN_VERIFY_CHECKSUMS", "0")
    data = load_dataset("cifar10", tmp_path, download=False)
    raw = torch.as_tensor(batch["data"]).reshape(-1, 3, 32, 32).float() / 255.0
    std, mean = torch.tensor(data.std).view(1, -1, 1, 1), torch.tensor(data.mean).view(1, -1, 1, 1)
    first = data.x_train[: raw.shape[0]] * std + mean
    torch.testing.assert_close(first, raw, rtol=0, atol=1e-5)
    assert data.y_train[: raw.shape[0]].tolist() == batch["labels"]


def test_make_synthetic_refuses_a_directory_with_other_files(tmp_path: Path) -> None:
    real = tmp_path / "cifar-10-batches-py"
    real.mkdir()
    (real / "data_batch_1").write_bytes(b"real data, perhaps")
    done = _run([sys.executable, str(MAKE_SYNTHETIC), str(tmp_path), "--train-per-class", "1",
                 "--test-per-class", "1"], timeout=120)
    assert done.returncode != 0 and "may hold real datasets" in done.stderr
    assert (real / "data_batch_1").read_bytes() == b"real data, perhaps"
    assert not (tmp_path / "SYNTHETIC.txt").exists()
