"""The method registry: every method module registers a method, helpers register none and import no method, the
display order is the methods' own ``order``; ``Registry.register`` takes an item under its own key."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
from pathlib import Path

import pytest

import engine.methods as pkg
import engine.methods.shared as shared
from engine.methods import METHODS, Method, Needs, is_method_module
from engine.registry import Registry

METHOD_MODULES = sorted(info.name for info in pkgutil.iter_modules(pkg.__path__) if is_method_module(info))


def test_every_method_module_registers_a_method():
    owners = {m.unlearn.__module__ for _, m in METHODS.items()}
    for name in METHOD_MODULES:
        assert f"engine.methods.{name}" in owners, f"engine/methods/{name}.py registers no method"
    assert owners <= {f"engine.methods.{name}" for name in METHOD_MODULES}, "a method lives outside a method module"
    assert "shared" not in METHOD_MODULES and "base" not in METHOD_MODULES


def _imported_method_modules(path: Path) -> set[str]:
    """Method modules that the file at ``path`` imports (``engine.methods.<module>``, not base or shared)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for n in names:
            parts = n.split(".")
            if parts[:2] == ["engine", "methods"] and len(parts) > 2 and parts[2] in METHOD_MODULES:
                out.add(parts[2])
    return out


def test_helpers_are_no_methods_and_import_none():
    """``engine/methods/shared/`` holds helpers only: nothing there is registered and nothing imports a method."""
    for info in pkgutil.iter_modules(shared.__path__):
        module = importlib.import_module(f"engine.methods.shared.{info.name}")
        assert not any(m.unlearn.__module__ == module.__name__ for _, m in METHODS.items())
        imported = _imported_method_modules(Path(module.__file__))
        assert not imported, f"engine/methods/shared/{info.name}.py imports method module(s) {sorted(imported)}"


def test_a_method_builds_on_another_only_as_its_variant():
    """A method module imports another method module only when its config extends that method's config (LAF+R of
    LAF, EU-k of CF-k, Method + PPU of PPU); what unrelated methods share lives in ``engine/methods/shared/``."""
    from engine.methods.shared.tuned_defaults import pretuned_config  # the module's own classes (before the tuner's)

    configs = {METHODS.get(k).unlearn.__module__.rsplit(".", 1)[-1]: pretuned_config(METHODS.get(k).config)
               for k in METHODS}
    for name in METHOD_MODULES:
        for other in _imported_method_modules(Path(pkg.__path__[0]) / f"{name}.py") - {name}:
            assert issubclass(configs[name], configs[other]), (
                f"engine/methods/{name}.py imports engine/methods/{other}.py: move the shared helper to "
                f"engine/methods/shared/ (only a variant, whose config extends {other}'s, builds on it)")


def test_keys_follow_the_methods_own_order():
    keys = METHODS.keys()
    orders = [METHODS.get(k).order for k in keys]
    assert orders == sorted(orders)
    assert len(set(orders)) == len(orders), "two methods share an order: their rows would follow file names"
    assert [k for k in keys if METHODS.get(k).family == "reference"] == keys[:2] == ["original", "retrain"]
    seed = [k for k in keys if METHODS.get(k).family == "seed"]
    assert keys[2:2 + len(seed)] == seed  # the seed papers' methods come right after the references


def test_register_under_the_items_own_key():
    reg: Registry[Method] = Registry("method")
    m = METHODS.get("finetune")
    copy = dataclasses.replace(m, key="finetune_copy")
    assert reg.register(copy) is copy and reg.keys() == ["finetune_copy"]
    with pytest.raises(TypeError):
        reg.register("other", m)  # the key is the item's own: it is never named twice
    with pytest.raises(KeyError, match="twice"):
        reg.register(copy)
    with pytest.raises(TypeError, match="key"):
        Registry[object]("thing").register(object())


def test_method_doc_is_stripped_and_needs_describe_themselves():
    m = dataclasses.replace(METHODS.get("finetune"), doc="\n  text \n")
    assert m.doc == "text"
    assert Needs(retain_data=True).describe() == "forget inputs, retain inputs"


def test_every_method_says_how_its_defaults_were_chosen() -> None:
    """Issue 10 (unequal tuning): each method's doc says how its digits defaults were chosen; the seed methods'
    were hand-chosen on test-split numbers and say so."""
    from engine.methods.base import CHOSEN_ON_TEST, NO_HYPERPARAMETERS

    for key, m in METHODS.items():
        assert m.defaults_chosen, key
    from engine.methods.shared.tuned_defaults import entry

    for key in ("udru", "laf", "laf_r", "ugradsl", "ugradsl_plus", "pgu", "ppu", "ppu_after"):
        e = entry(key)
        if e is not None and e["values"]:  # the tuner's values replaced the hand-chosen ones (issue 15)
            assert METHODS.get(key).defaults_chosen.startswith("chosen by the tuner"), key
        else:  # kept: still said to have been chosen on test-split numbers, then what the tuner found
            assert METHODS.get(key).defaults_chosen.startswith(CHOSEN_ON_TEST), key
    assert METHODS.get("retrain").defaults_chosen == NO_HYPERPARAMETERS
    assert "lr" in METHODS.get("amnesiac").ours_fields()
