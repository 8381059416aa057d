"""Unlearning methods, one module each. Importing this package registers every method module in it."""

import importlib
import pkgutil

from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData

NON_METHOD_MODULES = frozenset({"base", "common"})

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name not in NON_METHOD_MODULES and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

# display order: CATALOGUE.md (references, seed methods, then baselines)
CATALOGUE_ORDER = [
    "original", "retrain", "udru", "laf", "laf_r", "ugradsl", "ugradsl_plus", "pgu", "ppu", "ppu_after",
    "finetune", "gradient_ascent", "neggrad_plus", "random_label", "amnesiac", "kpriors", "boundary_shrink",
    "boundary_expand", "sisa", "unrolling", "bad_teacher", "scrub", "fisher", "influence", "ntk", "cf_k", "eu_k",
    "l1_sparse", "salun", "ssd",
]
METHODS.reorder(CATALOGUE_ORDER)

__all__ = ["METHODS", "NON_METHOD_MODULES", "Method", "Needs", "UnlearnContext", "UnlearnData"]
