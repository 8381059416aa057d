"""White-box membership attack: UDRU's MLP attacker on hidden-layer activations and gradients.

UDRU (seed 000; Tang et al., "Unlearning From Weakly Supervised Learning"), Sec. 4.3 and
Table 5: "a white-box attack, where we concatenate all hidden layers and gradients in an MLP to train an
attacker model"; the number reported is the "percentage of unlearning data that is identified as training
data" (lower is better). The official ``algorithms/mia.py`` (activations (+) per-parameter gradients into an
MLP ``[., 128, 64, 2]``) does not run (methods-from-official-code.md, section 7.5), so this follows the
paper's description with every open choice fixed here:

Features per sample (computed by the evaluate job from the model itself, :func:`whitebox_features`,
eval mode, float32):

* **activations** of every hidden layer, in call order: the output of every ``nn.ReLU`` call (inside
  ``features`` and ``head``), the output of ``features`` and the input of the last ``nn.Linear`` (the head's
  hidden layer, e.g. the CNN's 128-d one), each taken once (an output that *is* an earlier captured tensor
  is skipped). A 4-d activation is average-pooled to at most 2x2 positions per channel, then flattened.
  A layer wider than :data:`LAYER_DIM` is mapped to :data:`LAYER_DIM` dims by a seeded Gaussian random
  projection (N(0, 1/LAYER_DIM) entries; the same matrices for every model of a seed). With more than
  :data:`MAX_LAYERS` hidden layers (ResNets), :data:`MAX_LAYERS` evenly spaced ones are kept (first and
  last included): at most 16 x 128 = 2048 activation dims.
* **gradient** of the cross-entropy loss w.r.t. the last ``nn.Linear``'s parameters (weight and bias),
  per sample via ``torch.func.vmap(torch.func.grad(...))``, using the sample's **true** label (the
  attacker's knowledge, as every metric here; the same for all paradigms, label_free included). Laid
  out as a ``K x (d+1)`` matrix; when ``K (d+1)`` exceeds :data:`GRAD_DIM` it is projected on the
  input side (and on the class side first when ``K`` > :data:`CLASS_DIM`) by seeded Gaussian matrices
  to at most :data:`GRAD_DIM` dims (a Kronecker-structured random projection: no huge matrix).

Attacker (:func:`mia_whitebox`): members = a seeded random sample of ``m`` retain samples, non-members =
``m`` random test samples, ``m = min(|retain|, |test pool|, MAX_GROUP)`` (balanced). Only classes that
have retain samples take part (test pool and scored forget samples): for a class with no retain sample
(``class`` scenario, ``within_class`` at 100 %) the attacker has no member example, and the activations let
it learn "that class = non-member" (or, without its test samples, extrapolate arbitrarily), so the
original and the retrained model would look alike. When every forget sample is of such a class the metric
is not applicable (UDRU measures it on within-class forgetting). A seeded :data:`HOLDOUT` share of each
group (``round(HOLDOUT * m)`` members and as many non-members) is held out; the attacker is fitted on the
rest. Features standardised (``StandardScaler`` fitted on the attack training set);
``MLPClassifier(hidden_layer_sizes=(128, 64), early_stopping=True, max_iter=200, random_state=seed)``.

Value = share of forget samples (a seeded subset of at most :data:`MAX_FORGET`) the attacker classifies as
member (member probability >= 0.5). Per-sample: that prediction (1 = member); arrays ``proba`` (member
probability), ``forget_idx`` (the scored samples), ``attacker_acc`` (below) and ``chance_bound``.

**The attacker's own strength is checked before its verdict is reported.** ``mia_whitebox_attacker_acc`` is
the attacker's accuracy on the held-out members and non-members (balanced, so 0.5 = chance). When it does
not exceed chance by more than ``max(MIN_ADVANTAGE, Z_CHANCE x binomial standard error)``
(:func:`chance_bound`: 0.05, or two standard errors of a chance attacker on that many held-out samples),
the attacker cannot tell members from non-members on this model and ``mia_whitebox`` is not applicable
with a reason that gives both numbers: the share of forget samples it calls member would be noise. Why:
on digits (CNN, ``within_class`` 20 % of class 3, 2 seeds) the model generalises (train accuracy 1.00,
test 0.98; median loss of retain 1.0e-4 vs test 1.4e-4); with 360 members and 360 non-members in 1738
feature dims the attacker's cross-validated accuracy is 0.49-0.51 for both original and retrain (a
logistic regression on the loss alone: 0.51-0.54), so the share of the 29 forget samples called member
swung between 0.38 and 0.76 with the seed, the retrained model's sometimes above the original's -- the
opposite of UDRU Table 5 (original 72 %, retrain 42 % on MNIST, where 60 000 members and 10 000 test
samples give the attacker data to learn from).

Not applicable for the SISA ensemble (``EnsembleModel``: several networks, and a majority vote has no
gradient), when a whole class is forgotten (above), for inputs without the model (outputs only) and when the
attacker is at chance (above; ``mia_whitebox_attacker_acc`` still reports its accuracy).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import NotApplicable
from engine.metrics.base import (
    METRICS,
    UNIT,
    EvalInputs,
    FeatureHook,
    MetricInfo,
    MetricValue,
    ModelFeatures,
    not_applicable,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

LAYER_DIM = 128  # dims per hidden layer after pooling (random projection above)
MAX_LAYERS = 16  # hidden layers kept (evenly spaced) for very deep models
GRAD_DIM = 2048  # gradient dims (random projection above)
CLASS_DIM = 16  # class-side projection of the gradient for K > 16
MAX_GROUP = 2000  # attack-training samples per group (members / non-members)
MAX_FORGET = 2000  # forget samples scored
MIN_GROUP = 10
HOLDOUT = 0.25  # share of each attack group held out to measure the attacker's own accuracy
MIN_ADVANTAGE = 0.05  # held-out accuracy must exceed 0.5 by more than this ...
Z_CHANCE = 2.0  # ... and by more than this many standard errors of a chance attacker
CHUNK = 256  # samples per forward / per-sample-gradient batch
HIDDEN = (128, 64)  # attacker MLP (UDRU: [., 128, 64, 2])
_STREAM = 0x57B0
_NO_MODEL = ("needs the evaluated model itself (white-box features computed by the evaluate job); these inputs "
             "carry outputs only")
_WHOLE_CLASS = ("every forget sample is of a class with no retain sample left (a whole class is forgotten): the "
                "retain-vs-test attacker has no member of it to learn from (UDRU uses it on within-class forgetting)")
_ENSEMBLE = ("white-box features need one network: the SISA ensemble aggregates several member networks (and a "
             "majority vote has no gradient)")


# ---------------------------------------------------------------------------------------------------------------
def groups(inp: EvalInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded (members from retain, non-members from test, scored forget samples); all sorted, maybe empty."""
    forget = np.asarray(inp.forget_idx, dtype=np.int64)
    retain = np.asarray(inp.retain_idx, dtype=np.int64)
    seen = np.unique(np.asarray(inp.y_train)[retain])  # classes the attack has members of
    pool = np.flatnonzero(np.isin(inp.y_test, seen)).astype(np.int64)
    forget = forget[np.isin(np.asarray(inp.y_train)[forget], seen)]
    rng = np.random.default_rng([inp.seed, _STREAM])
    m = min(len(retain), len(pool), MAX_GROUP)
    if m < MIN_GROUP or len(forget) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    members = np.sort(rng.choice(retain, size=m, replace=False))
    nonmembers = np.sort(rng.choice(pool, size=m, replace=False))
    scored = forget if len(forget) <= MAX_FORGET else np.sort(rng.choice(forget, size=MAX_FORGET, replace=False))
    return members, nonmembers, scored


def split_holdout(members: np.ndarray, nonmembers: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray, np.ndarray]:
    """Seeded (fit members, fit non-members, held-out members, held-out non-members), each sorted.

    ``round(HOLDOUT * len(members))`` (at least 1) of each group are held out (the groups have equal size).
    """
    rng = np.random.default_rng([seed, _STREAM, 1])
    n_hold = max(1, int(round(HOLDOUT * len(members))))
    out = []
    for g in (members, nonmembers):
        perm = rng.permutation(len(g))
        out.append((np.sort(g[perm[n_hold:]]), np.sort(g[perm[:n_hold]])))
    (fit_in, hold_in), (fit_out, hold_out) = out
    return fit_in, fit_out, hold_in, hold_out


def chance_bound(n_heldout: int) -> float:
    """Held-out accuracy above which a balanced attacker counts as better than chance (see the module doc)."""
    return 0.5 + max(MIN_ADVANTAGE, Z_CHANCE * 0.5 / float(np.sqrt(max(n_heldout, 1))))


def select(inp: EvalInputs) -> tuple[np.ndarray, np.ndarray]:
    """The training and test samples whose white-box features the metric needs."""
    members, nonmembers, scored = groups(inp)
    return np.union1d(members, scored), nonmembers


def _gaussian(rows: int, cols: int, seed: int, tag: int) -> torch.Tensor:
    """A seeded ``(rows, cols)`` N(0, 1/cols) matrix (CPU generator: identical on every device)."""
    import torch

    s = int(np.random.SeedSequence([seed, _STREAM, tag, rows, cols]).generate_state(1)[0])
    g = torch.Generator().manual_seed(s)
    return torch.randn(rows, cols, generator=g) / float(np.sqrt(cols))


def _pool(t: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    t = t.detach().float()
    if t.dim() == 4:
        t = F.adaptive_avg_pool2d(t, (min(t.shape[2], 2), min(t.shape[3], 2)))
    return t.flatten(1)


def _last_linear(model: nn.Module) -> nn.Linear:
    from torch import nn

    if not hasattr(model, "features") or not hasattr(model, "head"):
        raise NotApplicable("white-box features need a model split into features and head")
    linears = [m for m in model.head.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise NotApplicable("the model's head has no linear layer to take gradients of")
    return linears[-1]


def _hidden(model: nn.Module, x: torch.Tensor, last: nn.Linear) -> tuple[list[torch.Tensor], torch.Tensor,
                                                                         torch.Tensor]:
    """Pooled hidden activations (call order, deduplicated), the last linear's input and the logits."""
    from torch import nn

    raw: list[torch.Tensor] = []
    pooled: list[torch.Tensor] = []
    inp: list[torch.Tensor] = []

    def keep(t: Any) -> None:
        if isinstance(t, tuple):
            t = t[0]
        if any(t is r for r in raw):
            return
        raw.append(t)
        pooled.append(_pool(t))

    def last_input(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        keep(args[0])
        inp.append(args[0].detach().float())

    handles = [m.register_forward_hook(lambda _m, _i, o: keep(o)) for m in model.modules() if isinstance(m, nn.ReLU)]
    handles.append(model.features.register_forward_hook(lambda _m, _i, o: keep(o)))
    handles.append(last.register_forward_pre_hook(last_input))
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    return pooled, inp[-1], logits


def whitebox_features(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> np.ndarray:
    """White-box features ``(n, D)`` float32 of samples ``x`` with true labels ``y`` (see the module doc)."""
    import torch
    import torch.nn.functional as F
    from torch.func import functional_call, grad, vmap

    from engine.training.ensemble import EnsembleModel

    if isinstance(model, EnsembleModel):
        raise NotApplicable(_ENSEMBLE)
    last = _last_linear(model)
    if x.shape[0] == 0:
        return np.zeros((0, 0), dtype=np.float32)
    params = {k: v.detach() for k, v in last.named_parameters()}

    def loss_one(p: dict[str, torch.Tensor], h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(last, p, (h.unsqueeze(0),)), t.unsqueeze(0))

    per_sample_grad = vmap(grad(loss_one), in_dims=(None, 0, 0))
    was = model.training
    model.eval()
    out = []
    try:
        for i in range(0, x.shape[0], CHUNK):
            xb, yb = x[i:i + CHUNK], y[i:i + CHUNK].long()
            with torch.no_grad():
                layers, h, _ = _hidden(model, xb, last)
            keep = np.unique(np.linspace(0, len(layers) - 1, MAX_LAYERS).round().astype(int)) \
                if len(layers) > MAX_LAYERS else np.arange(len(layers))
            acts = []
            for j in keep:
                a = layers[j]
                if a.shape[1] > LAYER_DIM:
                    a = a @ _gaussian(a.shape[1], LAYER_DIM, seed, int(j)).to(a.device)
                acts.append(a)
            with torch.enable_grad():
                g = per_sample_grad(params, h, yb)
            gm = g["weight"].detach().float()  # (B, K, d)
            if "bias" in g:
                gm = torch.cat([gm, g["bias"].detach().float().unsqueeze(2)], dim=2)
            k, d = gm.shape[1], gm.shape[2]
            if k * d > GRAD_DIM:
                if k > CLASS_DIM:
                    gm = torch.einsum("ck,bkd->bcd", _gaussian(CLASS_DIM, k, seed, 1000).to(gm.device), gm)
                    k = CLASS_DIM
                if k * d > GRAD_DIM:
                    gm = gm @ _gaussian(d, GRAD_DIM // k, seed, 1001).to(gm.device)
            out.append(torch.cat([*acts, gm.flatten(1)], dim=1).cpu().numpy())
    finally:
        model.train(was)
    return np.concatenate(out).astype(np.float32)


def _rows(feats: np.ndarray, have: np.ndarray, want: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(have, want)
    if len(want) and (pos.max() >= len(have) or not np.array_equal(have[pos], want)):
        raise ValueError("white-box features were computed for other samples than the metric selects")
    return feats[pos]


def attack(members: np.ndarray, nonmembers: np.ndarray, *targets: np.ndarray, seed: int) -> list[np.ndarray]:
    """Fit the standardised MLP attacker (members 1, non-members 0); member probability of each target's rows."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([members, nonmembers]).astype(np.float32)
    lab = np.concatenate([np.ones(len(members), dtype=np.int64), np.zeros(len(nonmembers), dtype=np.int64)])
    scaler = StandardScaler().fit(x)
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, early_stopping=True, max_iter=200, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(scaler.transform(x).astype(np.float32), lab)
    return [clf.predict_proba(scaler.transform(t.astype(np.float32)).astype(np.float32))[:, 1] for t in targets]


def _features(inp: EvalInputs) -> ModelFeatures | None:
    for key in _KEYS:  # both metrics ask for the same features (one hook; computed once)
        if key in inp.model_features:
            return inp.model_features[key]
    return None


def mia_whitebox(inp: EvalInputs) -> MetricValue:
    """Share of forget samples the white-box MLP attacker (retain vs test) classifies as member (UDRU Table 5).

    Not applicable (the arrays, ``attacker_acc`` included, are still returned) when the attacker's held-out
    accuracy is not above :func:`chance_bound`.
    """
    feats = _features(inp)
    if feats is None:
        return not_applicable(_NO_MODEL)
    if feats.reason:
        return not_applicable(feats.reason)
    members, nonmembers, scored = groups(inp)
    if len(members) == 0:
        forget_y = np.asarray(inp.y_train)[np.asarray(inp.forget_idx, dtype=np.int64)]
        if len(forget_y) and not np.isin(forget_y, np.asarray(inp.y_train)[np.asarray(inp.retain_idx)]).any():
            return not_applicable(_WHOLE_CLASS)
        return not_applicable(f"the attack needs at least {MIN_GROUP} retain and test samples and a forget set "
                              f"(retain {len(inp.retain_idx)}, test {len(inp.y_test)}, forget {len(inp.forget_idx)})")
    fit_in, fit_out, hold_in, hold_out = split_holdout(members, nonmembers, inp.seed)
    tr_idx, te_idx = np.asarray(feats.train_idx, dtype=np.int64), np.asarray(feats.test_idx, dtype=np.int64)
    proba, p_in, p_out = attack(_rows(feats.train, tr_idx, fit_in), _rows(feats.test, te_idx, fit_out),
                                _rows(feats.train, tr_idx, scored), _rows(feats.train, tr_idx, hold_in),
                                _rows(feats.test, te_idx, hold_out), seed=inp.seed)
    # MLPClassifier.predict's rule for two classes: member iff probability >= 0.5
    acc = float(np.concatenate([p_in >= 0.5, p_out < 0.5]).mean())
    n_hold = len(hold_in) + len(hold_out)
    bound = chance_bound(n_hold)
    pred = (proba >= 0.5).astype(np.float64)
    arrays = {"proba": proba.astype(np.float64), "forget_idx": scored, "attacker_acc": np.array([acc]),
              "chance_bound": np.array([bound])}
    if acc <= bound:
        return MetricValue(None, None, (
            f"not informative: the attacker cannot tell members from non-members on this model (accuracy "
            f"{acc:.3f} on {n_hold} held-out retain/test samples, needs > {bound:.3f} to be above chance); the "
            f"share of forget samples it calls member ({pred.mean():.3f}) would be noise"), arrays)
    return MetricValue(float(pred.mean()), pred, arrays=arrays)


def mia_whitebox_attacker_acc(inp: EvalInputs) -> MetricValue:
    """The white-box attacker's accuracy on held-out retain (member) vs test (non-member) samples; 0.5 = chance."""
    res = inp.own_results.get("mia_whitebox")  # evaluate_all computed it already: the same fit
    if res is None:
        res = mia_whitebox(inp)
    if "attacker_acc" not in res.arrays:
        return not_applicable(res.reason)
    return MetricValue(float(res.arrays["attacker_acc"][0]), arrays={"chance_bound": res.arrays["chance_bound"]})


_KEYS = ("mia_whitebox", "mia_whitebox_attacker_acc")
_HOOK = FeatureHook(select=select, compute=whitebox_features)
METRICS.register(MetricInfo(
        key="mia_whitebox",
        title="MIA white-box (MLP on activations + gradients, UDRU)",
        direction="closer_to_retrain",
        fn=mia_whitebox,
        description="UDRU's white-box attack: an MLP (128, 64) on standardised hidden-layer activations (pooled, "
        "randomly projected to at most 128 dims per layer, at most 16 layers) concatenated with the per-sample "
        "gradient of the loss w.r.t. the last layer's parameters (true label; projected to at most 2048 dims), "
        "trained on 75 % of a balanced set of retain (member) vs test (non-member) samples. Value = share of "
        "forget samples judged member (UDRU: lower is better; the retrained model gives the reference). Not "
        "applicable when the attacker's accuracy on the held-out 25 % is not above chance (by more than 0.05 and "
        "two standard errors; see mia_whitebox_attacker_acc), when a whole class is forgotten (only classes with "
        "retain samples take part) and for the SISA ensemble.",
        papers="UDRU: MIA (% of unlearning data identified as training data, white-box)",
        ideal=None,
        group="privacy",
        range=UNIT,
        model_features=_HOOK,
    ),
)
METRICS.register(MetricInfo(
        key="mia_whitebox_attacker_acc",
        title="MIA white-box: attacker's held-out accuracy",
        direction="closer_to_retrain",
        fn=mia_whitebox_attacker_acc,
        description="Accuracy of mia_whitebox's attacker on held-out retain (member) vs test (non-member) samples "
        "of this model, balanced: the attack's own strength (0.5 = chance: it cannot tell members from "
        "non-members, and mia_whitebox is then reported as not informative).",
        papers="UDRU: not reported (a check on the white-box MIA's attacker; its Table 5 values presume an attacker "
        "above chance)",
        ideal=None,
        group="privacy",
        range=UNIT,
        model_features=_HOOK,
    ),
)
