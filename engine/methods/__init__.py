"""Unlearning methods, one module each. Importing this package registers every method module in it."""

import importlib
import pkgutil

from engine.methods.base import METHODS, Method, Needs, UnlearnContext, UnlearnData

NON_METHOD_MODULES = frozenset({"base", "common"})

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name not in NON_METHOD_MODULES and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["METHODS", "NON_METHOD_MODULES", "Method", "Needs", "UnlearnContext", "UnlearnData"]
