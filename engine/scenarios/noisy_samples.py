"""``noisy_labels``: forget the mislabelled training samples (LAF noisy-label removal; PGU de-poisoning).

Requires the ``noisy_label`` paradigm: the forget set is (a fraction of) the samples whose observed
label differs from the true one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.scenarios.base import SCENARIOS, Scenario, SelectInputs, Selection, sample_fraction, touched


@dataclass(frozen=True)
class NoisyConfig:
    """Parameters of noisy-label removal."""

    fraction: float = param(1.0, "share of the mislabelled samples to forget (1 = all)", range=(0.0001, 1.0),
                            cost="linear")


def select(inp: SelectInputs, cfg: NoisyConfig) -> Selection:
    """The (seeded share of the) samples whose observed label is wrong."""
    y = inp.data.y_train.cpu()
    wrong = torch.nonzero(inp.supervision.labels.cpu() != y).flatten()
    idx = sample_fraction(wrong, cfg.fraction, inp.generator) if cfg.fraction < 1.0 else wrong
    return Selection((idx,), (), touched(y, idx), None)


SCENARIOS.register(Scenario(
    key="noisy_labels", title="Mislabelled samples", config=NoisyConfig, select=select, paradigms=("noisy_label",),
    description="Forget the training samples whose label was corrupted (requires the noisy-label paradigm).",
    source="LAF noisy-label removal, PGU de-poisoning",
))
