"""Freshly initialised networks of the run's architecture (Bad Teacher's incompetent teacher, EU-k's reset)."""

from __future__ import annotations

import torch
from torch import nn

from engine.methods.base import UnlearnContext
from engine.models import build_model


def random_network(ctx: UnlearnContext, num_classes: int, stream: int) -> nn.Module:
    """A freshly initialised network of the run's architecture, seeded from ``ctx`` (global RNG untouched)."""
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=ctx.generator(stream)))
    return build_model(ctx.model_key, ctx.input_shape, num_classes, seed=seed).to(ctx.device)
