"""Small synthetic EvalInputs for the metric tests (no model, no training)."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.metrics import EvalInputs

K = 10


def margin_logits(y: np.ndarray, margin: float, rng: np.random.Generator, k: int = K, noise: float = 1.0) -> np.ndarray:
    """Gaussian logits with ``margin`` added to the true class (large margin = confident and right)."""
    z = rng.normal(0.0, noise, size=(len(y), k))
    z[np.arange(len(y)), y] += margin
    return z


def make_inputs(
    scenario: str = "class",
    *,
    n_train: int = 300,
    n_test: int = 100,
    seed: int = 0,
    retain_margin: float = 6.0,
    forget_margin: float | None = None,
    test_margin: float = 2.0,
    with_retrain: bool = True,
    data_seed: int = 123,
) -> EvalInputs:
    """Balanced labels (i % K); ``class`` forgets class 0, ``random`` 10 % across all classes.

    ``forget_margin`` defaults to ``retain_margin`` (a model that has not forgotten anything).
    The retrain's logits treat the forget samples like test samples.
    """
    rng = np.random.default_rng(data_seed)
    y_train = np.arange(n_train) % K
    y_test = np.arange(n_test) % K
    if scenario == "class":
        forget_idx = np.flatnonzero(y_train == 0)
        test_forget_mask: np.ndarray | None = y_test == 0
        forget_classes: tuple[int, ...] = (0,)
        touched: tuple[int, ...] = (0,)
    elif scenario == "random":
        forget_idx = np.sort(rng.choice(n_train, size=n_train // 10, replace=False))
        test_forget_mask = None
        forget_classes = ()
        touched = tuple(int(c) for c in np.unique(y_train[forget_idx]))
    else:
        raise ValueError(scenario)
    retain_idx = np.setdiff1d(np.arange(n_train), forget_idx)
    fm = retain_margin if forget_margin is None else forget_margin
    logits_train = margin_logits(y_train, retain_margin, rng)
    logits_train[forget_idx] = margin_logits(y_train[forget_idx], fm, rng)
    logits_test = margin_logits(y_test, test_margin, rng)
    rt_train = rt_test = None
    if with_retrain:
        rt_train = margin_logits(y_train, retain_margin, rng)
        rt_train[forget_idx] = margin_logits(y_train[forget_idx], test_margin, rng)
        rt_test = margin_logits(y_test, test_margin, rng)
    return EvalInputs(
        logits_train=logits_train,
        logits_test=logits_test,
        y_train=y_train,
        y_test=y_test,
        forget_idx=forget_idx,
        retain_idx=retain_idx,
        test_forget_mask=test_forget_mask,
        forget_classes=forget_classes,
        touched_classes=touched,
        seed=seed,
        unlearn_seconds=2.0,
        retrain_seconds=10.0,
        retrain_logits_train=rt_train,
        retrain_logits_test=rt_test,
    )


def replace(inp: EvalInputs, **changes) -> EvalInputs:
    """``dataclasses.replace`` for EvalInputs."""
    return dataclasses.replace(inp, **changes)
