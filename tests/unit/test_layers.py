"""The layer rule of docs/architecture.md, checked on every module's imports.

This is what lets the same Raft code run in thousands of seeded simulations
and in real processes: cluster/core must stay pure. A violation names the
file, the line and the import, and says which layers that file may use.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# layer → the layers of ours it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "cluster.schema": set(),
    "cluster.config": {"cluster.schema", "cluster.core"},
    "cluster.core": {"cluster.schema"},
    "cluster.sim": {"cluster.schema", "cluster.core"},
    "cluster.node": {"cluster.schema", "cluster.config", "cluster.core"},
    "cluster.launcher": {"cluster.schema", "cluster.config"},
    "cluster.client": {"cluster.schema", "cluster.config"},
    # backend uses pure core functions for global views (Floyd-Warshall over the
    # configured topology, placement comparisons); it never runs a node's logic.
    "backend": {
        "cluster.schema", "cluster.config", "cluster.core", "cluster.launcher", "cluster.client",
    },
}
LAYERS = sorted(ALLOWED, key=len, reverse=True)

# The pure core touches no IO, no clock, no thread and no process.
CORE_FORBIDDEN_STDLIB = {
    "asyncio", "socket", "selectors", "threading", "multiprocessing", "subprocess",
    "time", "os", "pathlib", "shutil", "signal", "concurrent", "tempfile",
}
# Functions of the global random module; core must take a seeded random.Random.
GLOBAL_RANDOM = {
    "random", "randint", "randrange", "choice", "choices", "shuffle", "sample",
    "uniform", "gauss", "seed", "getrandbits", "randbytes",
}


def layer_of(module: str) -> str | None:
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    if module == "cluster" or module.startswith("cluster."):
        return "cluster"
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    files = sorted((ROOT / "cluster").rglob("*.py")) + sorted((ROOT / "backend").rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layer_rule(path: Path) -> None:
    here = layer_of(module_name(path))
    assert here is not None, f"{path} is outside every layer; add it to docs/architecture.md"
    for line, imported in imports_of(path):
        target = layer_of(imported)
        if target is None or target == here:
            continue
        assert target in ALLOWED.get(here, set()), (
            f"{path.relative_to(ROOT)}:{line} imports {imported} ({target}); "
            f"{here} may import only {sorted(ALLOWED.get(here, set()))} (docs/architecture.md)"
        )
        if here == "cluster.core":
            assert imported.split(".")[0] not in CORE_FORBIDDEN_STDLIB, (
                f"{path.relative_to(ROOT)}:{line}: cluster/core must stay pure, "
                f"but imports {imported}"
            )


@pytest.mark.parametrize(
    "path",
    [p for p in source_files() if layer_of(module_name(p)) == "cluster.core"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_core_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""
            ]
            for name in names:
                assert name.split(".")[0] not in CORE_FORBIDDEN_STDLIB, (
                    f"{path.relative_to(ROOT)}:{node.lineno}: cluster/core must stay pure, "
                    f"but imports {name}"
                )
            if isinstance(node, ast.ImportFrom) and node.module == "random":
                bad = {a.name for a in node.names} & GLOBAL_RANDOM
                assert not bad, f"{path.relative_to(ROOT)}:{node.lineno} imports global {bad}"
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "random"
            and node.attr in GLOBAL_RANDOM
        ):
            raise AssertionError(
                f"{path.relative_to(ROOT)}:{node.lineno} uses the global random.{node.attr}; "
                "pass a seeded random.Random in"
            )


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    """The rule above must be able to fail: a core module importing asyncio does."""
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom backend import create_app\n")
    found = [name for _, name in imports_of(bad)]
    assert "asyncio" in found
    assert layer_of("backend") not in ALLOWED["cluster.core"]
    assert "asyncio" in CORE_FORBIDDEN_STDLIB
