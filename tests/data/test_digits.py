"""The embedded digits dataset: fixed, stratified, deterministic split."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.data import DATASETS


def test_digits_shapes_split_and_determinism(tmp_path: Path) -> None:
    info = DATASETS.get("digits")
    assert info.offline and info.input_shape == (1, 8, 8) and info.num_classes == 10
    a = info.loader(tmp_path, download=False)
    b = info.loader(tmp_path, download=False)
    assert a.input_shape == (1, 8, 8) and a.num_classes == 10 and len(a.class_names) == 10
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_test.shape == (360, 1, 8, 8)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert a.mean == b.mean and a.std == b.std
    assert abs(float(a.x_train.mean())) < 1e-4


def test_digits_split_is_stratified(tmp_path: Path) -> None:
    data = DATASETS.get("digits").loader(tmp_path)
    train = torch.bincount(data.y_train, minlength=10)
    test = torch.bincount(data.y_test, minlength=10)
    assert set(data.y_train.tolist()) == set(data.y_test.tolist()) == set(range(10))
    share = test.float() / (train + test).float()
    assert torch.all((share - 0.2).abs() < 0.02)


def test_digits_memo_is_exact_and_skips_sklearn(tmp_path: Path) -> None:
    """The memoised split equals scikit-learn's; a second process loads it without importing sklearn.datasets."""
    import subprocess
    import sys

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    first = DATASETS.get("digits").loader(tmp_path)
    assert len(list((tmp_path / "digits").glob("digits-*.npz"))) == 1
    bunch = load_digits()
    raw = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    tr, te = train_test_split(list(range(len(raw))), test_size=0.2, stratify=bunch.target, random_state=0)
    tr, te = torch.tensor(sorted(tr)), torch.tensor(sorted(te))
    mean, std = raw[tr].mean().item(), raw[tr].std().item()
    assert torch.allclose(first.x_train, (raw[tr] - mean) / std, atol=1e-5)
    assert torch.allclose(first.x_test, (raw[te] - mean) / std, atol=1e-5)
    assert torch.equal(first.y_test, torch.tensor(bunch.target)[te])
    second = DATASETS.get("digits").loader(tmp_path)  # from the memo
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_train, second.y_train)
    code = ("import sys; from pathlib import Path; from engine.data.digits import load; "
            f"d = load(Path({str(tmp_path)!r})); print(int(d.y_train.sum()), 'sklearn.datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(int(first.y_train.sum())), "False"]


def test_digits_unwritable_data_dir_still_loads(tmp_path: Path) -> None:
    """When the memo cannot be written (here the data directory is a file), the data is built in memory."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("x")
    data = DATASETS.get("digits").loader(blocked)
    assert data.x_train.shape == (1437, 1, 8, 8)
    assert blocked.read_text() == "x"
