"""Lint: no code in engine/ draws from torch's global RNG (DESIGN.md "Evaluation protocol": randomness from the job).

Threads share torch's global RNG, so a draw from it makes stored results depend on what other threads do.
Every random call must pass an explicit ``generator=``; nothing in engine/ seeds, forks or draws from the global
RNG (models are built on the meta device and initialised from a generator: engine/models/init.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"
ALLOWED_FILES: set[str] = set()
# torch functions that draw random numbers and accept ``generator=``
RANDOM_FUNCS = {"rand", "randn", "randint", "randperm", "bernoulli", "multinomial", "normal", "poisson"}
# in-place tensor methods that draw random numbers
RANDOM_METHODS = {"normal_", "uniform_", "bernoulli_", "random_", "exponential_", "cauchy_", "log_normal_",
                  "geometric_"}
# calls that seed / fork / read the global RNG
GLOBAL_SEEDING = {"manual_seed", "seed", "fork_rng", "set_rng_state", "initial_seed"}
# nn.init functions that draw (they accept ``generator=``)
INIT_FUNCS = {"uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
              "kaiming_normal_", "orthogonal_", "sparse_"}
GLOBAL_ONLY = {"rand_like", "randn_like", "randint_like", "dropout", "Dropout", "Dropout1d", "Dropout2d",
               "Dropout3d", "AlphaDropout", "FeatureAlphaDropout", "alpha_dropout", "feature_alpha_dropout",
               "dropout1d", "dropout2d", "dropout3d"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return ""


def violations(source: str, filename: str) -> list[str]:
    """Lines of ``source`` that draw from or seed torch's global RNG."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        parts = name.split(".")
        last = parts[-1]
        has_gen = any(k.arg == "generator" for k in node.keywords)
        where = f"{filename}:{node.lineno}: {name}"
        torchy = parts[0] in ("torch", "nn", "F", "init") or (len(parts) == 1)
        if last in GLOBAL_SEEDING and ("torch" in parts or "random" in parts or "cuda" in parts) \
                and not (len(parts) >= 2 and parts[-2] in ("Generator",)) and "Generator" not in name:
            if not (isinstance(node.func, ast.Attribute) and _dotted(node.func.value).endswith(")")):
                out.append(f"{where} (seeds or forks the global RNG)")
        elif last in RANDOM_FUNCS and parts[0] == "torch" and not has_gen:
            out.append(f"{where} without generator=")
        elif last in RANDOM_METHODS and not has_gen and not (parts[0] in ("rng", "np") or "rng" in parts):
            out.append(f"{where} without generator=")
        elif last in INIT_FUNCS and "init" in parts and not has_gen:
            out.append(f"{where} without generator=")
        elif last in GLOBAL_ONLY and torchy and parts[0] != "np":
            out.append(f"{where} (draws from the global RNG; use engine.rng.SeededDropout / a generator)")
    return out


def engine_violations() -> list[str]:
    out = []
    for path in sorted(ENGINE.rglob("*.py")):
        if path.name in ALLOWED_FILES and path.parent == ENGINE:
            continue
        out.extend(violations(path.read_text(), str(path.relative_to(ENGINE.parent))))
    return out


def test_engine_never_uses_the_global_rng() -> None:
    assert engine_violations() == []


def test_the_lint_catches_global_draws() -> None:
    bad = """
import torch
from torch import nn
torch.manual_seed(0)
x = torch.rand(3)
p = torch.randperm(5)
w = torch.empty(3).normal_()
nn.init.kaiming_uniform_(w)
d = nn.Dropout(0.5)
with torch.random.fork_rng():
    pass
"""
    found = violations(bad, "bad.py")
    assert len(found) == 7, found
    good = """
import torch
g = torch.Generator().manual_seed(0)
x = torch.rand(3, generator=g)
p = torch.randperm(5, generator=g)
w = torch.empty(3).normal_(generator=g)
rng = np.random.default_rng(0)
y = rng.normal(size=3)
"""
    assert violations(good, "good.py") == []
