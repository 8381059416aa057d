"""Output and weight distances between two models: JS divergence, activation distance, ZRF, weight distance.

Pure numpy functions of logits / state dicts (torch tensors in a state dict are read through ``.detach()``, torch
itself is never imported). Every logarithm is natural (nats). Sources:

- Chundawat, Tarun, Mandal and Kankanhalli, "Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks
  Using an Incompetent Teacher" (AAAI 2023, arXiv:2205.08096): Jensen-Shannon divergence, activation distance
  and the ZRF (Zero Retrain Forgetting) score; official code github.com/vikram2000b/bad-teaching-unlearning.
- Golatkar, Achille and Soatto, "Forgetting Outside the Box: Scrubbing Deep Networks of Information Accessible
  from Input-Output Observations" (ECCV 2020): activation distance (L2 between the final activations).
- Weight distance to a reference (e.g. retrained) model: the "verification error" of Thudi, Deza, Chandrasekaran
  and Papernot, "Unrolling SGD: Understanding Factors Influencing Machine Unlearning" (EuroS&P 2022), the L2
  distance between the unlearned and the retrained model's weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

LN2 = math.log(2.0)


def _log_softmax(logits: object, name: str) -> np.ndarray:
    """Row-wise log-softmax of a finite ``(n, K)`` logit array, in float64 (max-shifted, so it cannot overflow)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty (n, K) array of logits, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name}: contains NaN or infinite logits")
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _pair(logits_p: object, logits_q: object, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    lp = _log_softmax(logits_p, names[0])
    lq = _log_softmax(logits_q, names[1])
    if lp.shape != lq.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {lp.shape} and {lq.shape}")
    return lp, lq


class JSDivergence(NamedTuple):
    """Per-example JS divergences (nats, each in ``[0, ln 2]``) and their mean."""

    per_example: np.ndarray
    mean: float


def js_divergence(logits_p: object, logits_q: object) -> JSDivergence:
    """Per-example Jensen-Shannon divergence between ``softmax(logits_p)`` and ``softmax(logits_q)``, and the mean.

    ``JS(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M)`` with ``M = (P + Q) / 2``, natural log, so each value lies in
    ``[0, ln 2]`` (0 iff the distributions are equal, ln 2 for disjoint supports); symmetric in its arguments.
    Source: the JS divergence of Chundawat et al. 2023 ("Can Bad Teaching Induce Forgetting?", AAAI) used by their
    ZRF score (:func:`zrf`), and the output distance to the retrained model in later unlearning papers.
    Computed from log-softmax in float64 (``log M`` by ``logaddexp``), so tiny probabilities lose nothing to
    clipping; results are clipped to ``[0, ln 2]`` against rounding. Returns ``(per_example, mean)``.
    """
    lp, lq = _pair(logits_p, logits_q, ("logits_p", "logits_q"))
    lm = np.logaddexp(lp, lq) - LN2
    kl_pm = np.sum(np.exp(lp) * (lp - lm), axis=1)
    kl_qm = np.sum(np.exp(lq) * (lq - lm), axis=1)
    js = np.clip(0.5 * (kl_pm + kl_qm), 0.0, LN2)
    return JSDivergence(js, float(js.mean()))


def activation_distance(logits_p: object, logits_q: object) -> float:
    """Mean over examples of the L2 distance ``||softmax(logits_p) - softmax(logits_q)||_2``, in ``[0, sqrt 2]``.

    Source: the "activation distance" of Chundawat et al. 2023 ("Can Bad Teaching Induce Forgetting?", AAAI):
    the average L2 distance between the unlearned and the retrained model's output probabilities on the forget
    set; introduced by Golatkar et al. 2020 ("Forgetting Outside the Box", ECCV) as the L2 distance between the
    final activations of the scrubbed and the retrained model.
    """
    lp, lq = _pair(logits_p, logits_q, ("logits_p", "logits_q"))
    return float(np.linalg.norm(np.exp(lp) - np.exp(lq), axis=1).mean())


def zrf(logits_model: object, logits_random: object, *, normalise: bool = False) -> float:
    """ZRF (Zero Retrain Forgetting) score: ``1 - (1/n) sum_i JS(M(x_i), T_d(x_i))`` over the forget set.

    Source: Chundawat et al. 2023, "Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks Using an
    Incompetent Teacher" (AAAI; arXiv:2205.08096), the ZRF metric: ``M`` is the model under audit and ``T_d`` a
    randomly initialised, incompetent model, both given as logits on the same forget examples; JS as in
    :func:`js_divergence`. Direction: ZRF near 1 means that on the forget set the model behaves like the random
    model (its outputs carry no information about the forget data; the paper's goal); lower means its outputs
    still differ from chance-level behaviour. Identical logits give exactly 1.

    Normalisation: the paper states ZRF lies in [0, 1] but gives no log base and no normalisation. With the JS in
    nats (the default, ``normalise=False``; nothing is rescaled) the range is ``[1 - ln 2, 1]`` ~ ``[0.307, 1]``;
    ``normalise=True`` divides each JS by ``ln 2`` (i.e. JS in bits) so the range is exactly ``[0, 1]``. Neither
    reproduces the official code's numbers: its ``JSDiv`` calls ``F.kl_div(log p, m)``, which is ``KL(m || p)``
    (the reverse of the JS definition) with ``reduction="mean"`` over all ``n * K`` entries, i.e. an extra factor
    ``1/K``, which pushes its ZRF towards 1.
    """
    js = js_divergence(logits_model, logits_random).per_example
    if normalise:
        js = js / LN2
    return float(1.0 - js.mean())


class WeightDistance(NamedTuple):
    """Per-tensor ``(name, l2, relative)`` in state-dict order, and the totals over every compared tensor."""

    per_tensor: list[tuple[str, float, float]]
    total_l2: float
    total_relative: float


def _is_floating(v: Any) -> bool:
    if hasattr(v, "is_floating_point") and hasattr(v, "detach"):  # a torch tensor
        return bool(v.is_floating_point())
    return bool(np.issubdtype(np.asarray(v).dtype, np.floating))


def _to_f64(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor (bfloat16 included: .double() first)
        return v.detach().cpu().double().numpy()
    return np.asarray(v, dtype=np.float64)


def _relative(l2: float, ref: float) -> float:
    if ref > 0.0:
        return l2 / ref
    return 0.0 if l2 == 0.0 else math.inf


def weight_distance(state_a: Mapping[str, Any], state_b: Mapping[str, Any]) -> WeightDistance:
    """L2 distance between two models' weights, per tensor and in total; ``b`` is the reference.

    ``state_a`` and ``state_b`` are torch ``state_dict()`` s or dicts of numpy arrays with the same keys and shapes.
    For every floating-point entry (parameters and float buffers such as batch-norm running statistics; integer
    buffers such as ``num_batches_tracked`` are skipped) in ``state_a``'s order: ``l2 = ||a - b||_2`` (Frobenius
    norm of the flattened difference, float64) and ``relative = l2 / ||b||_2`` (0 when both are zero, ``inf``
    when only ``b`` is). Totals: ``total_l2 = sqrt(sum of l2^2)`` (the distance between the concatenated weight
    vectors) and ``total_relative = total_l2 / ||b||`` over the same entries.

    A key in only one dict, an entry that is floating in one and not the other, or differing shapes raise a
    ValueError naming the key. Source: the verification error (L2 weight distance to the retrained model) of
    Thudi et al. 2022 ("Unrolling SGD", EuroS&P), here also per tensor and relative. Non-finite weights give nan.
    """
    for key in state_a:
        if key not in state_b:
            raise ValueError(f"weight_distance: key {key!r} is in state_a but not in state_b")
    for key in state_b:
        if key not in state_a:
            raise ValueError(f"weight_distance: key {key!r} is in state_b but not in state_a")
    rows: list[tuple[str, float, float]] = []
    diff_sq = ref_sq = 0.0
    for key, va in state_a.items():
        vb = state_b[key]
        fa, fb = _is_floating(va), _is_floating(vb)
        if not fa and not fb:
            continue
        if fa != fb:
            raise ValueError(f"weight_distance: key {key!r} is floating-point in one state and not in the other")
        a, b = _to_f64(va), _to_f64(vb)
        if a.shape != b.shape:
            raise ValueError(f"weight_distance: key {key!r} has shape {a.shape} in state_a and {b.shape} in state_b")
        d2 = float(np.sum((a - b) ** 2))
        b2 = float(np.sum(b ** 2))
        diff_sq += d2
        ref_sq += b2
        rows.append((key, math.sqrt(d2), _relative(math.sqrt(d2), math.sqrt(b2))))
    total = math.sqrt(diff_sq)
    return WeightDistance(rows, total, _relative(total, math.sqrt(ref_sq)))
