"""Test-session setup: one torch thread (2-core machines thrash with more; results stay deterministic)."""

import torch

torch.set_num_threads(1)
