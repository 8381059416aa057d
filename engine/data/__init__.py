"""Dataset registry and loading. Importing this package registers every dataset."""

from engine.data import digits, torchvision_sets  # noqa: F401  (registration)
from engine.data.base import DATA_DIR_ENV, DATASETS, DatasetInfo, ImageData, default_data_dir
from engine.data.loading import DatasetUnavailable, load_dataset

__all__ = ["DATASETS", "DATA_DIR_ENV", "DatasetInfo", "DatasetUnavailable", "ImageData", "default_data_dir",
           "load_dataset"]
