"""Read-only views of a comparison's stored outputs for the dashboard (nothing is trained or evaluated).

Every function reads what the jobs already wrote -- the evaluation's ``outputs.npz`` (``logits_train``,
``logits_test``) and the problem's ``problem.npz`` (``forget_idx``, ``requests``, observed labels,
candidate sets) -- and combines it with the dataset's *true* labels (the evaluation's labels; methods
may have seen noisy ones or none). Rows whose evaluation is not in the store are left out.

* :func:`per_class_accuracy` -- accuracy per class on the train forget / train retain / test splits.
* :func:`forget_confusion` -- where the forget samples go: true class -> predicted class counts
  (PGU Fig. 4, the "Streisand" check: a forgotten class should spread like retrain's, not pile up).
* :func:`forget_samples` -- one row per forget sample x method x seed: prediction, confidence,
  probability of the true class, entropy (nats), cross-entropy loss and each per-example membership attack's score
  of the sample (:data:`SCORE_COLUMNS`: U-LiRA, RMIA, PGU's shadow attacker; empty where the attack did not run or
  did not audit the sample).
* :func:`gallery` -- the first ``n`` forget images as ``uint8`` arrays with every method's prediction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.data.base import ImageData
from engine.jobs.model import OUTPUTS_BLOB, PER_SAMPLE_BLOB, PROBLEM_BLOB
from engine.methods import METHODS
from engine.runner.plan import REFERENCE_ORIGINAL, REFERENCE_RETRAIN, Plan, Row
from engine.store import Store, arrays_from_bytes

SPLITS = ("train_forget", "train_retain", "test")
# per-example membership scores (higher = more member-like, i.e. more like an unlearned than a retrained model): the
# attack metric whose per-sample values they are (with the audited samples in "<metric>.forget_idx")
SCORE_COLUMNS = {"ulira_score": "mia_ulira", "rmia_score": "mia_rmia", "shadow_score": "mia_shadow_auc"}
SAMPLE_COLUMNS = ["index", "request", "true", "observed", "candidates", "method", "seed", "predicted", "correct",
                  "confidence", "p_true", "entropy", "loss", *SCORE_COLUMNS]


def membership_scores(store: Store, row: Row, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Each attack's per-example score of the training samples ``idx`` in ``row``'s evaluation (NaN where the attack
    did not run or did not audit the sample): column -> array aligned with ``idx``."""
    arrays = arrays_from_bytes(store.blob(row.eval_job, PER_SAMPLE_BLOB))
    out = {}
    for col, metric in SCORE_COLUMNS.items():
        v = np.full(len(idx), np.nan)
        if metric in arrays and f"{metric}.forget_idx" in arrays:
            where = {int(i): k for k, i in enumerate(arrays[f"{metric}.forget_idx"])}
            scores = np.asarray(arrays[metric], dtype=np.float64)
            hit = [(n, where[int(i)]) for n, i in enumerate(idx) if int(i) in where]
            if hit:
                pos, src = (np.array(a) for a in zip(*hit, strict=True))
                v[pos] = scores[src]
        out[col] = v
    return out


def finished_rows(plan: Plan, store: Store) -> list[Row]:
    """The plan's rows whose evaluation is stored, in plan order."""
    return [r for r in plan.rows if r.eval_job is not None and store.has(r.eval_job)]


def logits(store: Store, row: Row) -> tuple[np.ndarray, np.ndarray]:
    """``(logits_train, logits_test)`` of a finished row."""
    out = arrays_from_bytes(store.blob(row.eval_job, OUTPUTS_BLOB))
    return out["logits_train"], out["logits_test"]


def problem_arrays(plan: Plan, store: Store, seed: int) -> dict[str, np.ndarray]:
    """The stored problem of ``seed`` (forget/retain indices, requests, observed labels, candidates)."""
    return arrays_from_bytes(store.blob(plan.setting.problem_key(seed), PROBLEM_BLOB))


def forget_classes(plan: Plan, store: Store) -> tuple[int, ...]:
    """Classes the scenario forgets entirely (``class``/``subclass``; empty for sample scenarios), seed 0."""
    res = store.result(plan.setting.problem_key(plan.spec.seeds[0]))
    return tuple(int(c) for c in res.meta.get("forget_classes", ())) if res is not None else ()


def touched_classes(plan: Plan, store: Store) -> tuple[int, ...]:
    """Classes that have at least one forget sample, over all seeds."""
    out: set[int] = set()
    for seed in plan.spec.seeds:
        res = store.result(plan.setting.problem_key(seed))
        if res is not None:
            out.update(int(c) for c in res.meta.get("touched_classes", ()))
    return tuple(sorted(out))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (log-sum-exp shifted)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _labels(data: ImageData, problem: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """True training labels and the true labels of the seed's ``test`` split (``data`` as loaded, unsplit)."""
    y_test = data.y_test.cpu().numpy()
    return data.y_train.cpu().numpy(), y_test[problem["test_idx"]] if "test_idx" in problem else y_test


def check_problem(p: dict[str, np.ndarray], data: ImageData) -> dict[str, np.ndarray]:
    """``p`` if its indices fit ``data`` (an imported bundle's arrays are checked against the real dataset here,
    where the dataset is at hand); raises ``ValueError`` naming the array otherwise."""
    bounds = {"forget_idx": data.y_train.shape[0], "retain_idx": data.y_train.shape[0],
              "requests": data.y_train.shape[0], "val_idx": data.y_test.shape[0], "test_idx": data.y_test.shape[0]}
    for name, n in bounds.items():
        a = p.get(name)
        if a is not None and a.size and (a.dtype.kind not in "iu" or int(a.min()) < 0 or int(a.max()) >= n):
            raise ValueError(f"the stored problem's {name} does not fit the {data.name} dataset ({n} samples)")
    return p


def _rows_with_problems(plan: Plan, store: Store, data: ImageData) -> Iterator[tuple[Row, dict[str, np.ndarray]]]:
    """Every finished row with its seed's stored problem arrays (read once per seed, checked against ``data``)."""
    problems: dict[int, dict[str, np.ndarray]] = {}
    for row in finished_rows(plan, store):
        if row.seed not in problems:
            problems[row.seed] = check_problem(problem_arrays(plan, store, row.seed), data)
        yield row, problems[row.seed]


def per_class_accuracy(plan: Plan, store: Store, data: ImageData) -> pd.DataFrame:
    """Accuracy per class and split for every finished row.

    Columns: ``method, seed, split, class, n, correct, accuracy``; ``split`` is ``train_forget``,
    ``train_retain`` or ``test``; a class with no sample in a split has no row there.
    """
    y_train = data.y_train.cpu().numpy()
    k = data.num_classes
    rows = []
    for row, p in _rows_with_problems(plan, store, data):
        _, y_test = _labels(data, p)
        lt, le = logits(store, row)
        pred_train, pred_test = lt.argmax(axis=1), le.argmax(axis=1)
        parts = {"train_forget": (y_train[p["forget_idx"]], pred_train[p["forget_idx"]]),
                 "train_retain": (y_train[p["retain_idx"]], pred_train[p["retain_idx"]]),
                 "test": (y_test, pred_test)}
        for split, (y, pred) in parts.items():
            n = np.bincount(y, minlength=k)
            correct = np.bincount(y[pred == y], minlength=k)
            for c in np.nonzero(n)[0]:
                rows.append({"method": row.method, "seed": row.seed, "split": split, "class": int(c), "n": int(n[c]),
                             "correct": int(correct[c]), "accuracy": correct[c] / n[c]})
    return pd.DataFrame(rows, columns=["method", "seed", "split", "class", "n", "correct", "accuracy"])


def forget_confusion(plan: Plan, store: Store, data: ImageData) -> pd.DataFrame:
    """Where the forget samples go: counts of (true class, predicted class) per row.

    Columns: ``method, seed, true, predicted, count``; every true class present in the forget set is
    crossed with every class (zero counts included), so a row-normalised heatmap can be drawn as is.
    """
    y_train = data.y_train.cpu().numpy()
    k = data.num_classes
    rows = []
    for row, p in _rows_with_problems(plan, store, data):
        idx = p["forget_idx"]
        lt, _ = logits(store, row)
        y, pred = y_train[idx], lt[idx].argmax(axis=1)
        counts = np.zeros((k, k), dtype=np.int64)
        np.add.at(counts, (y, pred), 1)
        for t in np.unique(y):
            for c in range(k):
                rows.append({"method": row.method, "seed": row.seed, "true": int(t), "predicted": c,
                             "count": int(counts[t, c])})
    return pd.DataFrame(rows, columns=["method", "seed", "true", "predicted", "count"])


def _request_of(p: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
    """Index of the first forget request that contains each sample (0 for single-request scenarios)."""
    sizes = p.get("request_sizes")
    if sizes is None or len(sizes) <= 1:
        return np.zeros(idx.shape[0], dtype=np.int64)
    requests = p["requests"]
    owner = np.full(int(max(idx.max(initial=0), requests.max(initial=0))) + 1, -1, dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for r in range(len(sizes) - 1, -1, -1):  # the earliest request wins
        owner[requests[bounds[r]:bounds[r + 1]]] = r
    return owner[idx]


def forget_samples(plan: Plan, store: Store, data: ImageData) -> pd.DataFrame:
    """One row per forget sample x finished row (method x seed).

    Columns (:data:`SAMPLE_COLUMNS`): ``index`` (position in the training split), ``request`` (for
    incremental scenarios), ``true`` (true label), ``observed`` (the label the learner saw; ``-1`` under
    partial-label or unlabelled), ``candidates`` (the observed candidate set, space-separated),
    ``method, seed, predicted, correct`` (prediction equals the true label), ``confidence`` (max softmax
    probability), ``p_true`` (probability of the true label), ``entropy`` (nats) and ``loss``
    (cross-entropy against the true label, nats), then the membership scores (:func:`membership_scores`).
    """
    y_train = data.y_train.cpu().numpy()
    frames = []
    for row, p in _rows_with_problems(plan, store, data):
        idx = p["forget_idx"]
        lt, _ = logits(store, row)
        prob = softmax(lt[idx])
        y = y_train[idx]
        pred = prob.argmax(axis=1)
        p_true = prob[np.arange(idx.shape[0]), y]
        logp = np.log(np.clip(prob, 1e-300, None))
        cand = p["candidates"][idx]
        frames.append(pd.DataFrame({
            "index": idx.astype(np.int64), "request": _request_of(p, idx), "true": y.astype(np.int64),
            "observed": p["observed_labels"][idx].astype(np.int64),
            "candidates": [" ".join(map(str, np.nonzero(c)[0])) for c in cand],
            "method": row.method, "seed": row.seed, "predicted": pred.astype(np.int64), "correct": pred == y,
            "confidence": prob.max(axis=1), "p_true": p_true, "entropy": -(prob * logp).sum(axis=1),
            "loss": -logp[np.arange(idx.shape[0]), y], **membership_scores(store, row, idx),
        }))
    if not frames:
        return pd.DataFrame(columns=SAMPLE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SAMPLE_COLUMNS]


def display_images(data: ImageData, idx: np.ndarray) -> list[np.ndarray]:
    """Training images ``idx`` as ``uint8`` arrays (``H x W`` grey or ``H x W x 3``), de-normalised.

    The dataset's tensors are standardised per channel; ``x * std + mean`` restores [0, 1] (clipped).
    """
    x = data.x_train[np.asarray(idx, dtype=np.int64)].cpu().numpy().astype(np.float64)
    mean = np.asarray(data.mean, dtype=np.float64).reshape(1, -1, 1, 1)
    std = np.asarray(data.std, dtype=np.float64).reshape(1, -1, 1, 1)
    x = np.clip(x * std + mean, 0.0, 1.0)
    img = np.round(x * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)
    return [im[..., 0] if im.shape[-1] == 1 else im for im in img]


@dataclass(frozen=True)
class Gallery:
    """The first forget samples of one seed: images and each finished row's prediction.

    ``predictions`` has columns ``position, index, true, method, predicted, confidence`` (one row per
    image x method, methods in plan order: original and retrain first when they were run).
    """

    seed: int
    index: tuple[int, ...]
    true: tuple[int, ...]
    images: tuple[np.ndarray, ...]
    predictions: pd.DataFrame
    class_names: tuple[str, ...]


def gallery(plan: Plan, store: Store, data: ImageData, n: int = 16, seed: int | None = None) -> Gallery:
    """The first ``n`` forget samples of ``seed`` (default: the comparison's first seed)."""
    seed = plan.spec.seeds[0] if seed is None else seed
    cols = ["position", "index", "true", "method", "predicted", "confidence"]
    rows = [r for r in finished_rows(plan, store) if r.seed == seed]
    try:
        p = check_problem(problem_arrays(plan, store, seed), data)
    except KeyError:
        return Gallery(seed, (), (), (), pd.DataFrame(columns=cols), data.class_names)
    idx = p["forget_idx"][:n]
    y_train = data.y_train.cpu().numpy()
    order = {REFERENCE_ORIGINAL: 0, REFERENCE_RETRAIN: 1}  # the reference rows first, then plan order

    def rank(row: Row) -> int:
        return order.get(METHODS.get(row.method).reference, 2) if row.method in METHODS else 2

    rows.sort(key=rank)
    preds = []
    for row in rows:
        lt, _ = logits(store, row)
        prob = softmax(lt[idx])
        for pos, (i, pr) in enumerate(zip(idx, prob, strict=True)):
            preds.append({"position": pos, "index": int(i), "true": int(y_train[i]), "method": row.method,
                          "predicted": int(pr.argmax()), "confidence": float(pr.max())})
    return Gallery(seed, tuple(int(i) for i in idx), tuple(int(y_train[i]) for i in idx),
                   tuple(display_images(data, idx)), pd.DataFrame(preds, columns=cols), data.class_names)
