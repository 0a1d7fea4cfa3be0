"""SnapStart as Lambda runs it (portal_sessions/runtime/snapstart.py, api_gateway/priming.py): the init, then the
before-snapshot hooks, then, in a restored copy, the after-restore hooks and the first request.

Each function runs in a fresh process, as in Lambda, with `snapshot_restore_py` (the PyPI package of the library
Lambda's Python runtimes include) holding the hooks, which the probe runs as the runtime does. Every AWS endpoint
points at a socket of this test that only counts connections: priming must make none. At the restore, the keys'
reads are answered (or refused, PROBE_KEYS=refused) by botocore's Stubber on the providers' clients, as SSM and
Secrets Manager would."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from portal_sessions.api_gateway.priming import read_create_keys, read_redirect_keys
from portal_sessions.domain.auth import KEY_HASHES_MAX_AGE_SECONDS, key_hash, load_key_hashes
from portal_sessions.domain.handoff import SIGNING_KEY_MAX_AGE_SECONDS, load_keyring
from portal_sessions.runtime import snapstart
from portal_sessions.runtime.errors import ServiceUnavailableError
from portal_sessions.runtime.parameter_providers import clear_provider_cache, secrets_provider, ssm_parameters
from portal_sessions.runtime.settings import clear_settings_cache
from tests.support.settings import (
    API_KEYS_PARAMETER,
    FUNCTION_SETTINGS,
    HANDOFF_SECRET_ID,
    LIVE_HANDOFF_KEYS,
    TEST_HANDOFF_KEYS,
    TEST_HANDOFF_SECRET_ID,
    TEST_KEY,
)

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import importlib, json, os, sys
for hidden in sys.argv[4:]:
    sys.modules[hidden] = None
handler = importlib.import_module(sys.argv[1])
from portal_sessions.store.table import dynamodb_client
from portal_sessions.runtime.parameter_providers import secrets_provider, ssm_parameters
from portal_sessions.runtime.observability import metrics
from portal_sessions.store.configurations import ConfigurationStore
PROVIDERS = (("ssm", ssm_parameters), ("secretsmanager", secrets_provider))
def state():
    modules = sorted(name for name, loaded in sys.modules.items() if loaded is not None)
    clients = [name for name, made in (("dynamodb", dynamodb_client), *PROVIDERS) if made.cache_info().currsize]
    cached = [name for name, made in PROVIDERS if made.cache_info().currsize and made().store]
    configurations = ConfigurationStore(os.environ["TABLE_NAME"])
    defaults_known = [mode for mode in (False, True) if configurations.default_known(mode)]
    return {"modules": modules, "clients": clients, "cached": cached, "metrics": sorted(metrics.metric_set),
            "defaults_known": defaults_known}
def answer_key_reads():
    from botocore.stub import Stubber
    keyring = json.dumps({"signing_kid": "k", "k": "k" * 64})
    answers = {"ssm": ("get_parameter", 1, {"Parameter": {"Name": "p", "Value": "ab" * 32, "Type": "String"}}),
               "secretsmanager": ("get_secret_value", 2, {"Name": "s", "SecretString": keyring})}
    stubbers = []
    for name, made in PROVIDERS:
        if made.cache_info().currsize:
            stubber = Stubber(made().client)
            operation, reads, response = answers[name]
            for _ in range(reads):
                if os.environ.get("PROBE_KEYS") == "refused":
                    stubber.add_client_error(operation, "InternalServerError", http_status_code=500)
                else:
                    stubber.add_response(operation, response)
            stubber.activate()
            stubbers.append(stubber)
    return stubbers
report = {"init": state()}
if "snapshot_restore_py" not in sys.argv[4:]:
    import snapshot_restore_py
    for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):  # as the runtime runs them
        hook(*args, **kwargs)
    report["snapshot"] = state()
    stubbers = answer_key_reads()
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)
    report["restore"] = state()
    report["reads_unanswered"] = 0
    for stubber in stubbers:
        try:
            stubber.assert_no_pending_responses()
        except AssertionError:
            report["reads_unanswered"] += 1
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
    keys: str = "answered",
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
            "PROBE_KEYS": keys,
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
    # and nothing priming did reaches a request's metrics, nor any AWS service, nor what a request relies on having
    # seen in the table (a default configuration known to exist skips its check)
    assert snapshot["metrics"] == []
    assert snapshot["defaults_known"] == []
    assert connections(aws_endpoint) == 0
    assert report["stdout"] == ""  # no log line or metric printed: priming formats and serialises, never emits


def test_the_redirect_is_primed_with_the_hand_off_signer_and_still_without_pydantic(
    aws_endpoint: socket.socket, tmp_path: Path
) -> None:
    report = run_as_lambda("redirect_handler", aws_endpoint, tmp_path)
    init, snapshot = report["init"], report["snapshot"]

    assert not imported(init["modules"], "jwt") and init["clients"] == []
    assert imported(snapshot["modules"], "jwt") and imported(snapshot["modules"], "hmac")
    assert snapshot["clients"] == ["dynamodb", "secretsmanager"]
    assert not imported(snapshot["modules"], "pydantic")
    assert snapshot["metrics"] == [] and snapshot["defaults_known"] == []
    assert connections(aws_endpoint) == 0
    assert report["stdout"] == ""


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


@pytest.mark.parametrize(
    ("module", "provider"), [("create_session_handler", "ssm"), ("redirect_handler", "secretsmanager")]
)
def test_a_restored_copy_reads_its_keys_after_the_restore_and_never_before_the_snapshot(
    module: str, provider: str, aws_endpoint: socket.socket, tmp_path: Path
) -> None:
    report = run_as_lambda(module, aws_endpoint, tmp_path)

    # nothing secret in the snapshot: no key read before it, nothing cached
    assert report["init"]["cached"] == [] and report["snapshot"]["cached"] == []
    assert connections(aws_endpoint) == 0
    # after the restore (after the hook that empties the cache), the keys are in the cache the requests read
    assert report["restore"]["cached"] == [provider]
    assert report["reads_unanswered"] == 0  # each read made once (create: the digests; the redirect: both keyrings)
    assert "reading after the restore" not in report["stdout"]


@pytest.mark.parametrize("module", ["create_session_handler", "redirect_handler"])
def test_a_refused_read_at_the_restore_leaves_the_environment_answering(
    module: str, aws_endpoint: socket.socket, tmp_path: Path
) -> None:
    event = UNAUTHENTICATED_CREATE if module == "create_session_handler" else None
    report = run_as_lambda(module, aws_endpoint, tmp_path, event=event, keys="refused")

    assert report["restore"]["cached"] == []
    assert "reading after the restore failed" in report["stdout"]
    if event:
        assert report["responses"] == [401, 401]


@pytest.fixture
def function_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' settings, and SSM and Secrets Manager on moto (no parameter or secret yet)."""
    for name, value in FUNCTION_SETTINGS.items():
        monkeypatch.setenv(name, value)
    clear_settings_cache()
    with mock_aws():
        clear_provider_cache()
        yield
        clear_provider_cache()
    clear_settings_cache()


def calls_counted(client: Any, event: str) -> list[int]:
    """How many times the client calls this operation (botocore's `before-call` event): a list of one count."""
    count = [0]

    def counted(**_: Any) -> None:
        count[0] += 1

    client.meta.events.register(f"before-call.{event}", counted)
    return count


def put_keyrings() -> None:
    for secret_id, keys in ((HANDOFF_SECRET_ID, LIVE_HANDOFF_KEYS), (TEST_HANDOFF_SECRET_ID, TEST_HANDOFF_KEYS)):
        keyring = {"signing_kid": next(iter(keys)), **keys}
        boto3.client("secretsmanager").create_secret(Name=secret_id, SecretString=json.dumps(keyring))


def test_the_api_keys_read_at_the_restore_are_what_create_s_requests_read_within_their_max_age(
    function_settings: None,
) -> None:
    boto3.client("ssm").put_parameter(Name=API_KEYS_PARAMETER, Value=key_hash(TEST_KEY), Type="String")
    reads = calls_counted(ssm_parameters().client, "ssm.GetParameter")
    started = datetime.now()

    snapstart.restore_read_hook(read_create_keys)()

    assert reads == [1]
    [cached] = ssm_parameters().store.values()
    # a first fill of the cache, with the max age a request's read gives it: refreshed on the same schedule
    assert started + timedelta(seconds=KEY_HASHES_MAX_AGE_SECONDS) <= cached.ttl
    assert cached.ttl <= datetime.now() + timedelta(seconds=KEY_HASHES_MAX_AGE_SECONDS)
    assert load_key_hashes(API_KEYS_PARAMETER) == {key_hash(TEST_KEY)}  # the first request's read
    assert reads == [1]  # from that cache


def test_both_modes_keyrings_read_at_the_restore_are_what_the_redirect_s_requests_read(function_settings: None) -> None:
    put_keyrings()
    reads = calls_counted(secrets_provider().client, "secrets-manager.GetSecretValue")
    started = datetime.now()

    snapstart.restore_read_hook(read_redirect_keys)()

    assert reads == [2]
    assert len(secrets_provider().store) == 2
    for cached in secrets_provider().store.values():
        assert started + timedelta(seconds=SIGNING_KEY_MAX_AGE_SECONDS) <= cached.ttl
        assert cached.ttl <= datetime.now() + timedelta(seconds=SIGNING_KEY_MAX_AGE_SECONDS)
    assert load_keyring(HANDOFF_SECRET_ID).keys == LIVE_HANDOFF_KEYS
    assert load_keyring(TEST_HANDOFF_SECRET_ID).keys == TEST_HANDOFF_KEYS
    assert reads == [2]


def test_a_failed_read_at_the_restore_leaves_the_first_request_to_read_as_without_snapstart(
    function_settings: None, caplog: pytest.LogCaptureFixture
) -> None:
    reads = calls_counted(ssm_parameters().client, "ssm.GetParameter")

    snapstart.restore_read_hook(read_create_keys)()  # no parameter yet: the read fails, the hook does not

    assert reads == [1] and ssm_parameters().store == {}
    [warning] = [record for record in caplog.records if record.getMessage() == "reading after the restore failed"]
    assert warning.levelno == logging.WARNING and warning.error == "ServiceUnavailableError"  # type: ignore[attr-defined]
    with pytest.raises(ServiceUnavailableError):  # a first request while the store still fails: as it fails today
        load_key_hashes(API_KEYS_PARAMETER)
    boto3.client("ssm").put_parameter(Name=API_KEYS_PARAMETER, Value=key_hash(TEST_KEY), Type="String")
    assert load_key_hashes(API_KEYS_PARAMETER) == {key_hash(TEST_KEY)}
    assert reads == [3]


def test_a_read_still_waiting_does_not_hold_the_restore(
    function_settings: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Lambda fails a restore whose hooks take more than 10 s: a store that does not answer must not do that
    monkeypatch.setattr(snapstart, "RESTORE_READ_SECONDS", 0.05)
    answer = threading.Event()
    finished = threading.Event()

    def unanswered_read() -> None:
        answer.wait(30)
        finished.set()

    snapstart.restore_read_hook(unanswered_read)()

    assert not finished.is_set()  # the hook returned while the read still waited
    assert "reading after the restore still waits: the first request reads what it lacks" in caplog.messages
    answer.set()
    assert finished.wait(5)
