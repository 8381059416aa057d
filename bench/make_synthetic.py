"""Write SYNTHETIC CIFAR-10 / CIFAR-100 files (random pixels, random labels) for timing runs only.

The files have torchvision's on-disk format, so the engine loads them as it loads the real datasets:

    <data dir>/cifar-10-batches-py/   data_batch_1 .. data_batch_5, test_batch, batches.meta
    <data dir>/cifar-100-python/      train, test, meta

each a pickled dict as in the original archives (``data``: uint8 ``(N, 3072)`` rows, channel-major 32x32;
``labels`` for CIFAR-10, ``fine_labels`` + ``coarse_labels`` for CIFAR-100; ``batches.meta`` / ``meta`` with
the class names). Full size by default: 50 000 training and 10 000 test images, classes balanced.

They are NOT the datasets: every pixel is uniform noise, so accuracies on them mean nothing; only the work
(tensor shapes, epochs, steps) is that of the real thing. Everything says so: a ``SYNTHETIC.txt`` marker in the
data directory and in each dataset folder, class names ``synthetic_<i>``, ``batch_label`` texts, this script's
output, and ``bench/bench_full_comparison.py`` prints a banner when the data directory has the marker.

torchvision checks the md5 of every CIFAR file, which these fail by construction: load them with
``UNLEARN_VERIFY_CHECKSUMS=0`` (``engine/data/torchvision_sets.py``). The data directory must be empty or already
hold synthetic files (its marker): the script refuses any other, which may hold real datasets. Use a fresh results
cache for synthetic runs too: results are cached by dataset name, not by file content.

    .venv/bin/python bench/make_synthetic.py /tmp/synthetic-data                   # both, full size
    .venv/bin/python bench/make_synthetic.py /tmp/synthetic-data --datasets cifar10 --train-per-class 20
"""

from __future__ import annotations

import argparse
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MARKER = "SYNTHETIC.txt"
MARKER_TEXT = ("SYNTHETIC DATA, for timing only: random pixels and random labels written by bench/make_synthetic.py "
               "in torchvision's CIFAR file format. It is not CIFAR; accuracies on it mean nothing. Results computed "
               "on it must never be mixed with real ones (use a separate results cache).\n")
IMAGE_SHAPE = (3, 32, 32)
CIFAR10_BATCHES = 5


@dataclass(frozen=True)
class Layout:
    """One dataset's folder, class counts and full-size per-class image counts."""

    key: str
    folder: str
    classes: int
    train_per_class: int
    test_per_class: int


LAYOUTS = {
    "cifar10": Layout("cifar10", "cifar-10-batches-py", 10, 5000, 1000),
    "cifar100": Layout("cifar100", "cifar-100-python", 100, 500, 100),
}
CIFAR100_FINE_PER_COARSE = 5  # as in the real CIFAR-100: 20 super-classes of 5 classes


def is_synthetic(data_dir: Path) -> bool:
    """Whether ``data_dir`` (or a dataset folder in it) carries this script's marker."""
    data_dir = Path(data_dir)
    return (data_dir / MARKER).is_file() or any((data_dir / lay.folder / MARKER).is_file()
                                                for lay in LAYOUTS.values())


def _split(rng: np.random.Generator, classes: int, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform uint8 images as CIFAR rows ``(N, 3072)`` and shuffled balanced labels."""
    labels = rng.permutation(np.repeat(np.arange(classes, dtype=np.int64), per_class))
    data = rng.integers(0, 256, size=(labels.size, int(np.prod(IMAGE_SHAPE))), dtype=np.uint8)
    return data, labels


def _dump(path: Path, obj: dict[str, Any]) -> None:
    """Pickle ``obj`` the way torchvision reads CIFAR's files (``pickle.load(f, encoding="latin1")``).

    The originals are Python 2 pickles; protocol 4 keeps the pixel bytes raw (Python 3's protocol 2 stores
    ``bytes`` as latin-1 text and makes the files half as large again).
    """
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


def _names(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"synthetic_{prefix}{i}" for i in range(start, start + n)]


def _claim(folder: Path) -> None:
    """Create ``folder`` and mark it synthetic, refusing one that holds anything but synthetic files."""
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise SystemExit(f"error: {folder} is not empty and has no {MARKER} marker: it may hold real datasets. "
                         f"Write synthetic files into an empty directory of their own.")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(MARKER_TEXT)


def write_cifar10(data_dir: Path, train_per_class: int, test_per_class: int, rng: np.random.Generator) -> Path:
    """Write synthetic ``cifar-10-batches-py`` (five training batches, a test batch, ``batches.meta``)."""
    lay = LAYOUTS["cifar10"]
    folder = Path(data_dir) / lay.folder
    _claim(folder)
    x_train, y_train = _split(rng, lay.classes, train_per_class)
    for i, (xb, yb) in enumerate(zip(np.array_split(x_train, CIFAR10_BATCHES), np.array_split(y_train, CIFAR10_BATCHES),
                                     strict=True), start=1):
        _dump(folder / f"data_batch_{i}", {
            "batch_label": f"SYNTHETIC training batch {i} of {CIFAR10_BATCHES} (random pixels; timing only)",
            "labels": yb.tolist(), "data": xb,
            "filenames": [f"synthetic_train_{i}_{j}.png" for j in range(len(yb))]})
    x_test, y_test = _split(rng, lay.classes, test_per_class)
    _dump(folder / "test_batch", {"batch_label": "SYNTHETIC testing batch 1 of 1 (random pixels; timing only)",
                                  "labels": y_test.tolist(), "data": x_test,
                                  "filenames": [f"synthetic_test_{j}.png" for j in range(len(y_test))]})
    _dump(folder / "batches.meta", {"label_names": _names("", lay.classes),
                                    "num_cases_per_batch": int(np.ceil(len(y_train) / CIFAR10_BATCHES)),
                                    "num_vis": int(np.prod(IMAGE_SHAPE))})
    return folder


def write_cifar100(data_dir: Path, train_per_class: int, test_per_class: int, rng: np.random.Generator) -> Path:
    """Write synthetic ``cifar-100-python`` (``train``, ``test``, ``meta``; fine class ``f`` lies in super-class
    ``f // 5``)."""
    lay = LAYOUTS["cifar100"]
    folder = Path(data_dir) / lay.folder
    _claim(folder)
    for name, per_class in (("train", train_per_class), ("test", test_per_class)):
        x, fine = _split(rng, lay.classes, per_class)
        coarse = fine // CIFAR100_FINE_PER_COARSE
        _dump(folder / name, {"batch_label": f"SYNTHETIC {name}ing batch 1 of 1 (random pixels; timing only)",
                              "fine_labels": fine.tolist(), "coarse_labels": coarse.tolist(), "data": x,
                              "filenames": [f"synthetic_{name}_{j}.png" for j in range(len(fine))]})
    _dump(folder / "meta", {"fine_label_names": _names("", lay.classes),
                            "coarse_label_names": _names("super", lay.classes // CIFAR100_FINE_PER_COARSE)})
    return folder


WRITERS = {"cifar10": write_cifar10, "cifar100": write_cifar100}


def write(data_dir: Path, datasets: tuple[str, ...] = ("cifar10", "cifar100"), train_per_class: int | None = None,
          test_per_class: int | None = None, seed: int = 0) -> dict[str, Path]:
    """Write the synthetic ``datasets`` into ``data_dir`` (full size unless per-class counts are given)."""
    unknown = [k for k in datasets if k not in WRITERS]
    if unknown or not datasets:
        raise SystemExit(f"error: unknown dataset(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(WRITERS)}")
    for name, v in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if v is not None and v < 1:
            raise SystemExit(f"error: {name} must be at least 1, got {v}")
    data_dir = Path(data_dir)
    _claim(data_dir)
    out = {}
    for key in datasets:
        lay = LAYOUTS[key]
        rng = np.random.default_rng([seed, list(WRITERS).index(key)])
        out[key] = WRITERS[key](data_dir, lay.train_per_class if train_per_class is None else train_per_class,
                                lay.test_per_class if test_per_class is None else test_per_class, rng)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data_dir", type=Path, help="data directory to write into (not the one with the real datasets)")
    p.add_argument("--datasets", default="cifar10,cifar100", help="comma-separated: cifar10, cifar100")
    p.add_argument("--train-per-class", type=int, default=None, help="training images per class (default: full size)")
    p.add_argument("--test-per-class", type=int, default=None, help="test images per class (default: full size)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    written = write(args.data_dir, datasets, args.train_per_class, args.test_per_class, args.seed)
    for key, folder in written.items():
        lay = LAYOUTS[key]
        n_train = (args.train_per_class or lay.train_per_class) * lay.classes
        n_test = (args.test_per_class or lay.test_per_class) * lay.classes
        print(f"SYNTHETIC {key}: {n_train} training + {n_test} test images of random pixels in {folder} "
              f"(timing only; load with UNLEARN_VERIFY_CHECKSUMS=0)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
