"""SnapStart as Lambda runs it (portal_sessions/runtime/snapstart.py, api_gateway/priming.py): the init, then the
before-snapshot hooks, then, in a restored copy, the after-restore hooks and the first request.

Each function runs in a fresh process, as in Lambda, with `snapshot_restore_py` (the PyPI package of the library
Lambda's Python runtimes include) holding the hooks, which the probe runs as the runtime does. Every AWS endpoint
points at a socket of this test that only counts connections: priming must make none."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from portal_sessions.domain.auth import key_hash, load_key_hashes
from portal_sessions.runtime.parameter_providers import clear_provider_cache
from tests.support.settings import API_KEYS_PARAMETER, FUNCTION_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import importlib, json, sys
for hidden in sys.argv[4:]:
    sys.modules[hidden] = None
handler = importlib.import_module(sys.argv[1])
from portal_sessions.store.table import dynamodb_client
from portal_sessions.runtime.parameter_providers import secrets_provider, ssm_parameters
from portal_sessions.runtime.observability import metrics
def state():
    modules = sorted(name for name, loaded in sys.modules.items() if loaded is not None)
    clients = [name for name, made in (("dynamodb", dynamodb_client), ("ssm", ssm_parameters),
               ("secretsmanager", secrets_provider)) if made.cache_info().currsize]
    return {"modules": modules, "clients": clients, "metrics": sorted(metrics.metric_set)}
report = {"init": state()}
if "snapshot_restore_py" not in sys.argv[4:]:
    import snapshot_restore_py
    for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):  # as the runtime runs them
        hook(*args, **kwargs)
    report["snapshot"] = state()
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)
if sys.argv[3]:  # the restored copy's first requests
    event = json.loads(sys.argv[3])
    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "fn", 512, "req"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    report["responses"] = [handler.lambda_handler(event, Context())["statusCode"] for _ in range(2)]
with open(sys.argv[2], "w") as out:
    json.dump(report, out)
"""
# A create without an API key: refused before any AWS call, so the restored copy's first requests need no AWS.
UNAUTHENTICATED_CREATE = {
    "version": "2.0",
    "rawPath": "/v1/billing_portal/sessions",
    "requestContext": {"http": {"method": "POST"}, "stage": "$default", "requestId": "id"},
    "headers": {"content-type": "application/x-www-form-urlencoded"},
    "body": "customer=cus_1",
    "isBase64Encoded": False,
}


@pytest.fixture
def aws_endpoint() -> Iterator[socket.socket]:
    """A TCP socket every AWS client is sent to: a connection waiting on it is a call someone made."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener


def connections(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def run_as_lambda(
    module: str,
    endpoint: socket.socket,
    tmp_path: Path,
    *,
    initialization: str = "snap-start",
    event: dict[str, Any] | None = None,
    hidden: tuple[str, ...] = (),
) -> dict[str, Any]:
    path = [str(ROOT / "layers" / "portal"), *(str(folder) for folder in (ROOT / "functions").iterdir())]
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_ENDPOINT_URL")}
    env.update(
        {
            **FUNCTION_SETTINGS,
            "PYTHONPATH": os.pathsep.join(path),
            "AWS_LAMBDA_INITIALIZATION_TYPE": initialization,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{endpoint.getsockname()[1]}",
            "AWS_MAX_ATTEMPTS": "1",
            "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        }
    )
    report = tmp_path / "report.json"
    done = subprocess.run(
        # the runtime's botocore finds no pyOpenSSL (this venv's would import cryptography at init)
        [sys.executable, "-c", PROBE, module, str(report), json.dumps(event) if event else "", "OpenSSL", *hidden],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(report.read_text())
    result["stdout"] = done.stdout
    return result


def imported(modules: list[str], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


def test_create_is_primed_before_the_snapshot_and_only_then(aws_endpoint: socket.socket, tmp_path: Path) -> None:
    report = run_as_lambda("create_session_handler", aws_endpoint, tmp_path)
    init, snapshot = report["init"], report["snapshot"]

    # init is all a cold start without SnapStart runs (Lambda runs the hooks only to take a snapshot): no cipher,
    # no client, as before
    assert not imported(init["modules"], "cryptography") and init["clients"] == []
    # before the snapshot: the cipher of idempotent requests imported, its clients made
    assert imported(snapshot["modules"], "cryptography.hazmat.primitives.ciphers.aead")
    assert snapshot["clients"] == ["dynamodb", "ssm"]  # the clients its requests use
    # and nothing priming did reaches a request's metrics, nor any AWS service
    assert snapshot["metrics"] == []
    assert connections(aws_endpoint) == 0
    assert "priming before the snapshot failed" not in report["stdout"]


def test_the_redirect_is_primed_with_the_hand_off_signer_and_still_without_pydantic(
    aws_endpoint: socket.socket, tmp_path: Path
) -> None:
    report = run_as_lambda("redirect_handler", aws_endpoint, tmp_path)
    init, snapshot = report["init"], report["snapshot"]

    assert not imported(init["modules"], "jwt") and init["clients"] == []
    assert imported(snapshot["modules"], "jwt") and imported(snapshot["modules"], "hmac")
    assert snapshot["clients"] == ["dynamodb", "secretsmanager"]
    assert not imported(snapshot["modules"], "pydantic")
    assert snapshot["metrics"] == []
    assert connections(aws_endpoint) == 0
    assert "priming before the snapshot failed" not in report["stdout"]


def test_a_restored_copy_counts_its_first_request_as_a_cold_start(aws_endpoint: socket.socket, tmp_path: Path) -> None:
    # Lambda's snapshot init runs as `snap-start`; the copy restored from it answers its first requests
    report = run_as_lambda("create_session_handler", aws_endpoint, tmp_path, event=UNAUTHENTICATED_CREATE)

    metric_lines = [json.loads(line) for line in report["stdout"].splitlines() if line.startswith('{"_aws"')]
    cold_starts = [line for line in metric_lines if "ColdStart" in line]

    assert report["responses"] == [401, 401]
    assert len(cold_starts) == 1 and cold_starts[0]["ColdStart"] == [1.0]  # the first request only
    assert connections(aws_endpoint) == 0


@pytest.mark.parametrize("module", ["create_session_handler", "redirect_handler"])
def test_the_functions_run_where_snapshot_restore_py_is_missing(
    module: str, aws_endpoint: socket.socket, tmp_path: Path
) -> None:
    # The library is part of Lambda's Python runtimes only: the local runner and other hosts have none
    event = UNAUTHENTICATED_CREATE if module == "create_session_handler" else None
    report = run_as_lambda(module, aws_endpoint, tmp_path, event=event, hidden=("snapshot_restore_py",))

    assert "snapshot" not in report
    assert not imported(report["init"]["modules"], "snapshot_restore_py")
    if event:
        assert report["responses"] == [401, 401]


def test_parameters_cached_before_the_snapshot_are_read_again_after_a_restore() -> None:
    import snapshot_restore_py

    import portal_sessions.runtime.snapstart  # noqa: F401  (registers its after-restore hooks, once per process)

    with mock_aws():
        clear_provider_cache()
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name=API_KEYS_PARAMETER, Value=key_hash("sk_test_before"), Type="String")
        assert load_key_hashes(API_KEYS_PARAMETER) == {key_hash("sk_test_before")}  # cached, as at init
        ssm.put_parameter(Name=API_KEYS_PARAMETER, Value=key_hash("sk_test_after"), Type="String", Overwrite=True)
        assert load_key_hashes(API_KEYS_PARAMETER) == {key_hash("sk_test_before")}  # within its max age

        for hook, args, kwargs in snapshot_restore_py.get_after_restore():
            hook(*args, **kwargs)

        assert load_key_hashes(API_KEYS_PARAMETER) == {key_hash("sk_test_after")}
        clear_provider_cache()
