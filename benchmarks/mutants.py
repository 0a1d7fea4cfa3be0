"""`make mutants`: mutation testing (mutmut, in .venv-mutmut from requirements-mutmut.txt) of the security-critical
code against the tests that prove it, one target at a time, each within a time limit. It exits 1 unless every mutant
was checked and each one no test detects is explained in benchmarks/mutants_explained.toml (why in
benchmarks/MUTANTS.md).

    .venv-mutmut/bin/python -m benchmarks.mutants [TARGET ...]     # default: every target
    MUTANTS_MINUTES=60 MUTANTS_CHILDREN=2                   # the limit per target, and mutmut's parallel children

An explanation is keyed by mutmut's name for the mutant, which numbers the mutants of a function in order: a change
to the function renumbers them. So each explanation also holds the mutant's change (its changed lines, as the run
sees them): a name whose change is not the one explained is unexplained, and its explanation must be written again.

mutmut names a mutant by its file's path (`src/` stripped), and the tests import the layer's package as
`portal_sessions` (pytest's `pythonpath`), so each target runs in a staging copy, `.mutants/<target>/`, where the
package sits in `src/`: there the names agree, and the unmutated layer is not on the path to shadow the mutants.
DynamoDB Local is left out of the copy (its jar is in node_modules): the tests run on moto alone, to keep it short.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / ".mutants"
PACKAGE = ROOT / "layers" / "portal" / "portal_sessions"
EXPLAINED = ROOT / "benchmarks" / "mutants_explained.toml"
# mutmut's statuses (mutmut.stats): a test failed (or hung, or crashed) with the mutant in place, or it was never run
DETECTED = frozenset({"killed", "timeout", "caught by type check", "segfault"})
UNCHECKED = frozenset({"not checked", "check was interrupted by user"})
COPIED = ("tests", "functions", "local_gateway", "portal_admin", "docs", "events", "template.yaml")


@dataclass(frozen=True)
class Target:
    modules: tuple[str, ...]  # under portal_sessions/
    tests: tuple[str, ...]  # what proves them


# The permissions test checks every DynamoDB call the stores make (action, key, condition) against template.yaml's
# policies: the IAM checker's inputs, so it runs against each store.
TARGETS = {
    "sealing": Target(("domain/sealing.py",), ("tests/unit/test_sealing.py", "tests/integration/test_idempotency.py")),
    "delivery_safety": Target(
        ("outbound/delivery_safety.py",),
        (
            "tests/unit/test_webhooks.py",
            "tests/unit/test_delivery_special_ranges.py",
            "tests/unit/test_delivery_urls.py",
            # post() and its pinned connection: to the checked address (a resolver answering a name), the deadline,
            # TLS, what each status and failure becomes; then a delivery end to end (moto)
            "tests/integration/test_delivery_deadline.py",
            "tests/integration/test_webhook_deliveries.py",
        ),
    ),
    "handoff": Target(
        ("domain/handoff.py",),
        ("tests/unit/test_handoff.py", "tests/integration/test_mode_separation.py"),
    ),
    "keys": Target(
        ("domain/auth.py", "domain/tokens.py", "store/api_keys.py"),
        (
            "tests/unit/test_auth.py",
            "tests/unit/test_tokens.py",
            "tests/unit/test_api_key_format.py",
            "tests/integration/test_api_key_store.py",
            "tests/integration/test_api_keys.py",
            "tests/integration/test_round_trips.py",
            "tests/integration/test_permissions.py",
        ),
    ),
    "idempotency": Target(
        ("use_cases/idempotency.py", "store/idempotency.py"),
        (
            "tests/integration/test_idempotency.py",
            "tests/integration/test_concurrency.py",
            "tests/integration/test_permissions.py",
            "tests/integration/test_faults.py",  # an operation that fails, a write whose answer was lost
        ),
    ),
    "session_store": Target(
        ("store/sessions.py",),
        (
            "tests/integration/test_redirect_handler.py",
            "tests/integration/test_versions_and_recovery.py",
            "tests/integration/test_concurrency.py",
            "tests/integration/test_cleanup.py",
            "tests/integration/test_permissions.py",
            "tests/integration/test_session_retention_and_lists.py",
            "tests/integration/test_session_lifecycle.py",
            "tests/integration/test_index_upgrade.py",
            "tests/integration/test_session_store_reads.py",
            "tests/integration/test_visit_writes.py",
            "tests/integration/test_session_store_owners.py",
            "tests/integration/test_session_store_puts.py",
        ),
    ),
}


# The suite runs its slowest directories first (tests/conftest.py, for xdist); a mutant's tests run until one fails,
# so here the unit tests go first: a mutant they kill is not first run through every integration test. This
# conftest.py, at the staging copy's root, wraps the hook, so it sorts after the suite's own sort.
QUICKEST_FIRST = '''"""Staged by benchmarks/mutants.py: unit tests first."""

from collections.abc import Generator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Generator[None, None, None]:
    yield
    items.sort(key=lambda item: item.path.parent.name != "unit")
'''


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def stage(name: str, target: Target) -> Path:
    """A fresh copy of what the target's tests need, with the package in src/ and mutmut's settings."""
    staging = STAGING / name
    shutil.rmtree(staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, staging / "src" / "portal_sessions", ignore=ignore)
    for path in COPIED:
        source = ROOT / path
        if source.is_dir():
            shutil.copytree(source, staging / path, ignore=ignore)
        else:
            shutil.copy2(source, staging / path)
    pyproject = (ROOT / "pyproject.toml").read_text()
    pyproject = pyproject.replace('"layers/portal", ', "")  # mutmut puts src/ on the path; nothing may shadow it
    pyproject += (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {_toml_list([f'src/portal_sessions/{module}' for module in target.modules])}\n"
        f"also_copy = {_toml_list([path for path in COPIED if path != 'tests'] + ['conftest.py'])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(target.tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnraisableExceptionWarning"]\n'
    )
    (staging / "pyproject.toml").write_text(pyproject)
    (staging / "conftest.py").write_text(QUICKEST_FIRST)
    return staging


def run(name: str, target: Target, minutes: float, children: int) -> tuple[str, float, bool]:
    """mutmut on one target, stopped (its whole process group) at the time limit; its results and how long it ran."""
    staging = stage(name, target)
    environment = {key: value for key, value in os.environ.items() if key != "PORTAL_REQUIRE_ALL_ENGINES"}
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    started = time.monotonic()
    process = subprocess.Popen(
        [mutmut, "run", "--max-children", str(children)],
        cwd=staging,
        env=environment,
        stdout=(staging / "run.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    finished = True
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        finished = False
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    elapsed = time.monotonic() - started
    results = subprocess.run(
        [mutmut, "results", "--all", "true"], cwd=staging, env=environment, capture_output=True, text=True
    )
    (staging / "results.txt").write_text(results.stdout + results.stderr)
    if (finished and process.returncode != 0) or results.returncode != 0:  # mutmut saves no results when it fails
        raise RuntimeError(f"mutmut failed on {name}: see .mutants/{name}/run.log and results.txt")
    return results.stdout, elapsed, finished


def modules_without_mutants(by_status: dict[str, list[str]], target: Target) -> list[str]:
    """The target's modules no mutant of the run belongs to: mutmut skips a path it cannot find, or a module whose
    results it did not save, without a word."""
    mutants = [mutant for mutants in by_status.values() for mutant in mutants]
    return [
        module
        for module in target.modules
        if not any(
            mutant.startswith(f"portal_sessions.{module.removesuffix('.py').replace('/', '.')}.") for mutant in mutants
        )
    ]


def summary(results: str) -> dict[str, list[str]]:
    by_status: dict[str, list[str]] = {}
    for line in results.splitlines():
        found = re.match(r"\s*(\S+__mutmut_\d+): (.+)$", line)
        if found:
            by_status.setdefault(found.group(2).strip(), []).append(found.group(1))
    return by_status


def change_of(mutated_source: str, mutant: str) -> str:
    """A mutant's change, from mutmut's mutated module (every mutant of a function beside its original, as
    `<function>__mutmut_<n>` and `<function>__mutmut_orig`): the lines it adds, or those it removes."""
    function = mutant.rsplit(".", 1)[1]
    original = function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    tree = ast.parse(mutated_source)
    sources = {
        node.name: ast.get_source_segment(mutated_source, node) or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in (function, original)
    }
    before = sources[original].splitlines()
    after = sources[function].replace(function, original, 1).splitlines()
    diff = [line for line in difflib.unified_diff(before, after, lineterm="", n=0) if line[:3] not in ("---", "+++")]
    name = original.removesuffix("__mutmut_orig").rsplit("ǁ", 1)[-1].removeprefix("x_")  # as the source names it
    added = [line[1:].strip().replace(original, name) for line in diff if line.startswith("+")]
    removed = [line[1:].strip().replace(original, name) for line in diff if line.startswith("-")]
    return " / ".join(added) if added else "removed: " + " / ".join(removed)


def changes(staging: Path, mutants: list[str]) -> dict[str, str]:
    """Each mutant's change, read from the target's mutated modules (`mutants/src/`)."""
    found: dict[str, str] = {}
    sources: dict[str, str] = {}
    for mutant in mutants:
        module = mutant.rsplit(".", 1)[0]
        if module not in sources:
            sources[module] = (staging / "mutants" / "src" / (module.replace(".", "/") + ".py")).read_text()
        found[mutant] = change_of(sources[module], mutant)
    return found


@dataclass(frozen=True)
class Verdict:
    unexplained: dict[str, str]  # mutant: its change, for mutants no test detects and no explanation covers
    changed: dict[str, tuple[str, str]]  # mutant: (the change explained, the change now) where they differ
    stale: list[str]  # explained, but detected now (or gone): their explanations can go
    unchecked: list[str]


def judge(by_status: dict[str, list[str]], found: dict[str, str], explained: dict[str, dict[str, str]]) -> Verdict:
    """The run's mutants against the explanations: `found` holds the change of every mutant no test detected."""
    unexplained: dict[str, str] = {}
    changed: dict[str, tuple[str, str]] = {}
    for mutant, change in found.items():
        explanation = explained.get(mutant)
        if explanation is None:
            unexplained[mutant] = change
        elif explanation["change"] != change:
            changed[mutant] = (explanation["change"], change)
    stale = sorted(mutant for mutant in explained if mutant not in found)
    unchecked = sorted(mutant for status in UNCHECKED for mutant in by_status.get(status, []))
    return Verdict(unexplained, changed, stale, unchecked)


def as_toml(mutant: str, change: str, reason: str) -> str:
    """An explanation's line for mutants_explained.toml (JSON's string escapes are TOML's)."""
    mutant, change, reason = (json.dumps(text, ensure_ascii=False) for text in (mutant, change, reason))
    return f"{mutant} = {{ change = {change}, reason = {reason} }}"


def main(names: list[str]) -> int:
    minutes = float(os.environ.get("MUTANTS_MINUTES", "60"))
    children = int(os.environ.get("MUTANTS_CHILDREN", "2"))
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        print(f"unknown target(s) {unknown}; targets: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    explanations = tomllib.loads(EXPLAINED.read_text())
    failed = False
    for name in names or list(TARGETS):
        results, elapsed, finished = run(name, TARGETS[name], minutes, children)
        by_status = summary(results)
        counts = ", ".join(f"{len(mutants)} {status}" for status, mutants in sorted(by_status.items()))
        state = "finished" if finished else f"stopped at the {minutes:g}-minute limit"
        print(f"{name}: {counts or 'no mutants'} ({state}, {elapsed / 60:.1f} min; .mutants/{name}/results.txt)")
        undetected = [
            mutant for status, mutants in by_status.items() if status not in DETECTED | UNCHECKED for mutant in mutants
        ]
        verdict = judge(by_status, changes(STAGING / name, undetected), explanations.get(name, {}))
        for module in modules_without_mutants(by_status, TARGETS[name]):
            failed = True
            print(f"  no mutant of {module}: mutmut did not check it")
        if verdict.unchecked:
            failed = True
            print(f"  {len(verdict.unchecked)} not checked: raise MUTANTS_MINUTES")
        for mutant, change in verdict.unexplained.items():
            failed = True
            print(f"  unexplained: {as_toml(mutant, change, 'TODO')}")
        for mutant, (then, now) in verdict.changed.items():
            failed = True
            print(f"  explained for another change (renumbered?): {mutant}\n    explained: {then}\n    now: {now}")
        for mutant in verdict.stale:
            print(f"  explained but detected now (drop its explanation): {mutant}")
    if failed:
        print(f"Explain each survivor in {EXPLAINED.relative_to(ROOT)}, or add the test that kills it.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
