"""engine.audit.membership: LiRA / offline LiRA / RMIA scores and the TPR-at-low-FPR metrics.

Synthetic worlds (np.random.default_rng(seed)) where the answer is known, hand-computed small cases, and
re-derivations of ML Privacy Meter's formulas on the same inputs (its PyPI release is imported only if installed).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, softmax
from sklearn.metrics import roc_auc_score, roc_curve

from engine.audit.membership import (
    AttackReport,
    balanced_accuracy_best,
    lira_offline_scores,
    lira_scores,
    logit_scale,
    logit_scaled_confidence,
    loglog_points,
    report,
    resolvable,
    rmia_scores,
    roc,
    tpr_at_fpr,
    true_class_confidence,
)

# ----------------------------------------------------------------------------------------------------------------------
# synthetic worlds


def _lira_world(seed: int, shift: float, in_sd: float = 0.4, n: int = 2000, k: int = 16):
    """Logit-scaled confidences: example difficulty d_i ~ N(0, 3), IN = d_i + shift (sd in_sd), OUT = d_i (sd 0.3).

    Each shadow model holds each example IN with probability 1/2 (NaN in the other role); the target holds the
    even-indexed examples OUT and the odd ones IN (labels 0 / 1)."""
    rng = np.random.default_rng(seed)
    d = rng.normal(0.0, 3.0, n)
    is_in = rng.random((k, n)) < 0.5
    in_obs = d + shift + rng.normal(0.0, in_sd, (k, n))
    out_obs = d + rng.normal(0.0, 0.3, (k, n))
    labels = np.arange(n) % 2
    target = np.where(labels == 1, d + shift + rng.normal(0.0, in_sd, n), d + rng.normal(0.0, 0.3, n))
    return target, np.where(is_in, in_obs, np.nan), np.where(is_in, np.nan, out_obs), labels


def _rmia_world(seed: int, shift: float, n: int = 2000, r: int = 8, m: int = 1000):
    """A synthetic model family: model theta's true-class probability of x is sigmoid(d_x + shift * [x in theta]
    + noise), d_x ~ N(-3, 1). Returns the target's / references' probabilities of the audited examples (online
    references: each holds each example with probability 1/2; offline: OUT-only references) and of m population
    samples, which no model holds."""
    rng = np.random.default_rng(seed)
    d = rng.normal(-3.0, 1.0, n)
    dz = rng.normal(-3.0, 1.0, m)

    def prob(base: np.ndarray, member: np.ndarray) -> np.ndarray:
        shape = np.broadcast_shapes(base.shape, np.shape(member))
        return expit(base + shift * member + rng.normal(0.0, 0.3, shape))

    labels = np.arange(n) % 2
    ref_x = prob(d, rng.random((r, n)) < 0.5)
    ref_x_out = prob(d, np.zeros((r, n)))
    ref_z = prob(dz, np.zeros((r, m)))
    return prob(d, labels), ref_x, ref_x_out, prob(dz, np.zeros(m)), ref_z, labels


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores))


# ----------------------------------------------------------------------------------------------------------------------
# confidences


def test_logit_scale_matches_the_naive_formula_and_stays_finite() -> None:
    p = np.linspace(0.01, 0.99, 99)
    np.testing.assert_allclose(logit_scale(p), np.log(p / (1 - p)), rtol=1e-12, atol=1e-12)
    edge = logit_scale(np.array([0.0, 1.0 - 1e-12, 1.0]))
    assert np.all(np.isfinite(edge))
    np.testing.assert_allclose(edge, [-math.log((1 - 1e-7) / 1e-7), math.log((1 - 1e-7) / 1e-7),
                                      math.log((1 - 1e-7) / 1e-7)], rtol=1e-9)
    assert np.isnan(logit_scale(np.array([np.nan]))[0])
    with pytest.raises(ValueError):
        logit_scale(p, eps=0.0)


def test_the_stable_logit_scaled_confidence_matches_naive_and_survives_confident_logits() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 2.0, (200, 10))
    labels = rng.integers(0, 10, 200)
    p = softmax(logits, axis=1)[np.arange(200), labels]
    np.testing.assert_allclose(logit_scaled_confidence(logits, labels), np.log(p / (1 - p)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(true_class_confidence(logits, labels), p, rtol=1e-12)
    # p = 1 - 1e-12 for a two-class logit gap of log((1 - 1e-12) / 1e-12): exact, finite
    gap = math.log((1 - 1e-12) / 1e-12)
    assert logit_scaled_confidence(np.array([[gap, 0.0]]), np.array([0]))[0] == pytest.approx(gap, rel=1e-12)
    # a gap of 800: the softmax probability rounds to 1 and the naive logit is inf; the stable one is exact
    big = np.array([[800.0, 0.0, 0.0], [0.0, 800.0, 0.0]])
    with np.errstate(divide="ignore"):
        p_big = softmax(big, axis=1)[0, 0]
        assert np.isinf(np.log(p_big / (1 - p_big)))
    np.testing.assert_allclose(logit_scaled_confidence(big, np.array([0, 0])), [800 - math.log(2), -800.0],
                               rtol=1e-12)
    np.testing.assert_array_equal(true_class_confidence(big, np.array([0, 0])), [1.0, 0.0])


def test_confidences_broadcast_labels_over_models() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 5, 4))  # (K models, n examples, C)
    labels = rng.integers(0, 4, 5)
    out = logit_scaled_confidence(logits, labels)
    assert out.shape == (3, 5)
    for k in range(3):
        np.testing.assert_allclose(out[k], logit_scaled_confidence(logits[k], labels))
    with pytest.raises(ValueError):
        true_class_confidence(logits, np.array([0, 1, 2, 3, 4]))  # class 4 of 4
    with pytest.raises(ValueError):
        true_class_confidence(logits, np.zeros(5))  # float labels


# ----------------------------------------------------------------------------------------------------------------------
# LiRA


def test_lira_separates_a_separable_world_beyond_a_global_threshold() -> None:
    target, ins, outs, labels = _lira_world(seed=3, shift=2.0)
    for scores in (lira_scores(target, ins, outs), lira_scores(target, ins, outs, fix_variance=True),
                   lira_offline_scores(target, outs)):
        rep = report(scores, labels)
        assert rep.auc > 0.99 and rep.tpr_at_1pct > 0.9, rep
    # the raw confidence (one global threshold) is far weaker: the per-example calibration is what works
    assert _auc(target, labels) < 0.8


@pytest.mark.parametrize("seed", [4, 5])
def test_lira_is_at_chance_when_in_and_out_are_the_same(seed: int) -> None:
    target, ins, outs, labels = _lira_world(seed=seed, shift=0.0, in_sd=0.3)  # IN and OUT identical
    for scores in (lira_scores(target, ins, outs), lira_scores(target, ins, outs, fix_variance=True),
                   lira_offline_scores(target, outs)):
        assert abs(_auc(scores, labels) - 0.5) < 0.05


def test_lira_hand_computed_per_example_gaussians() -> None:
    # in [1, 3]: mu 2, sd 1 (ddof 0); out [-1, 1]: mu 0, sd 1; target 2 -> log N(2;2,1) - log N(2;0,1) = 2
    ins = np.array([[1.0], [3.0], [np.nan], [np.nan]])
    outs = np.array([[np.nan], [np.nan], [-1.0], [1.0]])
    assert lira_scores(np.array([2.0]), ins, outs)[0] == pytest.approx(2.0, abs=1e-12)
    # offline: -log Pr[Z > 1.5], Z ~ N(0, 1)
    assert lira_offline_scores(np.array([1.5]), outs)[0] == pytest.approx(-stats.norm.logsf(1.5), rel=1e-12)


def test_fix_variance_uses_the_pooled_within_example_variance() -> None:
    ins = np.array([[0.0, 10.0], [2.0, 12.0]])  # residuals +-1, +-1: pooled var 4 / 2 = 2
    outs = np.array([[-1.0, 5.0], [1.0, 9.0]])  # residuals +-1, +-2: pooled var 10 / 2 = 5
    target = np.array([1.0, 11.0])
    expected = (stats.norm.logpdf(target, [1.0, 11.0], math.sqrt(2.0))
                - stats.norm.logpdf(target, [0.0, 7.0], math.sqrt(5.0)))
    np.testing.assert_allclose(lira_scores(target, ins, outs, fix_variance=True), expected, rtol=1e-12)
    per_example = (stats.norm.logpdf(target, [1.0, 11.0], 1.0) - stats.norm.logpdf(target, [0.0, 7.0], [1.0, 2.0]))
    np.testing.assert_allclose(lira_scores(target, ins, outs), per_example, rtol=1e-12)
    assert not np.allclose(expected, per_example)


def test_an_example_with_one_observation_falls_back_to_the_global_variance() -> None:
    # example 2 has a single IN observation (5.0): mu_in = 5, sd_in = the pooled IN sd of examples 0, 1 (sqrt 2)
    ins = np.array([[0.0, 10.0, 5.0], [2.0, 12.0, np.nan]])
    outs = np.array([[-1.0, 5.0, 3.0], [1.0, 9.0, 5.0]])
    target = np.array([1.0, 11.0, 4.5])
    scores = lira_scores(target, ins, outs)
    assert np.all(np.isfinite(scores))
    expected = stats.norm.logpdf(4.5, 5.0, math.sqrt(2.0)) - stats.norm.logpdf(4.5, 4.0, 1.0)
    assert scores[2] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_nan_masks_give_a_finite_score_wherever_both_roles_are_observed(k: int) -> None:
    rng = np.random.default_rng(10 + k)
    n = 500
    is_in = rng.random((k, n)) < 0.5
    if k == 2:
        is_in[1] = ~is_in[0]  # every example exactly once IN and once OUT: no per-example spread at all
    obs = rng.normal(0.0, 1.0, (k, n)) + is_in
    ins, outs = np.where(is_in, obs, np.nan), np.where(is_in, np.nan, obs)
    target = rng.normal(0.5, 1.0, n)
    both = is_in.any(axis=0) & (~is_in).any(axis=0)
    for fix_variance in (False, True):
        scores = lira_scores(target, ins, outs, fix_variance=fix_variance)
        assert np.all(np.isfinite(scores[both]))
        assert np.all(np.isnan(scores[~both]))
        offline = lira_offline_scores(target, outs, fix_variance=fix_variance)
        assert np.all(np.isfinite(offline[(~is_in).any(axis=0)]))


def test_lira_degenerate_inputs() -> None:
    # all observations equal: zero spread everywhere -> the fallback ends at sd 1, still finite
    ins = np.full((4, 3), 2.0)
    outs = np.full((4, 3), 0.0)
    scores = lira_scores(np.array([2.0, 0.0, np.nan]), ins, outs)
    assert scores[0] == pytest.approx(2.0) and scores[1] == pytest.approx(-2.0) and np.isnan(scores[2])
    with pytest.raises(ValueError):
        lira_scores(np.zeros(3), np.full((2, 3), np.inf), outs)
    with pytest.raises(ValueError):
        lira_scores(np.zeros(3), np.zeros((2, 4)), outs)


# ----------------------------------------------------------------------------------------------------------------------
# RMIA


def test_rmia_separates_a_synthetic_model_family() -> None:
    tx, ref_x, _, tz, ref_z, labels = _rmia_world(seed=6, shift=2.5)
    rep = report(rmia_scores(tx, ref_x, tz, ref_z), labels)
    assert rep.auc > 0.99 and rep.tpr_at_1pct > 0.9, rep
    assert _auc(tx, labels) < 0.97  # the raw confidence is weaker: the references calibrate each example
    tx, _, ref_out, tz, ref_z, labels = _rmia_world(seed=7, shift=4.0)
    rep = report(rmia_scores(tx, ref_out, tz, ref_z, a=0.3), labels)
    assert rep.auc > 0.99 and rep.tpr_at_1pct > 0.9, rep


@pytest.mark.parametrize("seed", [8, 9])
def test_rmia_is_at_chance_without_membership_signal(seed: int) -> None:
    tx, ref_x, ref_out, tz, ref_z, labels = _rmia_world(seed=seed, shift=0.0)
    assert abs(_auc(rmia_scores(tx, ref_x, tz, ref_z), labels) - 0.5) < 0.05
    assert abs(_auc(rmia_scores(tx, ref_out, tz, ref_z, a=0.3), labels) - 0.5) < 0.05


def test_rmia_hand_computed_pairwise_counts() -> None:
    # one reference model; powers of two keep every ratio exact
    # LR(x) = [0.5 / 0.25, 0.1875 / 0.25] = [2, 0.75]; LR(z) = [0.5 / 0.5, 0.5 / 0.125, 0.5 / 1] = [1, 4, 0.5]
    tx, rx = np.array([0.5, 0.1875]), np.array([[0.25, 0.25]])
    tz, rz = np.array([0.5, 0.5, 0.5]), np.array([[0.5, 0.125, 1.0]])
    # LR(x)/LR(z): x0 -> [2, 0.5, 4], x1 -> [0.75, 0.1875, 1.5]
    np.testing.assert_allclose(rmia_scores(tx, rx, tz, rz), [2 / 3, 1 / 3])
    np.testing.assert_allclose(rmia_scores(tx, rx, tz, rz, gamma=1.2), [2 / 3, 1 / 3])
    np.testing.assert_allclose(rmia_scores(tx, rx, tz, rz, gamma=3.0), [1 / 3, 0.0])
    # a = 1 is the plain mean; a NaN target gives NaN; probabilities outside [0, 1] are refused
    np.testing.assert_array_equal(rmia_scores(tx, rx, tz, rz, a=1.0), rmia_scores(tx, rx, tz, rz))
    assert np.isnan(rmia_scores(np.array([np.nan, 0.5]), rx, tz, rz)[0])
    with pytest.raises(ValueError):
        rmia_scores(np.array([1.5, 0.5]), rx, tz, rz)
    with pytest.raises(ValueError):
        rmia_scores(tx, rx, tz, rz, gamma=0.0)


# ----------------------------------------------------------------------------------------------------------------------
# cross-checks against ML Privacy Meter (github.com/privacytrustlab/ml_privacy_meter)


def _privacy_meter_run_rmia(target: np.ndarray, ref: np.ndarray, z_target: np.ndarray, z_ref: np.ndarray,
                            offline_a: float) -> np.ndarray:
    """Privacy Meter's ``modules/mia/attacks/rmia.py::run_rmia`` re-derived for OUT-only references (memberships
    all False, ``num_reference_models`` = all of them): signals are ``(num_samples, num_models)``; ``mean_x =
    (1 + a) / 2 * mean_out_x + (1 - a) / 2``, the same for z, ``counts = mean(ratio_x[:, None] / ratio_z > 1)``."""
    mean_x = (1 + offline_a) / 2 * ref.mean(axis=1) + (1 - offline_a) / 2
    mean_z = (1 + offline_a) / 2 * z_ref.mean(axis=1) + (1 - offline_a) / 2
    ratios = (target / mean_x)[:, None] / (z_target / mean_z)[None, :]
    return np.average(ratios > 1.0, axis=1)


@pytest.mark.parametrize("offline_a", [0.0, 0.3, 1.0])
def test_rmia_matches_privacy_meter_run_rmia(offline_a: float) -> None:
    tx, _, ref_out, tz, ref_z, _ = _rmia_world(seed=11, shift=2.0, n=400, m=300)
    theirs = _privacy_meter_run_rmia(tx, ref_out.T, tz, ref_z.T, offline_a)
    np.testing.assert_array_equal(rmia_scores(tx, ref_out, tz, ref_z, a=offline_a), theirs)


def _offline_world(seed: int, n: int = 400, k: int = 12):
    rng = np.random.default_rng(seed)
    d = rng.normal(0.0, 2.0, n)
    outs = d + rng.normal(0.0, rng.uniform(0.2, 1.0, n), (k, n))  # (K, n) logit-scaled OUT confidences
    target = d + rng.normal(0.5, 0.8, n)
    return target, outs


def _member_decisions_ours(target: np.ndarray, outs: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = lira_offline_scores(target, outs)  # -log p-value
    decided = scores[None, :] > -np.log(alphas)[:, None]
    clear = np.abs(scores[None, :] + np.log(alphas)[:, None]) > 1e-3  # not within float noise of the boundary
    return decided, clear


def test_offline_lira_matches_privacy_meter_logit_rescale_threshold_formula() -> None:
    """Privacy Meter 1.0.1 (PyPI) ``hypothesis_test.logit_rescale_threshold_func`` re-derived: per example, fit a
    Gaussian (``scipy.stats.norm.fit``: mean, ddof-0 sd) to the logit-rescaled reference losses
    ``log(exp(-l) / (1 - exp(-l)))`` (l + 1e-6), take ``norm.ppf(1 - alpha)`` and map it back to a loss
    ``log(exp(t) + 1) - t``; ``ReferenceMetric`` calls a target a member when its loss is below that threshold."""
    target, outs = _offline_world(seed=12)
    alphas = np.array([0.001, 0.01, 0.1, 0.5])
    ref_losses = np.log1p(np.exp(-outs)).T + 1e-6  # (n, K), l = -log sigmoid(phi)
    phi = np.log(np.exp(-ref_losses) / (1 - np.exp(-ref_losses)))
    loc, scale = phi.mean(axis=1), phi.std(axis=1)
    t = stats.norm.ppf(1 - alphas[:, None], loc=loc[None, :], scale=scale[None, :])
    threshold_loss = np.log(np.exp(t) + 1) - t
    theirs = np.log1p(np.exp(-target))[None, :] < threshold_loss
    ours, clear = _member_decisions_ours(target, outs, alphas)
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(ours[clear], theirs[clear])
    assert 0.05 < ours.mean() < 0.95  # the levels split the examples (the check is not vacuous)


def test_offline_lira_matches_installed_privacy_meter() -> None:
    hypothesis_test = pytest.importorskip("privacy_meter.hypothesis_test")  # Privacy Meter 1.0.1; not in our venv
    target, outs = _offline_world(seed=13)
    alphas = np.array([0.001, 0.01, 0.1, 0.5])
    threshold_loss = hypothesis_test.logit_rescale_threshold_func(np.log1p(np.exp(-outs)).T, alphas)
    theirs = np.log1p(np.exp(-target))[None, :] < threshold_loss
    ours, clear = _member_decisions_ours(target, outs, alphas)
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(ours[clear], theirs[clear])


# ----------------------------------------------------------------------------------------------------------------------
# metrics

TEN_SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1])
TEN_LABELS = np.array([1, 1, 0, 1, 1, 0, 1, 0, 0, 0])


def test_tpr_at_fpr_hand_computed_tiny_example() -> None:
    # 5 negatives: 1% and 0.1% both allow 0 false positives -> the 2 positives above the first negative: 2/5
    assert tpr_at_fpr(TEN_SCORES, TEN_LABELS, 0.01) == pytest.approx(0.4)
    assert tpr_at_fpr(TEN_SCORES, TEN_LABELS, 0.001) == pytest.approx(0.4)
    assert tpr_at_fpr(TEN_SCORES, TEN_LABELS, 0.2) == pytest.approx(0.8)  # 1 false positive: 4/5
    assert tpr_at_fpr(TEN_SCORES, TEN_LABELS, 1.0) == pytest.approx(1.0)
    # a negative tied with the top positive: no threshold separates them, TPR at FPR 0 is 0
    assert tpr_at_fpr(np.array([1.0, 1.0, 0.5, 0.2]), np.array([1, 0, 1, 0]), 0.01) == 0.0


def test_tpr_at_fpr_resolves_one_and_a_tenth_percent() -> None:
    # 1000 negatives scored 0..999; positives: 30 at 1000+, 20 at 998.5, 10 at 995.5, 40 at 500.5
    neg = np.arange(1000, dtype=float)
    pos = np.r_[np.full(30, 1000.0) + np.arange(30), np.full(20, 998.5), np.full(10, 995.5), np.full(40, 500.5)]
    scores = np.r_[neg, pos]
    labels = np.r_[np.zeros(1000, int), np.ones(100, int)]
    # 0.1%: at most 1 false positive (negative 999) -> 30 + 20 positives (a strict "< 0.1%" would give 0.3)
    assert tpr_at_fpr(scores, labels, 0.001) == pytest.approx(0.5)
    # 1%: at most 10 false positives (negatives 990..999) -> 30 + 20 + 10
    assert tpr_at_fpr(scores, labels, 0.01) == pytest.approx(0.6)
    assert resolvable(1000, 0.001) and resolvable(100, 0.01)
    assert not resolvable(999, 0.001) and not resolvable(99, 0.01)


def test_roc_and_balanced_accuracy_agree_with_sklearn_and_by_hand() -> None:
    rng = np.random.default_rng(14)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: plenty of ties
    fpr, tpr, auc = roc(scores, labels)
    want_fpr, want_tpr, _ = roc_curve(labels, scores)
    np.testing.assert_array_equal(fpr, want_fpr)
    np.testing.assert_array_equal(tpr, want_tpr)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-15)
    # best balanced accuracy by brute force over the thresholds "score >= t"
    brute = max(0.5 * ((scores[labels == 1] >= t).mean() + (scores[labels == 0] < t).mean())
                for t in np.r_[np.unique(scores), np.inf])
    assert balanced_accuracy_best(scores, labels) == pytest.approx(brute)
    # the tiny example: thresholds 0.8 -> (0.4 + 1) / 2, 0.55 -> (0.8 + 0.8) / 2, 0.4 -> (1 + 0.6) / 2
    assert balanced_accuracy_best(TEN_SCORES, TEN_LABELS) == pytest.approx(0.8)


def test_loglog_points_clip_to_the_floor() -> None:
    f, t = loglog_points(np.array([0.0, 1e-6, 0.5, 1.0]), np.array([0.0, 0.2, 0.9, 1.0]), 1e-4)
    np.testing.assert_array_equal(f, [1e-4, 1e-4, 0.5, 1.0])
    np.testing.assert_array_equal(t, [1e-4, 0.2, 0.9, 1.0])
    with pytest.raises(ValueError):
        loglog_points(np.zeros(2), np.zeros(2), 0.0)


def test_report_collects_the_metrics() -> None:
    rep = report(TEN_SCORES, TEN_LABELS.astype(bool))
    assert rep == AttackReport(auc=roc_auc_score(TEN_LABELS, TEN_SCORES), balanced_acc=pytest.approx(0.8),
                               tpr_at_1pct=pytest.approx(0.4), tpr_at_01pct=pytest.approx(0.4), n_members=5,
                               n_nonmembers=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.auc = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        report(TEN_SCORES, np.ones(10, int))  # no non-member
    with pytest.raises(ValueError):
        report(np.r_[TEN_SCORES[:-1], np.nan], TEN_LABELS)
    with pytest.raises(ValueError):
        report(TEN_SCORES, np.r_[TEN_LABELS[:-1], 2])
