"""The layering of the code (docs/architecture.md, "Layers"), read from the source with ``ast``.

* ``engine`` never imports ``streamlit`` or ``dashboard``;
* ``dashboard`` imports the engine only through ``engine.api``;
* no engine module imports a layer above its own, and the packages' import graph has no cycle.

Every import counts: module level, inside functions (lazy) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# lowest first; a module may import its own layer and the layers below it
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "version"),
    ("registry", "config", "rng", "device", "paths", "audit"),
    ("spec", "store"),
    ("data", "models", "paradigms"),
    ("scenarios",),
    ("training",),
    ("problem", "methods", "metrics"),
    ("jobs",),
    ("executors",),
    ("runner", "tuning"),
    ("catalogue", "presets", "specs", "demo", "bundle"),
    ("api",),
    ("cli", "__main__"),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in the file (``package``: the file's package, for
    relative imports)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            # ``from engine import api`` names the submodule engine.api
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names if mod in ("engine", "dashboard")]
    return out


def _unit(module: str) -> str | None:
    """The engine layer unit of a module name (``engine.runner.plan`` -> ``runner``), ``None`` outside engine."""
    parts = module.split(".")
    return parts[1] if parts[0] == "engine" and len(parts) > 1 else None


def violations(root: Path) -> list[str]:
    """Every layering rule broken under ``root`` (a checkout: ``root/engine``, ``root/dashboard``)."""
    bad: list[str] = []
    graph: dict[str, set[str]] = {}
    for path in sorted((root / "engine").rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        package = ".".join(rel.parts[:-1])  # the file's package (``__init__`` included)
        me = rel.parts[1] if len(rel.parts) > 1 else None
        if me is None or me == "__init__":
            continue
        if me not in LAYER_OF:
            bad.append(f"{rel}: engine.{me} is in no layer of tests/test_layering.py (and docs/architecture.md)")
            continue
        for line, mod in _imports(path, package):
            top = mod.split(".")[0]
            if top in ("streamlit", "dashboard"):
                bad.append(f"{rel}:{line}: the engine imports {mod}")
            unit = _unit(mod)
            if unit is None or unit == me or unit == "__init__":
                continue
            graph.setdefault(me, set()).add(unit)
            if unit not in LAYER_OF:
                continue  # a name imported from the package root (``from engine import api`` handled above)
            if LAYER_OF[unit] > LAYER_OF[me]:
                bad.append(f"{rel}:{line}: engine.{me} (layer {LAYER_OF[me]}) imports {mod} "
                           f"(layer {LAYER_OF[unit]}, above it)")
    for path in sorted((root / "dashboard").rglob("*.py")):
        rel = path.relative_to(root)
        package = ".".join(rel.with_suffix("").parts[:-1])
        for line, mod in _imports(path, package):
            if mod.split(".")[0] == "engine" and mod not in ("engine", "engine.api"):
                bad.append(f"{rel}:{line}: the dashboard imports {mod}; only engine.api is allowed")
    bad += [f"import cycle between engine packages: {' -> '.join(c)}" for c in _cycles(graph)]
    return bad


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of the package graph (depth-first search)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_code_keeps_its_layers() -> None:
    assert violations(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"engine/__init__.py": "", "engine/api.py": "", "engine/errors.py": "",
                       "engine/store/__init__.py": "", "dashboard/__init__.py": "", **files}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("files", "expected"), [
    ({"engine/store/store.py": "from engine.api import plan\n"}, "above it"),
    ({"engine/store/store.py": "def f():\n    from engine import api\n"}, "above it"),  # a lazy import counts
    ({"engine/store/store.py": "from ..api import plan\n"}, "above it"),  # relative
    ({"engine/errors.py": "import streamlit as st\n"}, "the engine imports streamlit"),
    ({"engine/store/x.py": "from dashboard import data\n"}, "the engine imports dashboard"),
    ({"dashboard/page.py": "from engine.runner import plan\n"}, "only engine.api is allowed"),
    ({"dashboard/page.py": "import engine.store\n"}, "only engine.api is allowed"),
    ({"engine/newpart.py": ""}, "in no layer"),
    ({"engine/specs.py": "from engine import demo\n", "engine/demo.py": "from engine import specs\n"}, "cycle"),
])
def test_a_planted_bad_import_is_caught(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    found = violations(_tree(tmp_path, files))
    assert any(expected in v for v in found), found


def test_the_dashboard_may_use_the_api(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"dashboard/page.py": "from engine import api\nfrom engine.api import plan\n",
                            "engine/store/store.py": "from engine.errors import SpecError\n"})
    assert violations(root) == []
