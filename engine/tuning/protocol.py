"""The tuner's protocol constants and options (issue 15), light on purpose: no torch, no pandas, no registries, so
that the dashboard's form can state the protocol without importing the engine's heavy parts (:mod:`engine.tuning.study`
runs it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import SpecError
from engine.spec import MAX_SEED

OBJECTIVE = ("mean absolute gap to retrain (SalUn Avg. Gap) over forget accuracy, retain accuracy, validation "
             "accuracy and MIA efficacy, on the validation split, averaged over the tuning seeds (lower is better)")
DEFAULT_TUNING_SEEDS = (100, 101)
DEFAULT_TRIALS = 20
MAX_TRIALS = 500


@dataclass(frozen=True)
class TuneOptions:
    """The tuner's budget and protocol: ``trials`` per method, the tuning ``seeds`` (never reported), the sampler's
    seed, whether trials may be pruned after each tuning seed, and whether the fields that scale the work (epochs,
    steps, samples, batch sizes) are kept at their values (``fixed_work``: the defaults run, so that a shipped
    default is not bought with compute) instead of searched in a window around them."""

    trials: int = DEFAULT_TRIALS
    seeds: tuple[int, ...] = DEFAULT_TUNING_SEEDS
    sampler_seed: int = 0
    prune: bool = False
    fixed_work: bool = False

    def check(self, reported: Sequence[int] = ()) -> None:
        """Raise :class:`SpecError` naming the field unless the options are valid and the tuning seeds are disjoint
        from the ``reported`` seeds."""
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or not 1 <= self.trials <= MAX_TRIALS:
            raise SpecError("tune", f"the tuning budget must be an integer from 1 to {MAX_TRIALS} trials per method, "
                                    f"got {self.trials!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise SpecError("tune_seeds", "give at least one tuning seed, each once")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
                raise SpecError("tune_seeds", f"tuning seeds must be integers from 0 to {MAX_SEED}, got {s!r}")
        both = sorted(set(self.seeds) & set(reported))
        if both:
            raise SpecError("tune_seeds", f"tuning seeds must differ from the reported seeds (both have "
                                          f"{', '.join(map(str, both))}): a tuned number on a seed it was tuned on "
                                          "is not honest")
        if isinstance(self.sampler_seed, bool) or not isinstance(self.sampler_seed, int) or self.sampler_seed < 0:
            raise SpecError("tune_sampler_seed", f"must be a non-negative integer, got {self.sampler_seed!r}")
