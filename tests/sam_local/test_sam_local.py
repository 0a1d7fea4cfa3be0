"""The real `sam local invoke` and `sam local start-api` over the built template, on a container engine: run by
`make sam-local` (scripts/sam_local/run.sh), which builds the stand-in base image, starts podman's Docker API and
sets DOCKER_HOST and SAM_LOCAL_INVOKE_IMAGE. Not part of `make test` (pyproject's addopts ignore this folder).

Every events/*.json goes through `sam local invoke FUNCTION -e EVENT`, its result (stdout) checked as
tests/e2e/test_sample_events.py checks the local runner's; then `sam local start-api` answers a create through the
official SDK and a visit of the session's URL. The functions reach the local AWS (DynamoDB Local for the table, the
embedded moto for SSM, Secrets Manager, SQS and EventBridge) over the host's network (`--docker-network host`), pointed
there by `--env-vars`: the template declares AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB, empty when deployed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe

from local_gateway.__main__ import prepare
from local_gateway.backend import LocalBackend, ensure_table
from local_gateway.dynamodb_local import free_port, port_answers
from local_gateway.samples import SAMPLE_API_KEY, seed_sample_session
from local_gateway.template import functions, parameter_defaults, resolve
from tests.e2e.test_sample_events import EVENT_FILES, EXPECTATIONS, INVOKE_PORTAL_URL
from tests.support.local_service import ROOT

SAM = str(ROOT / ".venv" / "bin" / "sam")
INVOKE_TIMEOUT_SECONDS = 300  # a cold container under qemu on a busy machine; seconds when idle
START_API_TIMEOUT_SECONDS = 300.0
NETWORK = ["--docker-network", "host"]  # the containers share the host's loopback, where the local AWS listens


@dataclass(frozen=True)
class LocalAws:
    backend: LocalBackend
    template: dict[str, Any]
    refs: dict[str, str]
    env_dir: Path

    def env_vars_file(self, table_name: str) -> Path:
        """An --env-vars file: every function's environment resolved against the local resources, on `table_name`."""
        endpoints = {
            "AWS_ENDPOINT_URL": self.backend.endpoint_url or "",
            "AWS_ENDPOINT_URL_DYNAMODB": os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
        }
        refs = {**parameter_defaults(self.template), **self.refs, "SessionsTable": table_name}
        variables = {
            name: {**{key: resolve(raw, refs) for key, raw in spec.environment.items()}, **endpoints}
            for name, spec in functions(self.template).items()
        }
        path = self.env_dir / f"{table_name}.json"
        path.write_text(json.dumps(variables, indent=2))
        return path

    def fresh_table(self, name: str) -> str:
        """A table of its own for one invoke, seeded as the sample events expect (they share an idempotency key)."""
        ensure_table(self.template, name)
        seed_sample_session(name)
        return name


@pytest.fixture(scope="module")
def invoke_image() -> str:
    image = os.environ.get("SAM_LOCAL_INVOKE_IMAGE")
    if not image or not os.environ.get("DOCKER_HOST"):
        pytest.fail("run through `make sam-local`: it builds the image and starts the container engine")
    return image


@pytest.fixture(scope="module")
def local_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAws]:
    data = tmp_path_factory.mktemp("dynamodb_local")
    os.environ["PORTAL_DYNAMODB_DATA"] = str(data)
    backend, template, refs, _keyrings = prepare([SAMPLE_API_KEY], {}, dynamodb="local")
    try:
        yield LocalAws(backend, template, refs, tmp_path_factory.mktemp("env_vars"))
    finally:
        backend.stop()


def sam_local(command: str, *arguments: str, env_vars: Path, image: str) -> list[str]:
    """The command line of `sam local COMMAND` on the stand-in image, the local AWS and the host's network."""
    options = ["--env-vars", str(env_vars), "--invoke-image", image, "--skip-pull-image", *NETWORK]
    return [SAM, "local", command, *arguments, *options]


@dataclass(frozen=True)
class Invocation:
    returncode: int
    stdout: str
    stderr: str


def sam_local_invoke(function: str, event_file: str, env_vars: Path, image: str) -> Invocation:
    completed = subprocess.run(
        sam_local("invoke", function, "-e", f"events/{event_file}", env_vars=env_vars, image=image),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INVOKE_TIMEOUT_SECONDS,
    )
    return Invocation(completed.returncode, completed.stdout, completed.stderr)


def test_every_sample_event_has_an_expectation() -> None:
    assert sorted(EXPECTATIONS) == EVENT_FILES


@pytest.mark.parametrize("event_file", EVENT_FILES)
def test_sample_event_through_sam_local_invoke(local_aws: LocalAws, invoke_image: str, event_file: str) -> None:
    # Given a sample event, the function it is for, and a store of its own
    expectation = EXPECTATIONS[event_file]
    table = local_aws.fresh_table("sam-local-" + event_file.removesuffix(".json").replace("_", "-"))

    # When the real `sam local invoke` runs it in a container of the built function
    invocation = sam_local_invoke(expectation.function, event_file, local_aws.env_vars_file(table), invoke_image)

    # Then it succeeds and its result (stdout; the runtime client's and SAM's lines are on stderr) is the expected one
    assert invocation.returncode == 0, invocation.stderr[-4000:]
    try:
        result = json.loads(invocation.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(f"stdout is not the result alone ({exc}):\n{invocation.stdout[:2000]}\n{invocation.stderr[-4000:]}")
    expectation.check(result)


@pytest.fixture(scope="module")
def start_api(local_aws: LocalAws, invoke_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sam local start-api` on a free port, its base URL once it listens; stopped as Ctrl-C stops it."""
    env_vars = local_aws.env_vars_file(local_aws.fresh_table("sam-local-start-api"))
    port = free_port()
    log = (tmp_path_factory.mktemp("start_api") / "sam.log").open("w+")
    process = subprocess.Popen(
        sam_local("start-api", "--host", "127.0.0.1", "--port", str(port), env_vars=env_vars, image=invoke_image),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + START_API_TIMEOUT_SECONDS
        while not port_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"sam local start-api did not listen on {port}:\n{log.read()[-4000:]}")
            time.sleep(0.5)  # bounded by the deadline
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


def test_start_api_creates_a_session_through_the_sdk_and_its_url_hands_over_to_the_portal(start_api: str) -> None:
    # Given the local API Gateway of `sam local start-api` and the official SDK pointed at it
    client = stripe.StripeClient(
        SAMPLE_API_KEY,
        base_addresses={"api": start_api},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=INVOKE_TIMEOUT_SECONDS),  # a cold container per request
    )

    # When a session is created, and its URL visited
    session = client.v1.billing_portal.sessions.create(
        params={"customer": "cus_SamLocal", "return_url": "https://example.com/account"}
    )
    with requests.Session() as browser:
        browser.trust_env = False  # straight to 127.0.0.1
        visit = browser.get(session.url, allow_redirects=False, timeout=INVOKE_TIMEOUT_SECONDS)

    # Then the session is the SDK's object, its URL on this API, and the visit a 302 to the portal with a hand-off
    assert session.object == "billing_portal.session" and session.id.startswith("bps_")
    assert session.customer == "cus_SamLocal" and session.livemode is False
    assert session.url.startswith(start_api + "/p/session/"), session.url
    assert visit.status_code == 302, visit.text[:2000]
    location = urlsplit(visit.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == INVOKE_PORTAL_URL
    assert parse_qs(location.query)["handoff"][0].count(".") == 2  # a signed JWT, for the portal to verify
