"""The service driven by Stripe's official Node SDK (stripe-node, pinned in package-lock.json), end to end.

The tests themselves are JavaScript (`tests/e2e/node/stripe_node_e2e.mjs`, Node's built-in test runner): sessions
with nested and array parameters, configurations with auto-pagination, `""` unsets, idempotent replays and
mismatches, the SDK's typed errors, API version pinning and the walk from a session's `url` to the portal. Here
they are run against the same `python -m local_gateway run` as the Python SDK's tests, and every object the Node
SDK received is checked against Stripe's published schema.

Without Node or `node_modules/stripe` (`make test` installs it with `npm ci`) the tests skip, saying why; with
PORTAL_REQUIRE_ALL_ENGINES=1 (CI) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from portal_sessions.domain.auth import ManagedKey, key_hash, mask_key
from portal_sessions.store.api_keys import ApiKeyStore
from tests.support.contract import schema_errors
from tests.support.local_service import ROOT, LocalService

SCRIPT = ROOT / "tests" / "e2e" / "node" / "stripe_node_e2e.mjs"
SDK_PACKAGE = ROOT / "node_modules" / "stripe" / "package.json"
LOCKFILE = ROOT / "package-lock.json"
MIN_NODE_MAJOR = 20  # stripe-node 23's `engines`
RUN_TIMEOUT_SECONDS = 300.0
_TAP_COUNT = re.compile(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.MULTILINE)


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail where every engine and client must run (CI sets PORTAL_REQUIRE_ALL_ENGINES=1)."""
    if os.environ.get("PORTAL_REQUIRE_ALL_ENGINES") == "1":
        pytest.fail(f"{reason} (PORTAL_REQUIRE_ALL_ENGINES=1)", pytrace=False)
    pytest.skip(reason)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        _unavailable("stripe-node tests need Node.js (`node`), which is not installed")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        _unavailable(f"stripe-node tests need Node.js {MIN_NODE_MAJOR} or later, found {version}")
    if not SDK_PACKAGE.exists():
        _unavailable("stripe-node is not installed: `make test` installs it (`npm ci`, pinned in package-lock.json)")
    return node


@dataclass(frozen=True, repr=False)  # its output is shown where it matters, not its repr
class NodeRun:
    output: str
    returncode: int
    counts: dict[str, int]
    samples: list[dict[str, Any]]


def _managed_key(service: LocalService, *, livemode: bool, restricted: bool) -> str:
    """A key made as `python -m portal_admin keys create` makes it, in the running service's table."""
    prefix = ("rk_" if restricted else "sk_") + ("live_" if livemode else "test_")
    api_key = prefix + secrets.token_hex(20)
    key = ManagedKey(
        "key_" + secrets.token_hex(8), "stripe-node e2e", livemode, restricted, int(time.time()), mask_key(api_key)
    )
    ApiKeyStore(service.table_name, client=service.dynamodb()).put_new(key, key_hash(api_key))
    return api_key


@pytest.fixture(scope="module")
def node_run(service: LocalService, tmp_path_factory: pytest.TempPathFactory) -> NodeRun:
    node = _node()
    work = tmp_path_factory.mktemp("stripe_node")
    samples, tap = work / "samples.json", work / "report.tap"
    env = {
        **os.environ,
        "PORTAL_BASE_URL": service.base_url,
        "PORTAL_API_KEY": service.api_key,
        "PORTAL_URL": service.portal_url,
        "PORTAL_RESTRICTED_KEY": _managed_key(service, livemode=False, restricted=True),
        "PORTAL_LIVE_KEY": _managed_key(service, livemode=True, restricted=False),
        "PORTAL_NODE_SAMPLES": str(samples),
    }
    env.pop("NODE_OPTIONS", None)  # nothing from the shell changes how Node loads the SDK
    # Spec on stdout for people (failures with their assertion diffs), TAP in a file for the counts.
    command = [
        node,
        "--test",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        "--test-reporter=tap",
        f"--test-reporter-destination={tap}",
        str(SCRIPT),
    ]
    completed = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
    )
    report = tap.read_text() if tap.exists() else ""
    return NodeRun(
        output=completed.stdout + completed.stderr,
        returncode=completed.returncode,
        counts={name: int(count) for name, count in _TAP_COUNT.findall(report)},
        samples=json.loads(samples.read_text()) if samples.exists() else [],
    )


def test_the_installed_stripe_node_is_the_pinned_one() -> None:
    # Given the version package-lock.json pins
    _node()
    pinned = json.loads(LOCKFILE.read_text())["packages"]["node_modules/stripe"]["version"]

    # When the installed package is read
    installed = json.loads(SDK_PACKAGE.read_text())["version"]

    # Then the tests run the pinned SDK, a 23.x (API version 2026-10-28.endive)
    assert installed == pinned, f"node_modules holds stripe {installed}, package-lock.json pins {pinned}: run npm ci"
    assert installed.startswith("23."), installed


def test_every_stripe_node_test_passes(node_run: NodeRun) -> None:
    # Given the Node suite run against the service
    counts = node_run.counts

    # Then it ran, and every one of its tests passed (none skipped, none left to do)
    assert node_run.returncode == 0, node_run.output
    assert counts.get("tests", 0) > 0, f"no TAP summary from Node:\n{node_run.output}"
    assert counts["pass"] == counts["tests"], node_run.output
    assert (counts["fail"], counts["cancelled"], counts["skipped"], counts["todo"]) == (0, 0, 0, 0), node_run.output


def test_every_object_stripe_node_received_matches_stripes_schema(node_run: NodeRun) -> None:
    # Given the objects the Node SDK built from the service's answers (sessions, configurations, errors)
    kinds = {sample["component"] for sample in node_run.samples}

    # Then each of them satisfies Stripe's published schema for its kind
    assert kinds == {"billing_portal.session", "billing_portal.configuration", "error"}, node_run.output
    problems = {
        sample["name"]: errors
        for sample in node_run.samples
        if (errors := schema_errors(sample["component"], sample["object"]))
    }
    assert problems == {}
