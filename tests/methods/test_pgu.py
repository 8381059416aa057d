"""PGU's defining mechanism: Eq. 3 retain covariance, the gamma rule for k, updates orthogonal to the Core
Gradient Space (biases / norm layers untouched), Eq. 1's loss, incremental carry, and end-to-end forgetting."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.config import build_config
from engine.errors import NotApplicable, SpecError
from engine.methods import METHODS, UnlearnContext, UnlearnData
from engine.methods.pgu import (
    PAPER_DEFAULTS,
    PGUConfig,
    core_rank,
    parse_gamma_layers,
    pgu_loss,
    retain_covariances,
    retain_spectrum,
)
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.rng import SeededDropout
from engine.training.recording import layer_covariance_of, projectable_layers
from tests.methods.conftest import TINY_TRAIN, accuracy, cached_problem, view_for

PGU = METHODS.get("pgu")


def cfg_of(**kw: object) -> PGUConfig:
    return build_config(PGUConfig, kw, "methods.pgu")


def core_basis(cov: torch.Tensor, gamma: float) -> torch.Tensor:
    u, s = retain_spectrum(cov)
    return u[:, :core_rank(s, gamma)].float()


def weight_deltas(before: nn.Module, after: nn.Module) -> dict[str, torch.Tensor]:
    mods = dict(after.named_modules())
    return {n: (mods[n].weight - m.weight).detach().reshape(m.weight.shape[0], -1)
            for n, m in projectable_layers(before)}


# ---------------------------------------------------------------------------------------------------- pieces


def test_core_rank_follows_the_singular_value_threshold() -> None:
    s = torch.tensor([4.0, 3.0, 2.0, 1.0])  # cumulative shares 0.4, 0.7, 0.9, 1.0
    assert core_rank(s, 0.0) == 0
    assert core_rank(s, 0.39) == 0
    assert core_rank(s, 0.4) == 1
    assert core_rank(s, 0.69) == 1
    assert core_rank(s, 0.7) == 2
    assert core_rank(s, 0.95) == 3
    assert core_rank(s, 1.0) == 4
    assert core_rank(s, 0.7, offset=1) == 3  # unlearn_class.py's +1
    assert core_rank(s, 1.0, offset=1) == 4  # never more than the dimension
    assert core_rank(torch.zeros(3), 0.9) == 0
    # singular values, not their squares: with squares (16, 9, 4, 1)/30 the 0.7 threshold would give k = 1
    assert core_rank(s**2, 0.7) == 1


def test_retain_spectrum_reconstructs_and_clamps() -> None:
    a = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cov = a.T @ a
    u, s = retain_spectrum(cov)
    assert torch.all(s[:-1] >= s[1:])
    torch.testing.assert_close(u @ torch.diag(s**2) @ u.T, cov)
    _, s_neg = retain_spectrum(-torch.eye(3, dtype=torch.float64))
    assert torch.equal(s_neg, torch.zeros(3, dtype=torch.float64))


def test_retain_covariance_equals_the_retain_sets_own_covariance() -> None:
    """Eq. 3: full-set covariance minus the forget set's equals the covariance computed on the retain set."""
    problem, original = cached_problem()
    data, _ = view_for("pgu", problem, original)
    full = {k.removeprefix("cov."): v for k, v in data.train_state["layer_covariance"].items()}
    got = retain_covariances(full, original, data.x_forget, torch.device("cpu"))
    direct = layer_covariance_of(original, problem.data.x_train[problem.retain_idx])
    assert set(got) == set(direct) == {n for n, _ in projectable_layers(original)}
    for name in direct:
        scale = float(direct[name].abs().max())
        torch.testing.assert_close(got[name], direct[name], rtol=1e-9, atol=1e-10 * scale)


def test_loss_is_reverse_ce_plus_entropy_bonus() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 2])
    cand = F.one_hot(labels, 3).bool()
    p = logits.softmax(1)
    eps, lam = 0.05, 0.2
    l1 = -torch.log(1 - p[torch.arange(2), labels] + eps).mean()
    ent = -(p * p.log()).sum(1).mean()
    torch.testing.assert_close(pgu_loss(logits, cand, lam, eps), l1 - lam * ent)
    torch.testing.assert_close(pgu_loss(logits, cand, 0.0, eps), l1)
    # de-poisoning (lam < 0): entropy of the softmax over the non-label classes is minimised
    q0, q1 = logits[0, 1:].softmax(0), logits[1, :2].softmax(0)
    ent_other = -((q0 * q0.log()).sum() + (q1 * q1.log()).sum()) / 2
    torch.testing.assert_close(pgu_loss(logits, cand, -0.2, eps), l1 + 0.2 * ent_other)


def test_loss_gradients_stay_finite_when_candidates_cover_every_class() -> None:
    logits = torch.randn(4, 3, requires_grad=True)
    cand = torch.ones(4, 3, dtype=torch.bool)
    cand[0] = torch.tensor([True, False, False])
    for lam in (0.2, -0.2):
        (g,) = torch.autograd.grad(pgu_loss(logits, cand, lam, 0.05), logits)
        assert torch.isfinite(g).all()


def test_gamma_layers_parsing_and_errors() -> None:
    assert parse_gamma_layers(None) == {}
    assert parse_gamma_layers("features.0=0.95, head=1") == {"features.0": 0.95, "head": 1.0}
    with pytest.raises(SpecError, match="gamma_layers"):
        cfg_of(gamma_layers="features.0")
    with pytest.raises(SpecError, match="gamma_layers"):
        cfg_of(gamma_layers="features.0=1.5")
    with pytest.raises(SpecError, match="lam"):
        cfg_of(lam=-20.0)
    assert cfg_of(lam=-0.2).lam == -0.2  # de-poisoning: negative lambda is allowed


def test_paper_defaults_are_valid_configs() -> None:
    for dataset, by_scenario in PAPER_DEFAULTS.items():
        for scenario, values in by_scenario.items():
            build_config(PGUConfig, values, f"PAPER_DEFAULTS.{dataset}.{scenario}")
    assert PAPER_DEFAULTS["cifar10"]["random"]["gamma"] == 0.95
    assert PAPER_DEFAULTS["cifar10"]["noisy_labels"]["lam"] < 0


# ------------------------------------------------------------------------------------- the projected update


def test_one_update_is_orthogonal_to_the_core_space_on_the_cnn() -> None:
    """After one step on a random forget batch, dW U_k = 0 for every projected layer while dW != 0."""
    problem, original = cached_problem()
    data, ctx = view_for("pgu", problem, original)
    gen = torch.Generator().manual_seed(1)
    idx = torch.randperm(data.x_forget.shape[0], generator=gen)[:32]
    batch = dataclasses.replace(data, x_forget=data.x_forget[idx], sup_forget=data.sup_forget.take(idx))
    cfg = cfg_of(epochs=1, batch_size=32, stopping="fixed", gamma=0.9, start_lr=2.0, end_lr=2.0)  # one big step
    out = PGU.unlearn(copy.deepcopy(original), batch, cfg, ctx)

    full = {k.removeprefix("cov."): v for k, v in data.train_state["layer_covariance"].items()}
    retain = retain_covariances(full, original, batch.x_forget, torch.device("cpu"))
    for name, dw in weight_deltas(original, out).items():
        u = core_basis(retain[name], cfg.gamma)
        assert 0 < u.shape[1] < u.shape[0], name
        assert float(dw.norm()) > 1e-6, f"{name} did not move"
        assert float((dw @ u).norm()) <= 1e-3 * float(dw.norm()), f"{name}: update leaks into the core space"
    before, after = dict(original.named_parameters()), dict(out.named_parameters())
    for name, p in before.items():
        if not name.endswith("weight"):
            assert torch.equal(p, after[name]), f"{name} changed"


class _Tiny(nn.Module):
    """Conv + BatchNorm + Dropout + two linears: checks norm layers, biases and dropout determinism."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                      SeededDropout(0.5), nn.Linear(4 * 8 * 8, 16), nn.BatchNorm1d(16), nn.ReLU())
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _tiny_setup() -> tuple[nn.Module, UnlearnData, UnlearnContext]:
    torch.manual_seed(0)
    net = _Tiny()
    with torch.no_grad():  # non-trivial running statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(200, 1, 8, 8, generator=gen)
    y = torch.randint(0, 3, (200,), generator=gen)
    cov = {f"cov.{k}": v for k, v in layer_covariance_of(net, x).items()}
    data = UnlearnData(x_forget=x[:40], sup_forget=one_hot_supervision(y[:40], 3), x_retain=None, sup_retain=None,
                       num_classes=3, paradigm="supervised", loss=cross_entropy,
                       train_state={"layer_covariance": cov}, x_val=torch.randn(20, 1, 8, 8, generator=gen))
    ctx = UnlearnContext(seed=3, device=torch.device("cpu"), train_cfg=TINY_TRAIN, model_key="tiny",
                         input_shape=(1, 8, 8))
    return net, data, ctx


def test_biases_and_norm_layers_never_move_and_dropout_is_seeded() -> None:
    net, data, ctx = _tiny_setup()
    cfg = cfg_of(epochs=3, batch_size=16, stopping="fixed")
    torch.manual_seed(11)
    out1 = PGU.unlearn(copy.deepcopy(net), data, cfg, ctx)
    torch.manual_seed(22)
    out2 = PGU.unlearn(copy.deepcopy(net), data, cfg, ctx)
    for a, b in zip(out1.state_dict().values(), out2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    moved = set()
    for (name, p0), p1 in zip(net.state_dict().items(), out1.state_dict().values(), strict=True):
        if not torch.equal(p0, p1):
            moved.add(name)
    assert moved == {"features.0.weight", "features.5.weight", "head.weight"}  # conv/linear weights only


def test_gamma_one_freezes_layers() -> None:
    net, data, ctx = _tiny_setup()
    frozen = PGU.unlearn(copy.deepcopy(net), data, cfg_of(epochs=2, stopping="fixed", gamma=1.0), ctx)
    for a, b in zip(net.state_dict().values(), frozen.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    one = PGU.unlearn(copy.deepcopy(net), data, cfg_of(epochs=2, stopping="fixed", gamma_layers="head=1.0"), ctx)
    assert torch.equal(one.head.weight, net.head.weight)
    assert not torch.equal(one.features[5].weight, net.features[5].weight)
    with pytest.raises(SpecError, match="gamma_layers"):
        PGU.unlearn(copy.deepcopy(net), data, cfg_of(gamma_layers="nope=0.5"), ctx)


def test_trust_region_lets_the_last_layer_move_inside_the_core_space() -> None:
    net, data, ctx = _tiny_setup()
    full = {k.removeprefix("cov."): v for k, v in data.train_state["layer_covariance"].items()}
    u = core_basis(retain_covariances(full, net, data.x_forget, torch.device("cpu"))["head"], 0.9)
    base = dict(epochs=5, batch_size=40, stopping="fixed", lam=-0.2, eps=0.1, gamma=0.9)
    plain = PGU.unlearn(copy.deepcopy(net), data, cfg_of(**base), ctx)
    trgp = PGU.unlearn(copy.deepcopy(net), data, cfg_of(**base, trust_region=True), ctx)
    d_plain = (plain.head.weight - net.head.weight).detach()
    d_trgp = (trgp.head.weight - net.head.weight).detach()
    assert float((d_plain @ u).norm()) <= 1e-4 * float(d_plain.norm())
    assert float((d_trgp @ u).norm()) > 1e-3 * float(d_trgp.norm())  # the learnt scale acts inside the CGS
    assert all(torch.isfinite(p).all() for p in trgp.parameters())


# ------------------------------------------------------------------------------------------------ stopping


def test_validation_rules_need_labels_and_use_them_when_given() -> None:
    net, data, ctx = _tiny_setup()
    with pytest.raises(NotApplicable, match="labelled validation split"):
        PGU.unlearn(copy.deepcopy(net), dataclasses.replace(data, sup_val=None), cfg_of(stopping="val_gap"), ctx)
    problem, original = cached_problem()
    labelled, pctx = view_for("pgu", problem, original)
    assert labelled.sup_val is not None and labelled.x_val is not None  # the val split, never the test split
    assert torch.equal(labelled.x_val, problem.data.x_val)
    msgs: list[str] = []
    pctx.progress = lambda d, t, m: msgs.append(m)
    out = PGU.unlearn(copy.deepcopy(original), labelled, cfg_of(stopping="val_gap", epochs=30), pctx)
    x, y = problem.data.x_train, problem.data.y_train
    # sample-removal rule: stops near the validation accuracy, far above chance
    assert msgs[-1].startswith("stopped at epoch")
    assert accuracy(out, x[problem.forget_idx], y[problem.forget_idx]) > 0.5


# ------------------------------------------------------------------------------------- end to end, carry


def test_class_removal_forgets_and_keeps_the_rest() -> None:
    problem, original = cached_problem()
    data, ctx = view_for("pgu", problem, original)
    out = PGU.unlearn(copy.deepcopy(original), data, PGUConfig(), ctx)
    x, y = problem.data.x_train, problem.data.y_train
    f, r = problem.forget_idx, problem.retain_idx
    assert accuracy(original, x[f], y[f]) > 0.9
    assert accuracy(out, x[f], y[f]) < 0.3
    assert accuracy(out, x[r], y[r]) > 0.95


def test_incremental_requests_carry_the_retain_covariance() -> None:
    problem, original = cached_problem(scenario="incremental", params=(("count", 20), ("steps", 2)))
    cfg = cfg_of(epochs=3, stopping="fixed")
    carry: dict = {}
    model = copy.deepcopy(original)
    for i in range(2):
        data, ctx = view_for("pgu", problem, original, request=i)
        ctx.carry = carry
        if i == 1:
            before = copy.deepcopy(model)
        model = PGU.unlearn(model, data, cfg, ctx)
    # request 1's retain covariance = request 0's retain covariance - request 1's forget covariance (current model)
    forget1 = layer_covariance_of(before, data.x_forget)
    first, second = carry["pgu.retain_cov.0"], carry["pgu.retain_cov.1"]
    for name in first:
        torch.testing.assert_close(second[name], first[name] - forget1[name])
    # request 0 started from the training-time covariance and the original model
    full = {k.removeprefix("cov."): v for k, v in data.train_state["layer_covariance"].items()}
    forget0 = layer_covariance_of(original, problem.data.x_train[problem.requests[0]])
    for name in first:
        torch.testing.assert_close(second[name], full[name] - forget0[name] - forget1[name])
    assert carry["pgu.forget.1"][0].shape[0] == 40  # cumulative forget set for the stopping rule
    _, retain_idx = problem.step(1)
    x, y = problem.data.x_train, problem.data.y_train
    assert accuracy(model, x[retain_idx], y[retain_idx]) > 0.95
    assert not torch.equal(model.head[1].weight, original.head[1].weight)


def test_remove_rows_deletes_the_forgotten_class_from_the_head() -> None:
    """Sec. 4.3: with ``remove_rows`` the forgotten class's last-layer row is removed (never predicted); the rest
    of the head is what PGU alone produces."""
    problem, original = cached_problem()
    data, ctx = view_for("pgu", problem, original)
    plain = METHODS.get("pgu").unlearn(copy.deepcopy(original), data, cfg_of(epochs=2, stopping="fixed"), ctx)
    cut = METHODS.get("pgu").unlearn(copy.deepcopy(original), data,
                                     cfg_of(epochs=2, stopping="fixed", remove_rows=True), ctx)
    with torch.no_grad():
        pred = cut(problem.data.x_train).argmax(1)
    assert not bool((pred == 3).any())
    hp, hc = ([m for m in net.modules() if isinstance(m, nn.Linear)][-1] for net in (plain, cut))
    wp, wc = hp.weight, hc.weight
    assert torch.equal(wc[3], torch.zeros_like(wc[3])) and float(hc.bias[3].detach()) == -1e4
    others = [c for c in range(10) if c != 3]
    assert torch.equal(wp[others], wc[others])


def test_retain_drop_stops_on_the_remaining_classes_validation_accuracy() -> None:
    """The official class-removal rule (retain accuracy drop), measured on validation samples of the remaining
    classes: a huge learning rate breaks the model and the rule stops after the first epoch."""
    problem, original = cached_problem()
    data, ctx = view_for("pgu", problem, original)
    msgs: list[str] = []
    ctx.progress = lambda d, t, m: msgs.append(m)
    METHODS.get("pgu").unlearn(copy.deepcopy(original), data,
                               cfg_of(epochs=5, stopping="retain_drop", start_lr=5.0, end_lr=5.0, stop_drop=1.0), ctx)
    assert any("validation accuracy dropped" in m for m in msgs)
    assert not any(m == "epoch 5/5" for m in msgs)
    within, _ = cached_problem(scenario="within_class", params=(("forget_class", 3), ("fraction", 0.2)))
    wdata, wctx = view_for("pgu", within, original)
    with pytest.raises(NotApplicable, match="class-removal"):
        METHODS.get("pgu").unlearn(copy.deepcopy(original), wdata, cfg_of(epochs=1, remove_rows=True), wctx)
