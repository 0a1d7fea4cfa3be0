"""The real `sam local invoke` and `sam local start-api` over the built template, on a container engine: run by
`make sam-local` (scripts/sam_local/run.sh), which builds the stand-in base image, starts podman's Docker API and
sets DOCKER_HOST, SAM_LOCAL_INVOKE_IMAGE and SAM_LOCAL_BRIDGE_GATEWAY. Not part of `make test` (pyproject's addopts
ignore this folder).

The AWS side is `python -m local_gateway aws`, as a user starts it: moto on the gateway address of podman's default
bridge network (where the functions' containers are: SAM publishes the emulator's port from there, and SAM 1.170's
`--docker-network host` changes nothing), DynamoDB Local (it listens on every address of this host), and the
`--env-vars` file it writes, which points every function there through AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB
(declared in the template's Globals, empty when deployed).

Every events/*.json goes through `sam local invoke FUNCTION -e EVENT`, in one store as a user runs them, its result
(stdout) checked as tests/e2e/test_sample_events.py checks the local runner's; then `sam local start-api` answers a
create through the official SDK and a visit of the session's URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe

from local_gateway.dynamodb_local import free_port, port_answers
from local_gateway.samples import SAMPLE_API_KEY
from local_gateway.template import load_template
from tests.e2e.test_sample_events import EVENT_FILES, EXPECTATIONS, INVOKE_PORTAL_URL
from tests.support.local_service import ROOT, child_environment, stop_process

SAM = str(ROOT / ".venv" / "bin" / "sam")
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
INVOKE_TIMEOUT_SECONDS = 300  # a cold container under qemu on a busy machine; seconds when idle
START_TIMEOUT_SECONDS = 300.0  # the local AWS (a JVM) and start-api, on a busy machine
READY_LINE = "Ctrl-C stops."


def engine_setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run through `make sam-local`, which builds the image and starts the engine")
    return value


def wait_for(process: subprocess.Popen[bytes], log: IO[str], ready: Callable[[], bool], what: str) -> None:
    """Until `ready()`, bounded; the process's output in the failure if it exits or the time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"{what} did not start:\n{log.read()[-4000:]}")
        time.sleep(0.5)  # bounded by the deadline


@pytest.fixture(scope="module")
def invoke_image() -> str:
    engine_setting("DOCKER_HOST")
    return engine_setting("SAM_LOCAL_INVOKE_IMAGE")


@pytest.fixture(scope="module")
def built_template() -> Path:
    """`sam build`'s template; where the architecture is emulated, a copy whose functions may take longer.

    Under qemu a cold start of the create function (Powertools, pydantic, cryptography) outlasts its 15 s on a busy
    machine, so SAM_LOCAL_EMULATED_TIMEOUT_SECONDS (set by run.sh there) replaces each function's Timeout; nothing
    else changes. The copy lies beside the original, where its code and layer paths resolve."""
    if not BUILT_TEMPLATE.exists():
        pytest.fail(f"no {BUILT_TEMPLATE.relative_to(ROOT)}: `sam build` first (make sam-local does)")
    timeout = os.environ.get("SAM_LOCAL_EMULATED_TIMEOUT_SECONDS")
    if not timeout:
        return BUILT_TEMPLATE
    template = load_template(BUILT_TEMPLATE)
    template["Globals"]["Function"]["Timeout"] = int(timeout)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function" and "Timeout" in resource["Properties"]:
            resource["Properties"]["Timeout"] = max(int(timeout), resource["Properties"]["Timeout"])
    emulated = BUILT_TEMPLATE.with_name("template-emulated.json")
    emulated.write_text(json.dumps(template, indent=1, default=str))
    return emulated


@pytest.fixture(scope="module")
def env_vars(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`python -m local_gateway aws` until the module ends; the --env-vars file it wrote."""
    folder = tmp_path_factory.mktemp("local_aws")
    path = folder / "env.json"
    command = ["-m", "local_gateway", "aws", "--address", engine_setting("SAM_LOCAL_BRIDGE_GATEWAY"), "--env-vars"]
    with (folder / "aws.log").open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, *command, str(path)],
            cwd=ROOT,
            env=child_environment(PORTAL_DYNAMODB_DATA=str(folder / "dynamodb")),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            started = lambda: READY_LINE in (folder / "aws.log").read_text()  # noqa: E731
            wait_for(process, log, started, "python -m local_gateway aws")
            yield path
        finally:
            stop_process(process)


def sam_local(command: str, *arguments: str, template: Path, env_vars: Path, image: str) -> list[str]:
    """The command line of `sam local COMMAND` on the built template, the stand-in image and the local AWS. It runs
    with the local AWS's credentials (child_environment), which SAM hands the functions: DynamoDB Local keeps a
    database per access key."""
    options = ["-t", str(template), "--env-vars", str(env_vars), "--invoke-image", image, "--skip-pull-image"]
    return [SAM, "local", command, *arguments, *options]


@dataclass(frozen=True)
class Invocation:
    returncode: int
    stdout: str
    stderr: str


def sam_local_invoke(function: str, event_file: str, template: Path, env_vars: Path, image: str) -> Invocation:
    completed = subprocess.run(
        sam_local("invoke", function, "-e", f"events/{event_file}", template=template, env_vars=env_vars, image=image),
        cwd=ROOT,
        env=child_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INVOKE_TIMEOUT_SECONDS,
    )
    return Invocation(completed.returncode, completed.stdout, completed.stderr)


def test_every_sample_event_has_an_expectation() -> None:
    assert sorted(EXPECTATIONS) == EVENT_FILES


@pytest.mark.parametrize("event_file", EVENT_FILES)
def test_sample_event_through_sam_local_invoke(
    built_template: Path, env_vars: Path, invoke_image: str, event_file: str
) -> None:
    # Given a sample event and the function it is for
    expectation = EXPECTATIONS[event_file]

    # When the real `sam local invoke` runs it in a container of the built function
    invocation = sam_local_invoke(expectation.function, event_file, built_template, env_vars, invoke_image)

    # Then it succeeds and its result (stdout; SAM's and the runtime client's lines are on stderr) is the expected one
    assert invocation.returncode == 0, invocation.stderr[-4000:]
    try:
        result = json.loads(invocation.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(f"stdout is not the result alone ({exc}):\n{invocation.stdout[:2000]}\n{invocation.stderr[-4000:]}")
    try:
        expectation.check(result)
    except AssertionError as exc:  # with the function's own log lines, which say why
        raise AssertionError(f"{exc}\n--- the function's log (stderr):\n{invocation.stderr[-6000:]}") from exc


@pytest.fixture(scope="module")
def start_api(
    built_template: Path, env_vars: Path, invoke_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`sam local start-api` on a free port until the module ends; its base URL once it listens.

    Its events name their domain `localhost`, without the port, so the session URLs are based on PUBLIC_BASE_URL, set
    in each function's variables of a copy of env.json (docs/development.md says so for start-api; deployed, a custom
    domain sets it)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("start_api")
    environments = json.loads(env_vars.read_text())
    for variables in environments.values():
        variables["PUBLIC_BASE_URL"] = base_url
    (folder / "env.json").write_text(json.dumps(environments))
    command = sam_local(
        "start-api", "--host", "127.0.0.1", "--port", str(port),
        template=built_template, env_vars=folder / "env.json", image=invoke_image,
    )  # fmt: skip
    with (folder / "sam.log").open("w+") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=child_environment(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for(process, log, lambda: port_answers(port), "sam local start-api")
            yield base_url
        finally:
            stop_process(process)  # its containers go with the engine's clean-up (run.sh)


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
