"""The torchvision datasets load from tiny locally written files, in the right layout and normalisation."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from engine.data import DATASETS, DatasetUnavailable, ImageData, load_dataset
from engine.data.torchvision_sets import VERIFY_ENV, verify_checksums
from tests.data.conftest import Written, fine_to_coarse

KEYS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn")
EXPECTED_FILES = {
    "mnist": ("MNIST/raw", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                            "t10k-labels-idx1-ubyte"]),
    "fashion_mnist": ("FashionMNIST/raw", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]),
    "cifar100": ("cifar-100-python", ["train", "test", "meta"]),
    "svhn": ("svhn", ["train_32x32.mat", "test_32x32.mat"]),
}


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the generated files, whose md5 differs from the published ones."""
    monkeypatch.setenv(VERIFY_ENV, "0")


@pytest.fixture
def verify(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default: torchvision's md5 verification applies."""
    monkeypatch.delenv(VERIFY_ENV, raising=False)


@pytest.fixture
def written(request: pytest.FixtureRequest) -> Written:
    """The generated files of the dataset named by the test's ``key`` parameter."""
    return request.getfixturevalue(f"{request.node.callspec.params['key']}_dir")


def _load(key: str, data_dir: Path, **kwargs: object) -> ImageData:
    return DATASETS.get(key).loader(data_dir, download=False, **kwargs)


def _raw(data: ImageData, x: torch.Tensor) -> np.ndarray:
    """Undo normalisation and scaling: back to the uint8 pixels that were written."""
    m = torch.tensor(data.mean).view(1, -1, 1, 1)
    s = torch.tensor(data.std).view(1, -1, 1, 1)
    return torch.round((x * s + m) * 255).to(torch.uint8).numpy()


@pytest.mark.usefixtures("trust")
@pytest.mark.parametrize("key", KEYS)
def test_loads_with_layout_labels_and_normalisation(key: str, written: Written) -> None:
    info = DATASETS.get(key)
    data = _load(key, written.data_dir)
    assert data.name == key
    assert data.input_shape == info.input_shape
    assert data.x_train.dtype == data.x_test.dtype == torch.float32
    assert data.y_train.dtype == data.y_test.dtype == torch.int64
    assert data.x_train.shape == (len(written.y_train), *info.input_shape)
    assert data.x_test.shape == (len(written.y_test), *info.input_shape)
    assert data.num_classes == info.num_classes == len(data.class_names)
    # labels and pixels come back exactly as written (so CIFAR's NHWC and SVHN's HWCN are transposed right)
    np.testing.assert_array_equal(data.y_train.numpy(), written.y_train)
    np.testing.assert_array_equal(data.y_test.numpy(), written.y_test)
    np.testing.assert_array_equal(_raw(data, data.x_train), written.x_train)
    np.testing.assert_array_equal(_raw(data, data.x_test), written.x_test)
    # standardised with the training split's own per-channel statistics
    channels = info.input_shape[0]
    assert len(data.mean) == len(data.std) == channels
    assert torch.allclose(data.x_train.mean(dim=(0, 2, 3)), torch.zeros(channels), atol=1e-4)
    assert torch.allclose(data.x_train.std(dim=(0, 2, 3)), torch.ones(channels), atol=1e-3)
    assert data.groups_train is None and data.groups_test is None


@pytest.mark.usefixtures("trust")
def test_class_names_come_from_torchvision(mnist_dir: Written, fashion_mnist_dir: Written,
                                           cifar10_dir: Written) -> None:
    assert _load("mnist", mnist_dir.data_dir).class_names[0] == "0 - zero"
    assert _load("fashion_mnist", fashion_mnist_dir.data_dir).class_names[-1] == "Ankle boot"
    assert list(_load("cifar10", cifar10_dir.data_dir).class_names) == cifar10_dir.extra["names"]


@pytest.mark.usefixtures("trust")
def test_svhn_label_10_is_digit_0(svhn_dir: Written) -> None:
    data = _load("svhn", svhn_dir.data_dir)
    assert int(data.y_train.max()) == 9 and int(data.y_train.min()) == 0
    assert int((data.y_train == 0).sum()) == int((svhn_dir.y_train == 0).sum()) > 0
    assert data.class_names == tuple(str(i) for i in range(10))


@pytest.mark.usefixtures("trust")
def test_cifar100_fine_by_default(cifar100_dir: Written) -> None:
    data = _load("cifar100", cifar100_dir.data_dir)
    assert data.num_classes == 100
    assert list(data.class_names) == cifar100_dir.extra["fine_names"]
    assert data.groups_train is None and data.group_parent == ()


@pytest.mark.usefixtures("trust")
def test_cifar100_coarse_uses_super_classes_with_fine_groups(cifar100_dir: Written) -> None:
    data = _load("cifar100", cifar100_dir.data_dir, coarse=True)
    assert DATASETS.get("cifar100").has_groups
    assert data.num_classes == 20
    assert list(data.class_names) == cifar100_dir.extra["coarse_names"]
    np.testing.assert_array_equal(data.y_train.numpy(), fine_to_coarse(cifar100_dir.y_train))
    np.testing.assert_array_equal(data.y_test.numpy(), fine_to_coarse(cifar100_dir.y_test))
    assert data.groups_train is not None and data.groups_test is not None
    assert data.groups_train.dtype == torch.int64
    np.testing.assert_array_equal(data.groups_train.numpy(), cifar100_dir.y_train)
    np.testing.assert_array_equal(data.groups_test.numpy(), cifar100_dir.y_test)
    assert list(data.group_names) == cifar100_dir.extra["fine_names"]
    assert data.group_parent == tuple(int(c) for c in fine_to_coarse(np.arange(100)))
    parent = torch.tensor(data.group_parent)
    assert torch.equal(parent[data.groups_train], data.y_train)
    assert torch.equal(parent[data.groups_test], data.y_test)


@pytest.mark.usefixtures("trust")
def test_load_dataset_goes_through_the_registry(cifar10_dir: Written) -> None:
    data = load_dataset("cifar10", cifar10_dir.data_dir, download=False)
    assert data.x_train.device.type == "cpu" and data.num_classes == 10


@pytest.mark.usefixtures("trust")
@pytest.mark.parametrize("key", KEYS)
def test_missing_files_without_download_name_files_and_directory(key: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailable) as err:
        _load(key, tmp_path)
    message = str(err.value)
    folder, files = EXPECTED_FILES[key]
    assert str(tmp_path / folder) in message
    for name in files:
        assert name in message
    assert key in message and "UNLEARN_DATA_DIR" in message and "--data-dir" in message
    assert "downloading is disabled" in message


@pytest.mark.usefixtures("trust")
def test_failed_download_is_reported_as_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("no network")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    with pytest.raises(DatasetUnavailable, match="downloading failed.*no network") as err:
        DATASETS.get("cifar10").loader(tmp_path, download=True)
    assert str(tmp_path / "cifar-10-batches-py") in str(err.value)


@pytest.mark.usefixtures("trust")
def test_present_files_are_not_downloaded_again(svhn_dir: Written, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not download")

    monkeypatch.setattr("torchvision.datasets.svhn.download_url", forbidden)
    data = DATASETS.get("svhn").loader(svhn_dir.data_dir, download=True)
    assert len(data.y_train) == len(svhn_dir.y_train)


@pytest.mark.usefixtures("verify")
@pytest.mark.parametrize("key", ["cifar10", "cifar100", "svhn"])
def test_checksums_are_verified_by_default(key: str, written: Written) -> None:
    with pytest.raises(DatasetUnavailable) as err:
        _load(key, written.data_dir)
    message = str(err.value)
    assert "md5" in message and f"{VERIFY_ENV}=0" in message
    assert str(written.data_dir / EXPECTED_FILES[key][0]) in message


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("1", True), ("0", False), ("false", False),
                                                 ("off", False), ("yes", True)])
def test_verify_env_values(value: str | None, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv(VERIFY_ENV, raising=False)
    else:
        monkeypatch.setenv(VERIFY_ENV, value)
    assert verify_checksums() is expected


def test_registry_entries() -> None:
    expected_models = {"mnist": ("mlp", "cnn"), "fashion_mnist": ("cnn",),
                       "cifar10": ("resnet18", "allcnn", "smallvgg", "resnet50"), "cifar100": ("resnet18",),
                       "svhn": ("resnet18",)}
    for key in KEYS:
        info = DATASETS.get(key)
        assert info.key == key and info.default_models == expected_models[key]
        assert not info.offline and info.files
        assert info.has_groups is (key == "cifar100")


def test_file_lists_agree_with_torchvision() -> None:
    """The module names CIFAR's files without importing torchvision; they must be the ones torchvision reads."""
    from torchvision import datasets as tv

    from engine.data import torchvision_sets as ts

    for src, cls in ((ts._CIFAR10, tv.CIFAR10), (ts._CIFAR100, tv.CIFAR100)):
        assert src.folder == cls.base_folder
        assert set(src.files) == {n for n, _ in cls.train_list + cls.test_list} | {cls.meta["filename"]}
