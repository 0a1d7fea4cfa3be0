"""The whole service started the way a developer starts it, `python -m local_gateway run`, as a subprocess: its
environment, its start (on a free port, bounded), its banner read back as a `LocalService`, its stop; and the
`service` fixture the end-to-end and browser suites share, with the one server per engine behind it (each conftest
names the three).

One server per engine for the e2e tests, and one for the browser tests (it takes a few seconds to start moto and
import the handlers). Tests reach it over HTTP like any client, and reach its embedded DynamoDB (moto's server mode)
directly with boto3 when they need a state the API cannot produce, such as an already-expired session.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import stripe

from local_gateway.dynamodb_local import free_port, port_answers
from tests.support.settings import FUNCTION_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
E2E_API_KEY = "sk_test_EndToEndSuiteKey00000000001"
START_TIMEOUT_SECONDS = 150.0  # seconds on an idle machine; the JVMs of DynamoDB Local start slowly on a busy one
STOP_TIMEOUT_SECONDS = 30.0
_START_ATTEMPTS = 3  # a free port can be taken between probing it and the server binding it

BANNER_END = "Ctrl-C stops."  # printed once the server socket is bound, right before serving
_DYNAMODB_LINE = re.compile(
    r"DynamoDB: (?:embedded \(|DynamoDB Local \()?(?P<endpoint>http://[^),;\s]+).*?, table (?P<table>\S+)"
)
_AWS_LINE = re.compile(r"Other AWS services: embedded \((?P<endpoint>http://[^)\s]+)\)")
_PORTAL_LINE = re.compile(r"Portal: (?P<url>\S+)")
_KEY_LINE = re.compile(r"API key \(test mode\): (?P<key>\S+)")

# Settings a developer's shell could hold that would point the server somewhere other than its own moto.
_INHERITED_SETTINGS = (
    "AWS_PROFILE",
    "PORTAL_URL",
    "PORTAL_TABLE_NAME",
    "PORTAL_HOST",
    "PORTAL_PORT",
    "TABLE_NAME",
    "API_KEYS_PARAMETER",
    "HANDOFF_SECRET_ID",
    "LINK_TTL_SECONDS",
    "SESSION_TTL_SECONDS",
    "EXPIRED_RETENTION_SECONDS",
    "PUBLIC_BASE_URL",
    "PORTAL_DYNAMODB",
    "PORTAL_DYNAMODB_DATA",
)


@dataclass(frozen=True)
class LocalService:
    """A running `python -m local_gateway run`, as its start-up banner describes it."""

    base_url: str
    api_key: str
    portal_url: str
    dynamodb_endpoint: str
    table_name: str
    aws_endpoint: (
        str  # the embedded moto: SSM, Secrets Manager, EventBridge, SQS (and DynamoDB, unless on DynamoDB Local)
    )

    def stripe_client(self) -> stripe.StripeClient:
        """Stripe's official SDK on this service. No retries: every answer here is final, and a retried request
        would hide what the first one got."""
        return stripe.StripeClient(self.api_key, base_addresses={"api": self.base_url}, max_network_retries=0)

    def dynamodb(self) -> Any:
        """A DynamoDB client on the server's embedded moto (which accepts any credentials)."""
        return boto3.client(
            "dynamodb",
            endpoint_url=self.dynamodb_endpoint,
            region_name="us-east-1",
            aws_access_key_id="e2e",
            aws_secret_access_key="e2e",
        )


def child_environment(**extra: str) -> dict[str, str]:
    """This environment without anything that would send the child to another AWS or table."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_ENDPOINT_URL") and name not in _INHERITED_SETTINGS and name not in FUNCTION_SETTINGS
    }
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "e2e",
            "AWS_SECRET_ACCESS_KEY": "e2e",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM first, so the runner closes its server and stops moto; kill only if it does not exit. Not Ctrl-C: a
    suite run as a background job (`make test &`) starts its children with SIGINT ignored, which the runner keeps."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def parse_banner(stdout: str, port: int) -> LocalService:
    dynamodb = _DYNAMODB_LINE.search(stdout)
    portal = _PORTAL_LINE.search(stdout)
    key = _KEY_LINE.search(stdout)
    aws = _AWS_LINE.search(stdout)
    if not (dynamodb and portal and key and aws):
        raise AssertionError(f"the runner's banner lacks the DynamoDB, AWS, Portal or API key line:\n{stdout}")
    return LocalService(
        base_url=f"http://127.0.0.1:{port}",
        api_key=key.group("key"),
        portal_url=portal.group("url"),
        dynamodb_endpoint=dynamodb.group("endpoint"),
        table_name=dynamodb.group("table"),
        aws_endpoint=aws.group("endpoint"),
    )


def start_runner(logs: Path, **settings: str) -> tuple[subprocess.Popen[str], int, str]:
    """Start the runner on a free port and wait, bounded, until it serves; retry if the port was taken."""
    failures = []
    for attempt in range(_START_ATTEMPTS):
        port = free_port()
        stdout_path, stderr_path = logs / f"run{attempt}.stdout", logs / f"run{attempt}.stderr"
        # Files, not pipes: the request logs on stderr would fill a pipe nobody reads and block the server.
        with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "local_gateway", "run", "--port", str(port)],
                cwd=ROOT,
                env=child_environment(PORTAL_API_KEY=E2E_API_KEY, **settings),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                text=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            banner = stdout_path.read_text()
            if BANNER_END in banner and port_answers(port):
                return process, port, banner
            time.sleep(0.1)  # bounded polling for the server start
        stop_process(process)
        failures.append(
            f"port {port}: exit code {process.returncode}\n--- stdout ---\n{stdout_path.read_text()}\n"
            f"--- stderr (end) ---\n{stderr_path.read_text()[-4000:]}"
        )
        if "already in use" not in failures[-1]:  # another process took the free port first
            break
    pytest.fail("`python -m local_gateway run` did not start:\n" + "\n".join(failures), pytrace=False)


@contextlib.contextmanager
def running_service(logs: Path, dynamodb_endpoint: str | None = None) -> Iterator[LocalService]:
    """`python -m local_gateway run` on its embedded moto, or on the DynamoDB at `dynamodb_endpoint` with a table of
    its own (a DynamoDB Local outlives the servers started on it, and a table another server wrote holds webhook
    endpoints sealed under that server's key)."""
    settings = {}
    if dynamodb_endpoint is not None:
        settings["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
        settings["PORTAL_TABLE_NAME"] = f"portal-sessions-e2e-{secrets.token_hex(4)}"
    process, port, banner = start_runner(logs, **settings)
    try:
        yield parse_banner(banner, port)
    finally:
        stop_process(process)


@contextlib.contextmanager
def own_service(request: pytest.FixtureRequest, logs: Path) -> Iterator[LocalService]:
    """A module's own server, on the engine its parametrized fixture's `request.param` names."""
    endpoint = request.getfixturevalue("dynamodb_local_endpoint") if request.param == "dynamodb-local" else None
    with running_service(logs, endpoint) as running:
        yield running


# Package scope: an idle server still reads its stream once a second, so it stops once the e2e or browser tests are
# done rather than at the end of the run.
@pytest.fixture(scope="package")
def moto_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    with running_service(tmp_path_factory.mktemp("local_gateway")) as running:
        yield running


@pytest.fixture(scope="module")
def service(moto_service: LocalService) -> LocalService:
    """The running service as `make run` starts it, on its embedded default (moto): one server for the package's
    tests. What they test is the HTTP contract, the SDKs and the runner, which the engine does not change; every test
    of the store and the handlers runs on both engines, and the modules about DynamoDB Local or many clients at once
    (test_runner_on_dynamodb_local, test_concurrency) start servers of their own on it. Its output stays in pytest's
    temporary directory (local_gateway*/run*.std*)."""
    return moto_service
