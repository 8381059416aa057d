"""Representation audit: similarity of two representations, features of a model's layers, probes and 2-D maps.

- :func:`linear_cka`: linear centred kernel alignment (Kornblith et al. 2019, "Similarity of Neural Network
  Representations Revisited", ICML; Sec. 3 and Eq. 5, linear-kernel CKA on column-centred features).
- :func:`layer_features` / :func:`penultimate_features`: per-layer activations of a torch model, captured with
  forward hooks (the only torch code here; torch is imported lazily so the numpy functions do not load it).
- :func:`linear_probe_accuracy` / :func:`knn_accuracy`: how much of the labels a frozen representation still
  encodes: a classifier fitted on one set's features (e.g. retain) is scored on another's (e.g. forget).
- :func:`embedding_2d`: a deterministic 2-D map of features for plots (PCA; UMAP when ``umap-learn`` is installed).

No training of the model, no I/O; every function is a deterministic function of its inputs (and ``seed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # torch is imported by layer_features itself
    import torch
    from torch import nn

PENULTIMATE = "penultimate"
# a representation whose centred values are this small relative to its raw values counts as constant (see linear_cka)
_CONSTANT_RTOL = 1e-10


def _as_matrix(a: object, name: str) -> np.ndarray:
    """``a`` as a finite float64 ``(n, d)`` array, or a ValueError naming ``name``."""
    m = np.asarray(a, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) array, got shape {m.shape}")
    if m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"{name}: empty array of shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return m


def linear_cka(x: object, y: object, *, method: Literal["auto", "feature", "gram"] = "auto") -> float:
    """Linear CKA between two representations of the same ``n`` examples, in ``[0, 1]``.

    Source: Kornblith, Norouzi, Lee and Hinton, "Similarity of Neural Network Representations Revisited" (ICML
    2019), linear CKA: with ``X`` (n, p) and ``Y`` (n, q) column-centred,
    ``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``, equivalently (their Eq. for HSIC with linear kernels)
    ``<K, L>_F / (||K||_F ||L||_F)`` with the Gram matrices ``K = X X^T``, ``L = Y Y^T`` of the centred features.

    ``method``: ``"feature"`` uses the (p, p)/(q, q)/(q, p) cross-products, ``"gram"`` the (n, n) Gram matrices;
    ``"auto"`` (default) takes the Gram form when ``p > n`` or ``q > n`` (cheaper, and no p x p matrix for wide
    layers), the feature form otherwise. Both give the same value up to rounding. Computed in float64; each
    centred matrix is scaled to unit Frobenius norm first (CKA is scale invariant) so squares cannot overflow.

    Invariant to orthogonal transforms and isotropic scaling of either representation (not to arbitrary
    invertible linear maps). Returns ``nan`` when either representation is constant across the examples (every
    row the same, i.e. zero variance after centring: CKA is 0/0 there, undefined, and a number would be
    misleading); "constant" means the centred values' Frobenius norm is at most ``1e-10`` times the raw values'
    (below that, what is left is float rounding of the mean, not signal). Needs ``n >= 2`` rows in both.
    """
    xm = _as_matrix(x, "x")
    ym = _as_matrix(y, "y")
    n = xm.shape[0]
    if ym.shape[0] != n:
        raise ValueError(f"x and y must have the same number of rows (examples), got {n} and {ym.shape[0]}")
    if n < 2:
        raise ValueError("linear_cka needs at least 2 examples")
    if method not in ("auto", "feature", "gram"):
        raise ValueError(f"method: expected 'auto', 'feature' or 'gram', got {method!r}")
    centred = []
    for raw in (xm, ym):
        c = raw - raw.mean(axis=0, keepdims=True)
        norm = np.linalg.norm(c)
        if norm == 0.0 or norm <= _CONSTANT_RTOL * np.linalg.norm(raw):
            return float("nan")  # constant representation: CKA undefined (0/0)
        centred.append(c / norm)
    xc, yc = centred
    if method == "auto":
        method = "gram" if max(xc.shape[1], yc.shape[1]) > n else "feature"
    if method == "feature":
        num = np.linalg.norm(yc.T @ xc) ** 2
        den = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    else:
        k = xc @ xc.T
        lg = yc @ yc.T
        num = float(np.sum(k * lg))  # tr(K L), both symmetric
        den = np.linalg.norm(k) * np.linalg.norm(lg)
    return float(np.clip(num / den, 0.0, 1.0))


def _hooked_types() -> tuple[type, ...]:
    from torch import nn

    return (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)


def layer_features(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str] | None = None, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Flattened outputs of every leaf ``Conv*d`` / ``ConvTranspose*d`` / ``Linear`` of ``model`` on ``x``.

    Runs ``model`` in eval mode under ``torch.no_grad()`` on ``x`` (a tensor of ``n`` examples, moved batch by
    batch to the device of the model's first parameter) in batches of ``batch_size`` and returns a dict, in the
    order the modules first run in the forward pass, from the module's qualified name (``model.named_modules()``,
    e.g. ``"features.0"``, ``"head"``) to an ``(n, d)`` float32 array of its output flattened per example.
    ``"penultimate"`` is the *input* of the last ``Linear`` to run (the representation the classifier reads; for a
    :class:`engine.models.SplitModel` with a one-layer head this is ``model.features(x)``), placed just before that
    Linear's own entry; it is absent when the model has no Linear.

    ``layers``: the names to return (any of the above, ``"penultimate"`` included); ``None`` for all. Conv outputs
    are large (``C*H*W`` per example), so select layers for big inputs. An unknown name is a ValueError listing
    the available ones.

    The model is left as it was: the forward hooks are removed and every module's ``training`` flag restored
    (also on error); eval mode means batch-norm statistics are not updated and dropout draws nothing. Outputs are
    copied as they are captured, so in-place operations after a layer (``ReLU(inplace=True)``) do not alter them.
    A hooked module that runs more than once per forward pass (weight sharing) is a ValueError: its features
    would be ambiguous.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"x: expected a non-empty batch of examples, got shape {tuple(x.shape)}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size: must be at least 1, got {batch_size}")
    batch_size = int(batch_size)
    types = _hooked_types()
    hooked = [(name, m) for name, m in model.named_modules()
              if isinstance(m, types) and next(iter(m.children()), None) is None]
    linear_names = {name for name, m in hooked if isinstance(m, torch.nn.Linear)}
    available = [name for name, _ in hooked] + ([PENULTIMATE] if linear_names else [])
    if isinstance(layers, str):
        raise ValueError("layers: expected a sequence of layer names, not a single string")
    wanted = set(available) if layers is None else set(layers)
    unknown = sorted(wanted - set(available))
    if unknown:
        raise ValueError(f"layers: unknown layer name(s) {unknown}; available: {available}")

    order: list[str] = []  # forward order, from the first batch
    called: set[str] = set()  # modules run in the current batch
    captured: dict[str, torch.Tensor] = {}  # this batch's outputs
    last_linear: list = [None, None]  # (name, flattened input) of the latest Linear to run in this batch
    first_batch = [True]

    def _flat(t: torch.Tensor) -> torch.Tensor:
        return t.detach().reshape(t.shape[0], -1).to(device="cpu", dtype=torch.float32, copy=True)

    def _hook(name: str, is_linear: bool):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if name in called:
                raise ValueError(f"layer_features: module {name!r} runs more than once per forward pass")
            called.add(name)
            if first_batch[0]:
                order.append(name)
            if name in wanted:
                captured[name] = _flat(output)
            if is_linear:
                last_linear[0] = name
                last_linear[1] = _flat(inputs[0]) if PENULTIMATE in wanted else None
        return hook

    chunks: dict[str, list[np.ndarray]] = {}
    final_linear: str | None = None
    flags = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        for name, m in hooked:
            handles.append(m.register_forward_hook(_hook(name, name in linear_names)))
        model.eval()
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else x.device
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                called.clear()
                captured.clear()
                last_linear[0] = last_linear[1] = None
                model(x[start:start + batch_size].to(device))
                if first_batch[0]:
                    final_linear = last_linear[0]
                    first_batch[0] = False
                elif last_linear[0] != final_linear or called != set(order):
                    raise ValueError("layer_features: the model ran different layers on different batches")
                for name, t in captured.items():
                    chunks.setdefault(name, []).append(t.numpy())
                if PENULTIMATE in wanted and last_linear[1] is not None:
                    chunks.setdefault(PENULTIMATE, []).append(last_linear[1].numpy())
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags:
            m.training = flag
    names = list(order)
    if final_linear is not None:
        names.insert(names.index(final_linear), PENULTIMATE)
    missing = sorted(wanted - set(names))
    if missing:
        raise ValueError(f"layers: {missing} did not run in the forward pass; ran: {names}")
    return {name: np.concatenate(chunks[name], axis=0) for name in names if name in wanted}


def penultimate_features(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """The ``(n, d)`` float32 input of the model's last Linear on ``x`` (:func:`layer_features`' ``"penultimate"``)."""
    return layer_features(model, x, layers=[PENULTIMATE], batch_size=batch_size)[PENULTIMATE]


def _probe_inputs(train_feats: object, train_labels: object, eval_feats: object, eval_labels: object
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xtr = _as_matrix(train_feats, "train_feats")
    xev = _as_matrix(eval_feats, "eval_feats")
    if xtr.shape[1] != xev.shape[1]:
        raise ValueError(f"train_feats and eval_feats widths differ: {xtr.shape[1]} vs {xev.shape[1]}")
    ytr = np.asarray(train_labels).reshape(-1)
    yev = np.asarray(eval_labels).reshape(-1)
    if len(ytr) != len(xtr):
        raise ValueError(f"train_labels: {len(ytr)} labels for {len(xtr)} rows of train_feats")
    if len(yev) != len(xev):
        raise ValueError(f"eval_labels: {len(yev)} labels for {len(xev)} rows of eval_feats")
    if len(np.unique(ytr)) < 2:
        raise ValueError("train_labels: a probe needs at least 2 classes in the training features")
    return xtr, ytr, xev, yev


def linear_probe_accuracy(train_feats: object, train_labels: object, eval_feats: object, eval_labels: object,
                          seed: int, *, max_iter: int = 5000) -> float:
    """Accuracy on ``eval_*`` of a logistic-regression probe fitted on ``train_*`` (e.g. retain -> forget).

    ``StandardScaler`` (fitted on the training features only) then sklearn's ``LogisticRegression`` (L2, C=1,
    lbfgs, multinomial for more than two classes, ``max_iter`` iterations, ``random_state=seed``). A linear probe
    (Alain and Bengio 2016, "Understanding intermediate layers using linear classifier probes") measures how
    linearly decodable the labels still are from a frozen representation. Returns a fraction in ``[0, 1]``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr, ytr, xev, yev = _probe_inputs(train_feats, train_labels, eval_feats, eval_labels)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=int(max_iter), random_state=int(seed)))
    clf.fit(xtr, ytr)
    return float(np.mean(clf.predict(xev) == yev))


def knn_accuracy(train_feats: object, train_labels: object, eval_feats: object, eval_labels: object,
                 k: int = 5) -> float:
    """Accuracy on ``eval_*`` of a ``k``-nearest-neighbour classifier on ``train_*`` (e.g. retain -> forget).

    Euclidean distance on standardised features (``StandardScaler`` fitted on the training features only), so no
    single wide-range dimension dominates; uniform majority vote (sklearn ``KNeighborsClassifier``, brute-force
    search, ties in the vote go to the smallest label). Deterministic, hence no seed. Returns a fraction in
    ``[0, 1]``; ``k`` must not exceed the number of training rows.
    """
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr, ytr, xev, yev = _probe_inputs(train_feats, train_labels, eval_feats, eval_labels)
    if not 1 <= int(k) <= len(xtr):
        raise ValueError(f"k: must be between 1 and the {len(xtr)} training rows, got {k}")
    clf = make_pipeline(StandardScaler(),
                        KNeighborsClassifier(n_neighbors=int(k), algorithm="brute", metric="euclidean"))
    clf.fit(xtr, ytr)
    return float(np.mean(clf.predict(xev) == yev))


def embedding_2d(feats: object, seed: int, method: Literal["pca", "umap"] = "pca") -> np.ndarray:
    """An ``(n, 2)`` float32 map of ``feats`` (n, d) for scatter plots; the same inputs give the same map.

    ``"pca"``: the first two principal components (sklearn ``PCA``, exact LAPACK SVD, centred, not scaled), each
    axis's sign fixed so that the largest-magnitude loading of its component is positive (PCA's sign is otherwise
    arbitrary). Needs ``n >= 2`` and ``d >= 2``. ``"umap"``: ``umap.UMAP(n_components=2, random_state=seed)``
    (McInnes et al. 2018) when the ``umap-learn`` package is installed; otherwise a ValueError naming the field
    ``embedding``.
    """
    xm = _as_matrix(feats, "feats")
    if method == "pca":
        if min(xm.shape) < 2:
            raise ValueError(f"embedding: PCA to 2-D needs at least 2 examples and 2 features, got {xm.shape}")
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, svd_solver="full", random_state=int(seed))
        z = pca.fit_transform(xm)
        comps = pca.components_
        signs = np.sign(comps[np.arange(2), np.argmax(np.abs(comps), axis=1)])
        signs[signs == 0] = 1.0
        return (z * signs).astype(np.float32)
    if method == "umap":
        try:
            import umap  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ValueError("embedding: method 'umap' needs the umap-learn package, which is not installed; "
                             "use method 'pca'") from exc
        return np.asarray(umap.UMAP(n_components=2, random_state=int(seed)).fit_transform(xm), dtype=np.float32)
    raise ValueError(f"embedding: unknown method {method!r}; expected 'pca' or 'umap'")
