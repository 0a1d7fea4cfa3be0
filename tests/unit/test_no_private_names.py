"""No module reaches a private name of another module, ours or a library's: an upgrade or a refactor may change it.

A private name is one with a leading underscore (dunders aside). Checked on the source: `from m import _x`, and
`m._x` where `m` is a name the file bound by importing a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("layers", "functions", "local_gateway", "portal_admin", "benchmarks", "tests")


def python_files() -> list[Path]:
    return sorted(path for folder in CHECKED for path in (ROOT / folder).rglob("*.py") if ".aws-sam" not in path.parts)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    tree = ast.parse(source)
    modules: set[str] = set()  # names bound to modules by `import m`, `import m as n`, `from p import m`
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if is_private(alias.name):
                    found.append(f"line {node.lineno}: from {node.module or '.'} import {alias.name}")
                modules.add(alias.asname or alias.name)  # may be a module; attributes of non-modules are checked too
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and is_private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_the_check_finds_what_it_looks_for() -> None:
    source = "import m\nfrom p import _hidden\nfrom q import thing\nm._x\nthing._y\nself_ = 1\nm.__doc__\n"
    assert private_uses(source) == ["line 2: from p import _hidden", "line 4: m._x", "line 5: thing._y"]


@pytest.mark.parametrize("path", python_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_private_name_crosses_a_module_boundary(path: Path) -> None:
    assert private_uses(path.read_text()) == []
