"""Learning paradigms. Importing this package registers every paradigm."""

from engine.paradigms import label_free, noisy_label, partial_label, supervised  # noqa: F401
from engine.paradigms.base import PARADIGMS, Paradigm, Supervision, cross_entropy, one_hot_supervision

__all__ = ["PARADIGMS", "Paradigm", "Supervision", "cross_entropy", "one_hot_supervision"]
