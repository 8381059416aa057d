"""CF-k's defining mechanism: only the last k blocks and the head change; the block definition per architecture."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.config import build_config
from engine.methods import METHODS
from engine.methods.cf_k import CFkConfig
from engine.methods.shared.blocks import feature_blocks, last_k_blocks
from engine.models import build_model
from tests.methods.conftest import cached_problem, view_for


def _owner(key: str, names: list[str]) -> bool:
    return any(key == n or key.startswith(n + ".") for n in names)


@pytest.mark.parametrize("k", [1, 2])
def test_cf_k_changes_only_the_last_k_blocks_and_the_head(k: int) -> None:
    problem, original = cached_problem()
    data, ctx = view_for("cf_k", problem, original)
    cfg = build_config(CFkConfig, {"k": k, "epochs": 1}, "m")
    out = METHODS.get("cf_k").unlearn(copy.deepcopy(original), data, cfg, ctx)
    names = last_k_blocks(original, k)
    before, after = original.state_dict(), out.state_dict()
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    trained = {key for key in before if _owner(key, names)}
    assert changed and changed <= trained
    assert {key.rsplit(".", 1)[0] for key in changed} == {key.rsplit(".", 1)[0] for key in trained}
    assert all(p.requires_grad for p in out.parameters())  # the freeze is undone


def test_blocks_per_architecture() -> None:
    cnn = build_model("cnn", (1, 8, 8), 10, seed=0)
    assert feature_blocks(cnn) == [["features.0"], ["features.3"], ["features.7"]]
    assert last_k_blocks(cnn, 1) == ["features.7", "head"]
    assert last_k_blocks(cnn, 9) == ["features.0", "features.3", "features.7", "head"]
    allcnn = build_model("allcnn", (1, 8, 8), 10, seed=0)
    blocks = feature_blocks(allcnn)
    assert len(blocks) == 8 and all(len(b) == 2 for b in blocks)  # conv + its BatchNorm
    assert isinstance(allcnn.get_submodule(blocks[-1][0]), torch.nn.Conv2d)
    assert isinstance(allcnn.get_submodule(blocks[-1][1]), torch.nn.BatchNorm2d)
    resnet = build_model("resnet18", (1, 8, 8), 10, seed=0)
    last = last_k_blocks(resnet, 1)
    assert last == ["features.6", "head"]  # layer4
    assert resnet.get_submodule("features.6")[0].conv1.out_channels == 512
