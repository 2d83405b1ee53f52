"""The rooms of edge/: the decision core imports no I/O (no web framework, store client, faiss or files)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

EDGE = Path(__file__).resolve().parent.parent / "edge"
CORE = EDGE / "core"

# Top-level modules the core must not import: the web stack, the store client, faiss, and the filesystem.
FORBIDDEN_MODULES = frozenset(
    {"starlette", "uvicorn", "redis", "faiss", "os", "pathlib", "io", "shutil", "tempfile", "socket", "yaml"}
)
# Edge modules that do I/O or wire it up: the core is handed what it needs instead.
FORBIDDEN_EDGE = ("edge.store", "edge.http", "edge.model", "edge.runtime", "edge.settings")
FORBIDDEN_CALLS = frozenset({"open"})


def core_modules() -> list[Path]:
    return sorted(CORE.glob("*.py"))


def imported(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """Every module an import statement names (relative imports resolved against `package`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield node.lineno, base
            for alias in node.names:  # `from edge import store` names a module too
                yield node.lineno, f"{base}.{alias.name}"


def violations(source: str, package: str = "edge.core") -> list[str]:
    """What in `source` breaks the core's import rule, one line per finding."""
    tree = ast.parse(source)
    found = []
    for line, module in imported(tree, package):
        top = module.split(".")[0]
        if top in FORBIDDEN_MODULES or any(module == m or module.startswith(m + ".") for m in FORBIDDEN_EDGE):
            found.append(f"{line}: imports {module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{node.lineno}: calls {node.func.id}()")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append(f"{node.lineno}: calls __import__()")
    return found


def test_the_core_has_modules_to_check() -> None:
    names = {p.stem for p in core_modules()}
    assert {"segments", "content", "experiments", "bucketing", "ranking", "recommend", "sessions", "profiles"} <= names


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.stem)
def test_core_module_imports_no_io(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == [], f"edge/core/{path.name} breaks the import rule"


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "from pathlib import Path",
        "import redis.asyncio as redis",
        "from starlette.responses import JSONResponse",
        "import faiss",
        "import yaml",
        "from edge.store.base import ProfileStore",
        "from edge import settings",
        "from edge.model import artifacts",
        "from ..store import memory",
        "def f():\n    from edge.runtime import Runtime",
        "def f(p):\n    return open(p).read()",
    ],
)
def test_the_rule_catches_each_kind_of_io(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np",
        "from edge.errors import ConfigError",
        "from edge.core.writes import Op",
        "from . import writes",
        "import orjson",
        "def f(stream):\n    return stream.open()",
    ],
)
def test_the_rule_lets_pure_imports_through(source: str) -> None:
    assert violations(source) == []
