"""Every module in engine/methods registers at least one method; keys come from CATALOGUE.md."""

from __future__ import annotations

import pkgutil

import engine.methods as pkg
from engine.methods import CATALOGUE_ORDER, METHODS, NON_METHOD_MODULES


def test_every_method_module_registers_a_method():
    owners = {m.unlearn.__module__.rsplit(".", 1)[-1] for _, m in METHODS.items()}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name in NON_METHOD_MODULES or info.name.startswith("_"):  # _*.py: work in progress, not imported
            continue
        assert info.name in owners, f"engine/methods/{info.name}.py registers no method"


def test_keys_are_catalogue_keys_and_listed_in_catalogue_order():
    keys = METHODS.keys()
    assert set(keys) <= set(CATALOGUE_ORDER)
    assert keys == [k for k in CATALOGUE_ORDER if k in keys]
