"""Training of the original and retrained models, and training-time state recording."""

from engine.training.config import DEFAULTS, TrainConfig, default_train_config
from engine.training.loop import StepHook, TrainingContext, TrainResult, augment, fit, make_optimizer, predict_logits

__all__ = ["DEFAULTS", "StepHook", "TrainConfig", "TrainResult", "TrainingContext", "augment", "default_train_config",
           "fit", "make_optimizer", "predict_logits"]
