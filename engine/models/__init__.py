"""Model zoo. Importing this package registers every architecture in :data:`MODELS`."""

from engine.models import allcnn, cnn, mlp, resnet, smallvgg  # noqa: F401  (registration)
from engine.models.base import MODELS, ModelInfo, SplitModel, build_model

__all__ = ["MODELS", "ModelInfo", "SplitModel", "build_model"]
