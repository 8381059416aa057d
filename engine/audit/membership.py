"""Per-example membership-inference scores (LiRA, offline LiRA, RMIA) and the metrics they are judged by.

Pure numpy / scipy / scikit-learn: no torch, no training, no I/O. Every score returned here is "higher = more
member-like"; every ``labels`` array uses 1 = member, 0 = non-member. Logarithms are natural.

Sources:

- Carlini, Chien, Nasr, Song, Terzis and Tramer, "Membership Inference Attacks From First Principles" (IEEE S&P
  2022, arXiv:2112.03570), LiRA, Sec. IV and Algorithm 1: the logit scaling phi(p) = log(p / (1 - p)) of the
  true-class confidence, the per-example Gaussian likelihood ratio (online), the one-sided test under the OUT
  Gaussian (offline), the global-variance option for few shadow models, and the evaluation by TPR at a low FPR
  (Sec. III). Official code: github.com/tensorflow/privacy, ``research/mi_lira_2021`` (``score.py``: the stable
  logit-scaled confidence; ``plot.py``: ``generate_ours`` / ``generate_ours_offline`` / ``sweep``).
- Hayes, Shumailov, Triantafillou, Khalifa and Papernot, "Inexact Unlearning Needs More Careful Evaluations to
  Avoid a False Sense of Privacy" (arXiv:2403.01218, 2024), U-LiRA, Sec. 4 (see below).
- Zarifzadeh, Liu and Shokri, "Low-Cost High-Power Membership Inference Attacks" (ICML 2024, arXiv:2312.03262),
  RMIA: the pairwise likelihood ratio against population samples and its offline approximation. Reference code:
  github.com/privacytrustlab/ml_privacy_meter (``modules/mia/attacks/rmia.py``, ``run_rmia``).

U-LiRA mapping (Hayes et al. 2024, Sec. 4). :func:`lira_scores` is written in LiRA's vocabulary, "in" and "out",
but for an unlearning audit the two hypotheses are not "trained on x" vs "not trained on x". They are:

- "in" (member label 1, "unlearned"): shadow models trained *with* the example and then unlearned by the method
  under audit with the example in the forget set;
- "out" (member label 0, "retrained"): shadow models retrained from scratch *without* the example (the exact
  unlearning the method approximates).

``in_stats`` / ``out_stats`` hold the logit-scaled true-class confidences of those two families of shadow models,
``target`` those of the unlearned model under audit, and the score asks whether the target's output on an example
looks like an unlearned model's (high score) or a retrained one's (low score). A method that unlearns perfectly
makes the two families indistinguishable, so the attack's AUC tends to 0.5 and its TPR at a low FPR to that FPR.
The same reading holds for RMIA, with unlearned models as IN references and retrained ones as OUT references.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, log_softmax, logsumexp
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = [
    "RMIA_OFFLINE_A",
    "SD_FLOOR",
    "AttackReport",
    "balanced_accuracy_best",
    "lira_offline_scores",
    "lira_scores",
    "logit_scale",
    "logit_scaled_confidence",
    "loglog_points",
    "report",
    "resolvable",
    "rmia_scores",
    "roc",
    "tpr_at_fpr",
    "true_class_confidence",
]

SD_FLOOR = 1e-12
"""A standard deviation at or below this is treated as not estimated (a role's observations all equal)."""

RMIA_OFFLINE_A = 0.3
"""The offline RMIA coefficient ``a`` used by the authors' Privacy Meter examples (``offline_a: 0.3``); the paper
tunes ``a`` per dataset by attacking a paired reference model (``tune_offline_a`` in Privacy Meter)."""

_FPR_SLACK = 1e-9  # float slack when turning an FPR into a count of false positives (0.001 * 1000 == 1)


# ----------------------------------------------------------------------------------------------------------------------
# confidences


def logit_scale(p: object, eps: float = 1e-7) -> np.ndarray:
    """The logit scaling of a true-class probability, clipped away from 0 and 1.

    Carlini et al. 2022 ("Membership Inference Attacks From First Principles", LiRA, Sec. IV): the model's
    confidence ``p = f(x)_y`` is mapped to ``phi(p) = log(p / (1 - p))``, which makes its distribution over shadow
    models approximately Gaussian. ``p`` is clipped to ``[eps, 1 - eps]`` first, so the result is finite
    (``|phi| <= log((1 - eps) / eps)``, about 16.1 for the default); use :func:`logit_scaled_confidence` on logits
    to keep the resolution of confident predictions. NaN stays NaN.

    Args:
        p: probabilities of the true class, any shape.
        eps: clipping margin, in ``(0, 0.5)``.

    Returns:
        ``phi(clip(p, eps, 1 - eps))`` in float64, the shape of ``p``.
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps}")
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.log(q) - np.log1p(-q)


def _logits_and_labels(logits: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 1 or z.shape[-1] < 2:
        raise ValueError(f"logits: expected an (..., C) array with C >= 2 classes, got shape {z.shape}")
    y = np.asarray(labels)
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels: expected integer class indices, got dtype {y.dtype}")
    try:
        y = np.broadcast_to(y, z.shape[:-1])
    except ValueError:
        raise ValueError(f"labels of shape {y.shape} do not broadcast against logits {z.shape}") from None
    if y.size and (y.min() < 0 or y.max() >= z.shape[-1]):
        raise ValueError(f"labels must lie in [0, {z.shape[-1]}), got [{y.min()}, {y.max()}]")
    return z, y[..., None]


def true_class_confidence(logits: object, labels: object) -> np.ndarray:
    """Softmax probability of the true class, computed through the log-softmax (no overflow).

    The confidence ``p = f(x)_y = exp(z_y - logsumexp(z))`` that LiRA (Carlini et al. 2022, Sec. IV) logit-scales
    and that RMIA (Zarifzadeh et al. 2024) uses as ``Pr(x | theta)``.

    Args:
        logits: ``(..., C)`` logits (e.g. ``(n, C)``, or ``(K, n, C)`` for K models).
        labels: integer true classes, broadcastable to ``logits.shape[:-1]`` (e.g. ``(n,)``).

    Returns:
        ``(...)`` float64 probabilities in ``[0, 1]``.
    """
    z, y = _logits_and_labels(logits, labels)
    return np.exp(np.take_along_axis(log_softmax(z, axis=-1), y, axis=-1)[..., 0])


def logit_scaled_confidence(logits: object, labels: object) -> np.ndarray:
    """The logit-scaled true-class confidence ``phi(f(x)_y)``, computed stably from the logits.

    ``phi(p_y) = log p_y - log(sum_{k != y} p_k) = z_y - logsumexp_{k != y} z_k`` (the softmax normaliser cancels),
    Carlini et al. 2022 (Sec. IV, ``phi(p) = log(p / (1 - p))``) as LiRA's official ``score.py`` computes it
    (``log(y_true) - log(y_wrong)``), here without forming the probabilities: finite and exact even when ``p_y`` rounds
    to 1 in float64 (e.g. logits ``[800, 0]`` give 800, where ``log(p / (1 - p))`` of the softmax would be inf).

    Args:
        logits: ``(..., C)`` finite logits, ``C >= 2``.
        labels: integer true classes, broadcastable to ``logits.shape[:-1]``.

    Returns:
        ``(...)`` float64 logit-scaled confidences.
    """
    z, y = _logits_and_labels(logits, labels)
    others = z.copy()
    np.put_along_axis(others, y, -np.inf, axis=-1)
    return np.take_along_axis(z, y, axis=-1)[..., 0] - logsumexp(others, axis=-1)


# ----------------------------------------------------------------------------------------------------------------------
# LiRA


def _vector(name: str, x: object) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array, got shape {v.shape}")
    if np.isinf(v).any():
        raise ValueError(f"{name}: contains infinite values")
    return v


def _matrix(name: str, x: object, n: int) -> np.ndarray:
    m = np.asarray(x, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] != n:
        raise ValueError(f"{name}: expected a (K, {n}) array with K >= 1, got shape {m.shape}")
    if np.isinf(m).any():
        raise ValueError(f"{name}: contains infinite values (use NaN to mark a missing observation)")
    return m


class _Fit:
    """Per-example Gaussian fit of one role's observations (NaN = not observed) plus its global sd."""

    def __init__(self, obs: np.ndarray) -> None:
        seen = ~np.isnan(obs)
        self.count = seen.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean = np.where(seen, obs, 0.0).sum(axis=0) / self.count  # NaN where never observed
            resid2 = np.where(seen, obs - self.mean, 0.0) ** 2
            ss = resid2.sum(axis=0)
            self.sd = np.sqrt(ss / self.count)  # maximum likelihood (ddof=0), as np.std / scipy.stats.norm.fit
        grouped = self.count >= 2
        dof = int((self.count[grouped] - 1).sum())
        g = math.sqrt(float(ss[grouped].sum()) / dof) if dof > 0 else math.nan  # pooled within-example sd
        if not g > SD_FLOOR:
            values = obs[seen]
            g = float(values.std()) if values.size >= 2 else math.nan  # spread of all values (official code)
            if not g > SD_FLOOR:
                g = math.nan
        self.global_sd = g

    def sd_for(self, fix_variance: bool, global_sd: float) -> np.ndarray:
        if fix_variance:
            return np.full(self.mean.shape, global_sd)
        return np.where((self.count >= 2) & (self.sd > SD_FLOOR), self.sd, global_sd)


def _global_sds(a: _Fit, b: _Fit) -> tuple[float, float]:
    ga, gb = a.global_sd, b.global_sd
    if math.isnan(ga) and math.isnan(gb):
        return 1.0, 1.0
    return (gb if math.isnan(ga) else ga), (ga if math.isnan(gb) else gb)


def _log_normal_pdf_unnormalised(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``log N(x; mu, sd^2) + log(sqrt(2 pi))`` (the constant cancels in a ratio)."""
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)


def lira_scores(target: object, in_stats: object, out_stats: object, fix_variance: bool = False) -> np.ndarray:
    """Online LiRA: per-example Gaussian log-likelihood ratio of the target's logit-scaled confidence.

    Carlini et al. 2022 ("Membership Inference Attacks From First Principles", Sec. IV, Algorithm 1):
    ``Lambda = N(phi; mu_in, sd_in^2) / N(phi; mu_out, sd_out^2)``, returned as
    ``log N(target; mu_in, sd_in) - log N(target; mu_out, sd_out)`` (higher = more member-like). ``mu`` / ``sd``
    are each example's mean and maximum-likelihood standard deviation (ddof=0, as the official ``np.std`` and
    Privacy Meter's ``norm.fit``) over the shadow models that hold it in that role. For U-LiRA (Hayes et al. 2024,
    Sec. 4) "in" = unlearned shadow models and "out" = retrained ones (module docstring).

    Variance: with ``fix_variance=True`` every example uses one global sd per role (LiRA's option for few shadow
    models). The global sd is the pooled within-example sd, ``sqrt(sum_i sum_k (x_ik - mu_i)^2 / sum_i (n_i - 1))``
    over the examples with ``n_i >= 2`` observations; when no example has two, the sd of all that role's values (the
    official code's ``np.std(dat_in)``); when that is undefined too, the other role's global sd, else 1. With
    ``fix_variance=False`` an example with fewer than 2 observations in a role (or a zero spread) falls back to that
    role's global sd. So the score is finite for every example with at least one in and one out observation, and NaN
    for an example with none in some role (or a NaN target).

    Args:
        target: ``(n,)`` logit-scaled confidences of the model under audit (:func:`logit_scaled_confidence`).
        in_stats: ``(K_in, n)`` logit-scaled confidences of the IN shadow models, NaN where a model does not hold
            that example in the IN role.
        out_stats: ``(K_out, n)`` the same for the OUT shadow models.
        fix_variance: use the global per-role variance for every example.

    Returns:
        ``(n,)`` float64 log-likelihood ratios.
    """
    t = _vector("target", target)
    fit_in = _Fit(_matrix("in_stats", in_stats, t.size))
    fit_out = _Fit(_matrix("out_stats", out_stats, t.size))
    g_in, g_out = _global_sds(fit_in, fit_out)
    sd_in = fit_in.sd_for(fix_variance, g_in)
    sd_out = fit_out.sd_for(fix_variance, g_out)
    return _log_normal_pdf_unnormalised(t, fit_in.mean, sd_in) - _log_normal_pdf_unnormalised(t, fit_out.mean, sd_out)


def lira_offline_scores(target: object, out_stats: object, fix_variance: bool = False) -> np.ndarray:
    """Offline LiRA: one-sided test of the target's confidence against the OUT Gaussian.

    Carlini et al. 2022 (Sec. IV, Algorithm 1, offline variant): ``Lambda = 1 - Pr[Z > phi]``,
    ``Z ~ N(mu_out, sd_out^2)``. Returned as ``-log Pr[Z > phi]`` (the negative log p-value, ``scipy``'s
    ``log_ndtr``), a strictly increasing function of ``Lambda`` -- so the same ROC -- that keeps its resolution where
    ``Lambda`` would round to 1 (the low-FPR end). Higher = more member-like; an example is "member at level alpha"
    when the score exceeds ``-log(alpha)``. ``mu`` / ``sd`` and their fallbacks are those of :func:`lira_scores`;
    NaN for an example without any OUT observation.

    Args:
        target: ``(n,)`` logit-scaled confidences of the model under audit.
        out_stats: ``(K, n)`` logit-scaled confidences of the OUT (for U-LiRA: retrained) shadow models, NaN where
            a model holds the example in the other role.
        fix_variance: use one global OUT variance for every example.

    Returns:
        ``(n,)`` float64 scores ``>= 0``.
    """
    t = _vector("target", target)
    fit = _Fit(_matrix("out_stats", out_stats, t.size))
    g = 1.0 if math.isnan(fit.global_sd) else fit.global_sd
    z = (t - fit.mean) / fit.sd_for(fix_variance, g)
    return -log_ndtr(-z)  # Pr[Z > phi] = Phi(-z)


# ----------------------------------------------------------------------------------------------------------------------
# RMIA


def _probabilities(name: str, x: object, ndim: int, n: int | None = None, allow_nan: bool = False) -> np.ndarray:
    p = np.asarray(x, dtype=np.float64)
    if p.ndim != ndim or p.size == 0 or (n is not None and p.shape[-1] != n):
        want = "(n,)" if ndim == 1 else f"(R, {n})"
        raise ValueError(f"{name}: expected a non-empty {want} array of probabilities, got shape {p.shape}")
    missing = np.isnan(p)
    if missing.any() and not allow_nan:
        raise ValueError(f"{name}: contains NaN")
    values = p[~missing]
    if np.any((values < 0.0) | (values > 1.0)):
        raise ValueError(f"{name}: probabilities must lie in [0, 1]")
    return p


def _marginal(ref: np.ndarray, a: float | None) -> np.ndarray:
    """``Pr(x)``: the mean over reference models, or the offline linear approximation from OUT models."""
    seen = ~np.isnan(ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(seen, ref, 0.0).sum(axis=0) / seen.sum(axis=0)
    if a is None:
        return mean
    return 0.5 * ((1.0 + a) * mean + (1.0 - a))


def _log_ratio(target: np.ndarray, ref: np.ndarray, a: float | None) -> np.ndarray:
    tiny = np.finfo(np.float64).tiny  # Pr = 0 would make log-ratios -inf - -inf
    with np.errstate(invalid="ignore"):
        return np.log(np.maximum(target, tiny)) - np.log(np.maximum(_marginal(ref, a), tiny))


def rmia_scores(target_x: object, ref_x: object, target_z: object, ref_z: object, gamma: float = 1.0,
                a: float | None = None) -> np.ndarray:
    """RMIA: the fraction of population samples ``z`` that ``x`` dominates in the pairwise likelihood ratio.

    Zarifzadeh, Liu and Shokri 2024 ("Low-Cost High-Power Membership Inference Attacks", Sec. 3):
    ``LR_theta(x, z) = (Pr(x | theta) / Pr(x)) / (Pr(z | theta) / Pr(z))`` and
    ``Score_MIA(x; theta) = Pr_{z ~ pi}[LR_theta(x, z) >= gamma]``, estimated by the fraction of the ``m`` given
    population samples. ``Pr(. | theta)`` is the true-class probability (:func:`true_class_confidence`) and the
    marginal ``Pr(x) = mean_{theta'} Pr(x | theta')`` over the reference models (``Pr(z)`` likewise over ``ref_z``).

    Variant implemented:

    - ``a=None``: ``Pr(x)`` is the plain mean over the given reference models -- the paper's online RMIA when they
      are a mix of IN and OUT models for x (about half each). For ``z`` (population data, OUT for every reference
      model) the same plain mean.
    - ``a`` given (offline RMIA, only OUT references): ``Pr(x) = 0.5 * ((1 + a) * Pr_OUT(x) + (1 - a))``, from the
      paper's linear approximation ``Pr_IN(x) ~ a * Pr_OUT(x) + (1 - a)``, applied to x *and* to z, as the
      authors' reference code (Privacy Meter ``run_rmia``) does. ``a = 1`` is the plain mean; :data:`RMIA_OFFLINE_A`
      is the authors' example value, the paper tunes ``a`` per dataset.
    - single query per example (no augmentations), no softmax temperature (pass the probabilities already so).
    - the comparison is ``>= gamma`` as in the paper (Privacy Meter's code uses ``> 1``; the two differ only on
      exact ties). Computed by sorting the ``m`` population log-ratios: ``O((n + m) log m)``, not ``n x m``.

    Args:
        target_x: ``(n,)`` target model's true-class probabilities of the audited examples; NaN gives NaN.
        ref_x: ``(R, n)`` reference models' probabilities of the same examples (NaN = not available).
        target_z: ``(m,)`` target model's probabilities of the population samples.
        ref_z: ``(R_z, m)`` reference models' probabilities of the population samples (no NaN).
        gamma: the pairwise threshold, ``> 0`` (paper: ``gamma >= 1``; 1 by default).
        a: offline coefficient in ``[0, 1]``, or None for the plain mean.

    Returns:
        ``(n,)`` float64 scores in ``[0, 1]`` (steps of ``1 / m``); NaN where ``x`` has no reference probability.
    """
    tx = _probabilities("target_x", target_x, 1, allow_nan=True)
    rx = _probabilities("ref_x", ref_x, 2, n=tx.size, allow_nan=True)
    tz = _probabilities("target_z", target_z, 1)
    rz = _probabilities("ref_z", ref_z, 2, n=tz.size)
    if not (gamma > 0 and math.isfinite(gamma)):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma}")
    if a is not None and not 0.0 <= a <= 1.0:
        raise ValueError(f"a must be in [0, 1] or None, got {a}")
    log_lr_x = _log_ratio(tx, rx, a)
    log_lr_z = np.sort(_log_ratio(tz, rz, a))
    # LR(x)/LR(z) >= gamma  <=>  log LR(z) <= log LR(x) - log gamma
    counts = np.searchsorted(log_lr_z, log_lr_x - math.log(gamma), side="right").astype(np.float64)
    counts[np.isnan(log_lr_x)] = np.nan
    return counts / tz.size


# ----------------------------------------------------------------------------------------------------------------------
# metrics


def _scores_labels(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"scores and labels must be 1-D of the same length, got {s.shape} and {y.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores: contains NaN or infinite values")
    if y.dtype != np.bool_:
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("labels: expected 0 (non-member) / 1 (member)")
        y = y == 1
    if y.all() or not y.any():
        raise ValueError("labels: need at least one member and one non-member")
    return s, y


def resolvable(n_negatives: int, fpr: float) -> bool:
    """Whether ``n_negatives`` non-members can resolve a false-positive rate of ``fpr``: ``n_neg * fpr >= 1``.

    Below that, the only threshold with FPR <= ``fpr`` admits no false positive at all, so :func:`tpr_at_fpr` reports
    the TPR at FPR = 0 (Carlini et al. 2022, Sec. III: a TPR at 0.1% FPR needs thousands of non-members).

    Args:
        n_negatives: number of non-members evaluated.
        fpr: the false-positive rate, in ``[0, 1]``.

    Returns:
        True when at least one false positive fits under ``fpr``.
    """
    if n_negatives < 0 or not 0.0 <= fpr <= 1.0:
        raise ValueError(f"need n_negatives >= 0 and fpr in [0, 1], got {n_negatives}, {fpr}")
    return n_negatives * fpr >= 1.0 - _FPR_SLACK


def tpr_at_fpr(scores: object, labels: object, fpr: float) -> float:
    """The highest TPR over thresholds whose FPR is at most ``fpr``, without interpolation.

    Carlini et al. 2022 (Sec. III, "TPR at low FPR"): ``max {TPR(t) : FPR(t) <= fpr}`` over the thresholds
    ``t`` of "member iff score >= t" (ties move together), i.e. at most ``floor(fpr * n_neg)`` false positives.
    (The official ``plot.py`` takes ``tpr[fpr < 0.001][-1]``, a strict inequality; here it is ``<=``.) When
    ``fpr * n_neg < 1`` this is the TPR at zero false positives -- check :func:`resolvable`.

    Args:
        scores: ``(N,)`` finite scores, higher = member.
        labels: ``(N,)`` 1 = member, 0 = non-member (both present).
        fpr: the FPR budget in ``[0, 1]``, e.g. 0.01 or 0.001.

    Returns:
        The TPR in ``[0, 1]``.
    """
    s, y = _scores_labels(scores, labels)
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # end of each run of tied scores
    tps = np.r_[0, np.cumsum(y)[last]]
    fps = np.r_[0, np.cumsum(~y)[last]]
    n_neg = int((~y).sum())
    max_fp = math.floor(fpr * n_neg + _FPR_SLACK)
    return float(tps[fps <= max_fp].max() / y.sum())


def roc(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray, float]:
    """The ROC curve and its area (``sklearn.metrics.roc_curve`` / ``roc_auc_score``).

    The curve over all thresholds "member iff score >= t" (Carlini et al. 2022, Sec. III, plotted log-log there:
    :func:`loglog_points`).

    Args:
        scores: ``(N,)`` finite scores, higher = member.
        labels: ``(N,)`` 1 = member, 0 = non-member (both present).

    Returns:
        ``(fpr, tpr, auc)``: the curve's points, from (0, 0) to (1, 1), and the AUC.
    """
    s, y = _scores_labels(scores, labels)
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr, float(roc_auc_score(y, s))


def balanced_accuracy_best(scores: object, labels: object) -> float:
    """The attack accuracy at its best threshold: ``max_t (TPR(t) + TNR(t)) / 2``.

    Hayes et al. 2024 (Sec. 4) report U-LiRA's accuracy at the best threshold; on balanced members / non-members
    this is the accuracy, otherwise its balanced form. Carlini et al.'s ``plot.py`` computes the same
    ``max(1 - (fpr + (1 - tpr)) / 2)``. At least 0.5 (the all-member / all-non-member thresholds).

    Args:
        scores: ``(N,)`` finite scores, higher = member.
        labels: ``(N,)`` 1 = member, 0 = non-member (both present).

    Returns:
        The best balanced accuracy in ``[0.5, 1]``.
    """
    s, y = _scores_labels(scores, labels)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return float(np.max((tpr + 1.0 - fpr) / 2.0))


def loglog_points(fpr: object, tpr: object, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """ROC points clipped to ``[floor, 1]`` for a log-log chart (Carlini et al. 2022, Sec. III, Fig. 1 style).

    A log axis cannot show 0; clipping keeps the (0, 0) start and the zero-FPR segment on the chart's edge. A
    natural ``floor`` is ``1 / n_negatives`` (the smallest non-zero FPR).

    Args:
        fpr: ROC false-positive rates.
        tpr: ROC true-positive rates, same shape.
        floor: the lower clip, in ``(0, 1]``.

    Returns:
        ``(clip(fpr, floor, 1), clip(tpr, floor, 1))`` in float64.
    """
    f = np.asarray(fpr, dtype=np.float64)
    t = np.asarray(tpr, dtype=np.float64)
    if f.shape != t.shape:
        raise ValueError(f"fpr and tpr must have the same shape, got {f.shape} and {t.shape}")
    if not 0.0 < floor <= 1.0:
        raise ValueError(f"floor must be in (0, 1], got {floor}")
    return np.clip(f, floor, 1.0), np.clip(t, floor, 1.0)


@dataclass(frozen=True)
class AttackReport:
    """Summary of one attack's scores (Carlini et al. 2022, Sec. III; Hayes et al. 2024, Sec. 4).

    ``tpr_at_1pct`` / ``tpr_at_01pct`` are the TPR at 1% and 0.1% FPR (:func:`tpr_at_fpr`); check them with
    :func:`resolvable` against ``n_nonmembers``.
    """

    auc: float
    balanced_acc: float
    tpr_at_1pct: float
    tpr_at_01pct: float
    n_members: int
    n_nonmembers: int


def report(scores: object, labels: object) -> AttackReport:
    """All the summary metrics of one attack (AUC, best balanced accuracy, TPR at 1% and 0.1% FPR, counts).

    Carlini et al. 2022 (Sec. III: TPR at low FPR, AUC) and Hayes et al. 2024 (Sec. 4: accuracy at the best
    threshold).

    Args:
        scores: ``(N,)`` finite scores, higher = member.
        labels: ``(N,)`` 1 = member, 0 = non-member (both present).

    Returns:
        The :class:`AttackReport`.
    """
    s, y = _scores_labels(scores, labels)
    return AttackReport(
        auc=roc(s, y)[2],
        balanced_acc=balanced_accuracy_best(s, y),
        tpr_at_1pct=tpr_at_fpr(s, y, 0.01),
        tpr_at_01pct=tpr_at_fpr(s, y, 0.001),
        n_members=int(y.sum()),
        n_nonmembers=int((~y).sum()),
    )
