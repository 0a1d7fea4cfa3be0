"""conftest.py files hold fixtures and pytest hooks only: no module imports from one. What tests share beyond
fixtures (events, names and keys, factories, fakes, the local server) is in tests/support, imported by name.

Checked on the source: `from tests.conftest import x`, `from tests.e2e.conftest import x`, `from .conftest import x`,
`from tests.e2e import conftest`, `import tests.conftest`.
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


@pytest.mark.parametrize("path", sorted((ROOT / "tests").rglob("*.py")), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_imports_from_a_conftest(path: Path) -> None:
    assert conftest_imports(path.read_text()) == []
