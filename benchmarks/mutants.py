"""`make mutants`: mutation testing (mutmut, in .venv-mutmut from requirements-mutmut.txt) of the security-critical
code against the tests that prove it, one target at a time, each within a time limit. Survivors are explained in
benchmarks/MUTANTS.md.

    .venv-mutmut/bin/python -m benchmarks.mutants [TARGET ...]     # default: every target
    MUTANTS_MINUTES=10 MUTANTS_CHILDREN=2                   # the limit per target, and mutmut's parallel children

mutmut names a mutant by its file's path (`src/` stripped), and the tests import the layer's package as
`portal_sessions` (pytest's `pythonpath`), so each target runs in a staging copy, `.mutants/<target>/`, where the
package sits in `src/`: there the names agree, and the unmutated layer is not on the path to shadow the mutants.
DynamoDB Local is left out of the copy (its jar is in node_modules): the tests run on moto alone, to keep it short.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / ".mutants"
PACKAGE = ROOT / "layers" / "portal" / "portal_sessions"
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
        f"also_copy = {_toml_list([path for path in COPIED if path != 'tests'])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(target.tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnraisableExceptionWarning"]\n'
    )
    (staging / "pyproject.toml").write_text(pyproject)
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
    return results.stdout, elapsed, finished


def summary(results: str) -> dict[str, list[str]]:
    by_status: dict[str, list[str]] = {}
    for line in results.splitlines():
        found = re.match(r"\s*(\S+__mutmut_\d+): (.+)$", line)
        if found:
            by_status.setdefault(found.group(2).strip(), []).append(found.group(1))
    return by_status


def main(names: list[str]) -> int:
    minutes = float(os.environ.get("MUTANTS_MINUTES", "10"))
    children = int(os.environ.get("MUTANTS_CHILDREN", "2"))
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        print(f"unknown target(s) {unknown}; targets: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    survived_any = False
    for name in names or list(TARGETS):
        results, elapsed, finished = run(name, TARGETS[name], minutes, children)
        by_status = summary(results)
        counts = ", ".join(f"{len(mutants)} {status}" for status, mutants in sorted(by_status.items()))
        state = "finished" if finished else f"stopped at the {minutes:g}-minute limit"
        print(f"{name}: {counts or 'no mutants'} ({state}, {elapsed / 60:.1f} min; .mutants/{name}/results.txt)")
        for mutant in by_status.get("survived", []):
            survived_any = True
            print(f"  survived: {mutant}  (cd .mutants/{name} && ../../.venv-mutmut/bin/mutmut show {mutant})")
    return 1 if survived_any else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
