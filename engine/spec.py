"""``ComparisonSpec``: the frozen, JSON-serialisable description of one comparison (DESIGN.md, data flow 1)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from engine.errors import SpecError
from engine.version import ENGINE_VERSION

DEVICES = ("auto", "cpu", "cuda")
CUDA_INDEX = re.compile(r"cuda:(0|[1-9][0-9]{0,2})")  # cuda:N, N a GPU index (no sign, no leading zeros)
MAX_SEEDS = 20
MAX_SEED = 2**31 - 1  # seeds feed torch / numpy generators
MAX_SHADOW_MODELS = 100
MIN_ULIRA_SHADOWS, MAX_ULIRA_SHADOWS = 4, 64  # U-LiRA: each target needs in and out shadows to fit two Gaussians
# fields left out of the canonical JSON while at their default, so that adding them kept every existing key
OMIT_AT_DEFAULT: dict[str, Any] = {"shadow_models": 0, "paradigm_params": [], "ulira_shadows": 0,
                                   "feature_audit": False}
# fields that only add metric preparations (opt-in audits): left out of the setting every job is keyed by
AUDIT_FIELDS: dict[str, Any] = {"shadow_models": 0, "ulira_shadows": 0, "feature_audit": False}


@dataclass(frozen=True)
class MethodSpec:
    """One method with its (user-given) hyper-parameters; missing ones take the schema's defaults."""

    name: str
    hparams: tuple[tuple[str, Any], ...] = ()

    def hparam_dict(self) -> dict[str, Any]:
        return dict(self.hparams)


@dataclass(frozen=True)
class ComparisonSpec:
    """Everything that defines a comparison; its canonical JSON is the root of every cache key."""

    dataset: str = "digits"
    coarse: bool = False
    paradigm: str = "supervised"
    rate: float | None = None
    # the paradigm's generator / training-loss options (e.g. noisy labels: noise, pairs, classes, train_loss)
    paradigm_params: tuple[tuple[str, Any], ...] = ()
    labelled_fraction: float = 1.0
    scenario: str = "class"
    scenario_params: tuple[tuple[str, Any], ...] = ()
    model: str = "cnn"
    train: tuple[tuple[str, Any], ...] = ()  # overrides of the dataset x model default TrainConfig
    methods: tuple[MethodSpec, ...] = field(default_factory=tuple)
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    # shadow-model pairs (original on the full training set + retrain on the retain set) trained per seed for
    # the PGU attack ``mia_shadow_auc``; 0 = off. Left out of the JSON when 0 (existing cache keys unchanged).
    shadow_models: int = 0
    # U-LiRA / RMIA (issue 16): K shadow originals (retain + a random half of the forget subset each) and K shadow
    # retrains per seed, and every method applied to each shadow original; 0 = off. Left out of the JSON when 0.
    ulira_shadows: int = 0
    # the representation audit (issue 16): CKA per layer to retrain and original, linear-probe / k-NN forget
    # accuracy from frozen features, weight distances, a 2-D embedding. Left out of the JSON when off.
    feature_audit: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.coarse, bool):
            raise SpecError("coarse", f"must be true or false, got {self.coarse!r}")
        for name in ("dataset", "paradigm", "scenario", "model"):
            if not isinstance(getattr(self, name), str):
                raise SpecError(name, f"must be a name (a string), got {getattr(self, name)!r}")
        if not self.seeds:
            raise SpecError("seeds", "at least one seed is required")
        if len(self.seeds) > MAX_SEEDS:
            raise SpecError("seeds", f"at most {MAX_SEEDS} seeds, got {len(self.seeds)}")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
                raise SpecError("seeds", f"seeds must be integers from 0 to {MAX_SEED}, got {s!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise SpecError("seeds", "seeds must be distinct")
        if not isinstance(self.device, str) or (self.device not in DEVICES and not CUDA_INDEX.fullmatch(self.device)):
            raise SpecError("device", f"must be one of {', '.join(DEVICES)} or cuda:N (N a GPU index: 0, 1, ...), "
                                      f"got {self.device!r}")
        if self.rate is not None and not (_is_real(self.rate) and 0.0 <= self.rate < 1.0):
            raise SpecError("rate", f"must be a number in [0, 1), got {self.rate!r}")
        if not (_is_real(self.labelled_fraction) and 0.0 < self.labelled_fraction <= 1.0):
            raise SpecError("labelled_fraction", f"must be a number in (0, 1], got {self.labelled_fraction!r}")
        n = self.shadow_models
        if isinstance(n, bool) or not isinstance(n, int) or not (n == 0 or 2 <= n <= MAX_SHADOW_MODELS):
            raise SpecError("shadow_models", f"must be 0 (off) or an integer from 2 to {MAX_SHADOW_MODELS} "
                                             f"(pairs of shadow models; the attack needs one pair to train on and "
                                             f"one to test on), got {n!r}")
        k = self.ulira_shadows
        if isinstance(k, bool) or not isinstance(k, int) or not (k == 0 or MIN_ULIRA_SHADOWS <= k <= MAX_ULIRA_SHADOWS):
            raise SpecError("ulira_shadows", f"must be 0 (off) or an integer from {MIN_ULIRA_SHADOWS} to "
                                             f"{MAX_ULIRA_SHADOWS} (shadow pairs; each forget sample needs shadows "
                                             f"that unlearned it and shadows that never saw it), got {k!r}")
        if not isinstance(self.feature_audit, bool):
            raise SpecError("feature_audit", f"must be true or false, got {self.feature_audit!r}")
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise SpecError("methods", "a method is listed twice")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (lists for tuples); fields of :data:`OMIT_AT_DEFAULT` at their default are left out."""
        d = json.loads(json.dumps(dataclasses.asdict(self)))
        for k, default in OMIT_AT_DEFAULT.items():
            if d.get(k) == default:
                del d[k]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ComparisonSpec:
        """Inverse of :meth:`to_json`."""
        d = dict(d)
        d["scenario_params"] = tuple(tuple(p) for p in d.get("scenario_params", ()))
        d["paradigm_params"] = tuple(tuple(p) for p in d.get("paradigm_params", ()))
        d["train"] = tuple(tuple(p) for p in d.get("train", ()))
        d["methods"] = tuple(MethodSpec(m["name"], tuple(tuple(h) for h in m.get("hparams", ())))
                             for m in d.get("methods", ()))
        d["seeds"] = tuple(d.get("seeds", (0,)))
        return cls(**d)

    def setting_key(self) -> str:
        """Hash of everything but methods and seeds: identifies the comparison's setting."""
        d = self.to_json()
        d.pop("methods")
        d.pop("seeds")
        return stable_hash(d)

    def comparison_key(self) -> str:
        """Hash of the whole spec (the History page's identity of a comparison)."""
        return stable_hash(self.to_json())


def _is_real(v: Any) -> bool:
    """A finite int or float (not a bool): NaN and infinities fail every range check explicitly."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def stable_hash(obj: Any) -> str:
    """SHA-256 (first 24 hex chars) of canonical JSON plus the engine version."""
    blob = json.dumps({"v": ENGINE_VERSION, "o": obj}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]
