"""``incremental``: k successive forget requests of n samples each, carrying the model (PGU Sec. 4: 4 x 1 000).

Each request draws ``count`` new samples (seeded) from the not-yet-forgotten training set, per class
in equal shares as in PGU (samples 0-100, 100-200, ... of every class) or from one class. Methods run
once per request; metrics are measured on the cumulative forget set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.errors import SpecError
from engine.scenarios.base import SCENARIOS, Scenario, SelectInputs, Selection, check_class, touched


@dataclass(frozen=True)
class IncrementalConfig:
    """Parameters of incremental forgetting."""

    count: int = param(50, "samples per request (PGU: 1 000 = 100 per class)", range=(1, 10_000_000), cost="linear")
    steps: int = param(4, "number of successive requests (PGU: 4)", range=(1, 100), cost="linear")
    forget_class: int | None = param(None, "draw from one class only (empty = every class in equal shares)",
                                     range=(0, 999))


def select(inp: SelectInputs, cfg: IncrementalConfig) -> Selection:
    """``steps`` disjoint seeded requests of ``count`` samples each."""
    y = inp.data.y_train.cpu()
    k = inp.data.num_classes
    if cfg.forget_class is not None:
        check_class(cfg.forget_class, k)
        pools = [torch.nonzero(y == cfg.forget_class).flatten()]
    else:
        pools = [torch.nonzero(y == c).flatten() for c in range(k)]
    pools = [p[torch.randperm(p.numel(), generator=inp.generator)] for p in pools]
    per_pool = [cfg.count // len(pools) + (1 if i < cfg.count % len(pools) else 0) for i in range(len(pools))]
    need = [n * cfg.steps for n in per_pool]
    for p, n in zip(pools, need, strict=True):
        if n > p.numel():
            raise SpecError("count", f"{cfg.steps} requests of {cfg.count} samples need {n} samples of a class "
                                     f"that has {p.numel()}")
    requests = []
    for s in range(cfg.steps):
        parts = [p[s * n:(s + 1) * n] for p, n in zip(pools, per_pool, strict=True)]
        requests.append(torch.cat(parts).sort().values)
    union = torch.cat(requests)
    return Selection(tuple(requests), (), touched(y, union), None)


SCENARIOS.register(Scenario(
    key="incremental", title="Incremental requests", config=IncrementalConfig, select=select,
    description="Several successive forget requests; each method unlearns them one after another.",
    source="PGU (4 x 1 000 samples)",
))
