"""The tests' layout, checked on the source.

conftest.py files hold fixtures and pytest hooks only: no module imports from one (`from tests.conftest import x`,
`from tests.e2e.conftest import x`, `from .conftest import x`, `from tests.e2e import conftest`, `import
tests.conftest`). What tests share beyond fixtures (events, names and keys, factories, fakes, the local server) is in
tests/support, imported by name.

Tests reset the state a module caches through the module's own public reset function (e.g.
`settings.clear_settings_cache()`, `store.table.clear_client_cache()`), never through the `cache_clear()` of the
`functools.cache` behind it: how a module caches is its own business.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def conftest_imports(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            modules = [base] + [f"{base.rstrip('.')}.{alias.name}" for alias in node.names]
        else:
            continue
        if any(module.split(".")[-1] == "conftest" for module in modules):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def cache_clears(source: str) -> list[str]:
    return [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cache_clear"
    ]


def test_the_check_finds_what_it_looks_for() -> None:
    source = (
        "from tests.conftest import TEST_KEY\n"
        "from tests.e2e.conftest import LocalService\n"
        "from .conftest import ROOT\n"
        "from tests.e2e import conftest as e2e\n"
        "import tests.conftest\n"
        "from tests.support.settings import TEST_KEY\n"
        "import conftest_free\n"
    )
    assert conftest_imports(source) == [
        "line 1: from tests.conftest import TEST_KEY",
        "line 2: from tests.e2e.conftest import LocalService",
        "line 3: from .conftest import ROOT",
        "line 4: from tests.e2e import conftest as e2e",
        "line 5: import tests.conftest",
    ]
    assert cache_clears("dynamodb_client.cache_clear()\nclear_client_cache()\n") == [
        "line 1: dynamodb_client.cache_clear()"
    ]


@pytest.mark.parametrize("path", sorted((ROOT / "tests").rglob("*.py")), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_imports_from_a_conftest(path: Path) -> None:
    assert conftest_imports(path.read_text()) == []


@pytest.mark.parametrize("path", sorted((ROOT / "tests").rglob("*.py")), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_test_clears_a_modules_cache_behind_its_back(path: Path) -> None:
    assert cache_clears(path.read_text()) == []
