"""Unlearning methods, one module each. Importing this package registers every method module in it.

The rule is structural: every module directly in ``engine/methods/`` is a method module (it registers at least one
method) except ``base`` (the contract) and private ``_*.py`` files (work in progress, never imported); helpers
that several methods share live in the subpackage ``engine/methods/shared/``, which is never scanned. The display
order (``METHODS.keys()``) is each method's ``Method.order``.
"""

import importlib
import pkgutil

from engine.methods.base import METHODS, Method, Needs, UndeclaredNeed, UnlearnContext, UnlearnData

CONTRACT_MODULE = "base"


def is_method_module(info: pkgutil.ModuleInfo) -> bool:
    """Whether a module found in this package is a method module (see the package docstring)."""
    return not info.ispkg and info.name != CONTRACT_MODULE and not info.name.startswith("_")


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if is_method_module(_info):
        importlib.import_module(f"{__name__}.{_info.name}")

METHODS.reorder(sorted(METHODS.keys(), key=lambda k: METHODS.get(k).order))  # stable: ties keep file-name order

__all__ = ["METHODS", "Method", "Needs", "UndeclaredNeed", "UnlearnContext", "UnlearnData", "is_method_module"]
