"""The layer's rooms (docs/architecture.md), checked on the source: imports go one way, down the rooms.

Every module of layers/portal/portal_sessions sits in one room (a sub-package); a module may import its own room and
the rooms below it, never one above. Every import counts: at module level, under `if TYPE_CHECKING:` and inside
functions (a deferred import is still a dependency). The imports that run when a module loads make no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "layers" / "portal" / "portal_sessions"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# Bottom to top: each room may import the rooms before it in this list, and itself.
ROOMS = ("runtime", "stripe_wire", "domain", "store", "outbound", "use_cases", "api_gateway")


def module_name(path: Path, package_dir: Path) -> str:
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, package_dir: Path) -> bool:
    base = package_dir.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, package_dir: Path, loading_only: bool = False) -> list[tuple[int, str]]:
    """(line, module) of each of the package's modules this file imports. loading_only: only the imports that run
    when the module loads (module level, outside `if TYPE_CHECKING:`)."""
    package = package_dir.name
    name = module_name(path, package_dir)
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    if loading_only:
        nodes = [node for node in tree.body if not is_type_checking_block(node)]
        for node in list(nodes):
            if isinstance(node, (ast.If, ast.Try)):  # module-level branches run too
                nodes += [child for child in ast.walk(node) if isinstance(child, (ast.Import, ast.ImportFrom))]
    else:
        nodes = list(ast.walk(tree))
    found: list[tuple[int, str]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:  # `from pkg import module` imports the module
                submodule = f"{base}.{alias.name}"
                found.append((node.lineno, submodule if is_module(submodule, package_dir) else base))
    return sorted({(line, module) for line, module in found if module.split(".")[0] == package})


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else None  # package.room.module; None: the package itself or a module at its root


def violations(package_dir: Path, rooms: tuple[str, ...]) -> list[str]:
    """Modules outside the rooms, and imports of a higher room, as `file:line: importer -> imported`."""
    found: list[str] = []
    for path in sorted(package_dir.rglob("*.py")):
        name = module_name(path, package_dir)
        where = path.relative_to(package_dir.parent)
        if name == package_dir.name:
            continue  # the package's own __init__ (imports nothing)
        room = room_of(name) or (name.split(".")[1] if path.name == "__init__.py" else None)
        if room not in rooms:
            found.append(f"{where}: {name} is in no room")
            continue
        for line, imported in imports_of(path, package_dir):
            imported_room = room_of(imported)
            if imported_room not in rooms or rooms.index(imported_room) > rooms.index(room):
                found.append(f"{where}:{line}: {name} ({room}) -> {imported} ({imported_room or 'no room'})")
    return found


def cycles(package_dir: Path) -> list[list[str]]:
    """The cycles among the imports that run when the modules load."""
    graph = {
        module_name(path, package_dir): {module for _line, module in imports_of(path, package_dir, loading_only=True)}
        for path in sorted(package_dir.rglob("*.py"))
    }
    found: list[list[str]] = []
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                found.append([*stack[stack.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, source in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root / "pkg"


def test_the_check_finds_a_lower_room_importing_a_higher_one(tmp_path: Path) -> None:
    package_dir = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/base.py": "from ..high import top\n",  # module level, relative
            "low/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high.top import T\n",
            "low/deferred.py": "def f():\n    import pkg.high.top\n",
            "low/fine.py": "from .base import x\nimport json\n",
            "high/__init__.py": "",
            "high/top.py": "from ..low.base import x\nfrom ..low import typed\n",
            "stray.py": "",
        },
    )
    assert violations(package_dir, ("low", "high")) == [
        "pkg/low/base.py:1: pkg.low.base (low) -> pkg.high.top (high)",
        "pkg/low/deferred.py:2: pkg.low.deferred (low) -> pkg.high.top (high)",
        "pkg/low/typed.py:3: pkg.low.typed (low) -> pkg.high.top (high)",
        "pkg/stray.py: pkg.stray is in no room",
    ]
    assert cycles(package_dir) == [["pkg.high.top", "pkg.low.base", "pkg.high.top"]]


def test_the_check_passes_a_package_whose_imports_go_down(tmp_path: Path) -> None:
    package_dir = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/base.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .typed import T\n",
            "low/typed.py": "from .base import x\n",  # a type-checking import back makes no cycle at load
            "high/__init__.py": "",
            "high/top.py": "from ..low import base\ndef f():\n    from pkg.low.typed import T\n",
        },
    )
    assert violations(package_dir, ("low", "high")) == []
    assert cycles(package_dir) == []


def test_every_module_is_in_a_room_and_imports_only_its_own_and_lower_rooms() -> None:
    assert violations(PACKAGE_DIR, ROOMS) == []


def test_no_import_cycle_when_the_layer_loads() -> None:
    assert cycles(PACKAGE_DIR) == []


@pytest.mark.parametrize("room", ROOMS)
def test_each_rooms_init_is_empty(room: str) -> None:
    init = PACKAGE_DIR / room / "__init__.py"
    statements = [node for node in ast.parse(init.read_text()).body if not isinstance(node, ast.Expr)]
    assert statements == []  # a docstring at most: an import here would cost every function using one of its modules


def test_only_the_store_talks_to_dynamodb() -> None:
    outside = [
        f"{path.relative_to(PACKAGE_DIR)}:{node.lineno}: {ast.unparse(node)}"
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path.relative_to(PACKAGE_DIR).parts[0] != "store"
        for node in ast.walk(ast.parse(path.read_text()))
        if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mypy_boto3_dynamodb"))
        or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"client", "resource"}
            and any(isinstance(arg, ast.Constant) and arg.value in {"dynamodb", "dynamodbstreams"} for arg in node.args)
        )
    ]
    assert outside == []


def test_the_architecture_page_states_the_rooms_in_this_order() -> None:
    stated = [
        cells[1].strip().strip("`").rstrip("/")
        for cells in (line.split("|") for line in ARCHITECTURE.read_text().splitlines() if line.startswith("| `"))
    ]
    assert stated == list(reversed(ROOMS))  # the page's table lists them top (the edge) to bottom
