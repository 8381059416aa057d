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


def test_every_method_says_how_its_defaults_were_chosen() -> None:
    """Issue 10 (unequal tuning): each method's doc says how its digits defaults were chosen; the seed methods'
    were hand-chosen on test-split numbers and say so."""
    from engine.methods.base import CHOSEN_ON_TEST, NO_HYPERPARAMETERS

    for key, m in METHODS.items():
        assert m.defaults_chosen, key
    for key in ("udru", "laf", "laf_r", "ugradsl", "ugradsl_plus", "pgu", "ppu", "ppu_after"):
        assert METHODS.get(key).defaults_chosen == CHOSEN_ON_TEST
    assert METHODS.get("retrain").defaults_chosen == NO_HYPERPARAMETERS
    assert "lr" in METHODS.get("amnesiac").ours_fields()
