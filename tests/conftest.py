"""Shared fixtures: AWS on moto, with DynamoDB on moto or on Amazon's DynamoDB Local (every test that touches the
table runs on both), the table built from template.yaml, keys, and HTTP events."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

# Set before any handler or Powertools import reads them.
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "portal-sessions",
        "POWERTOOLS_METRICS_NAMESPACE": "PortalSessions",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
for _name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
    os.environ.pop(_name, None)

from aws_lambda_powertools.utilities import parameters  # noqa: E402

from local_gateway import dynamodb_local  # noqa: E402
from local_gateway.gateway import build_event  # noqa: E402
from local_gateway.template import http_routes, load_template, table_definition  # noqa: E402
from portal_sessions.auth import key_hash  # noqa: E402
from portal_sessions.cleanup_queue import sqs_client  # noqa: E402
from portal_sessions.settings import clear_settings_cache  # noqa: E402
from portal_sessions.store.configurations import ConfigurationStore  # noqa: E402
from portal_sessions.store.table import dynamodb_client  # noqa: E402
from tests.contract import schema_errors  # noqa: E402

TABLE_NAME = "portal-sessions-test"
API_KEYS_PARAMETER = "/portal-sessions/test/api-key-hashes"
HANDOFF_SECRET_ID = "portal-sessions/test/handoff-signing-key"  # live mode's keyring
TEST_HANDOFF_SECRET_ID = "portal-sessions/test/test-handoff-signing-key"
HANDOFF_SIGNING_KEY = "live-signing-key-0123456789abcdefghijklmnopqrstuvwxyz"
TEST_HANDOFF_SIGNING_KEY = "test-signing-key-0123456789abcdefghijklmnopqrstuvwxyz"
LIVE_HANDOFF_KEYS = {"live-1": HANDOFF_SIGNING_KEY}  # what a live portal holds
TEST_HANDOFF_KEYS = {"test-1": TEST_HANDOFF_SIGNING_KEY}  # what a test portal holds
PORTAL_URL = "https://portal.example.com/session"
PORTAL_LOGIN_URL = "https://portal.example.com/login"
TEST_KEY = "sk_test_IntegrationTestKey000000001"
LIVE_KEY = "sk_live_IntegrationTestKey000000001"
EVENT_BUS_NAME = "portal-sessions-test"
WEBHOOK_SECRETS_KEY_ID = "portal-sessions/test/webhook-secrets-key"
TEMPLATE = load_template()
# Valid settings for every function while test modules are collected (importing a handler runs its init, which
# checks its settings); removed once collection is done, so no child process inherits them. `service_env` sets them
# for each test.
FUNCTION_SETTINGS = {
    "TABLE_NAME": TABLE_NAME,
    "API_KEYS_PARAMETER": API_KEYS_PARAMETER,
    "HANDOFF_SECRET_ID": HANDOFF_SECRET_ID,
    "TEST_HANDOFF_SECRET_ID": TEST_HANDOFF_SECRET_ID,
    "PORTAL_URL": PORTAL_URL,
    "PORTAL_LOGIN_URL": PORTAL_LOGIN_URL,
    "EVENT_BUS_NAME": EVENT_BUS_NAME,
    "CLEANUP_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cleanup-units",  # service_env: moto's
}
for _name, _value in FUNCTION_SETTINGS.items():
    os.environ.setdefault(_name, _value)

# The engines DynamoDB tests run on. Without Java or the pinned jar only moto runs, said once in the report header;
# CI sets PORTAL_REQUIRE_ALL_ENGINES=1 so that a missing engine fails the run instead.
DYNAMODB_LOCAL_MISSING = dynamodb_local.unavailable_reason()
REQUIRE_ALL_ENGINES = os.environ.get("PORTAL_REQUIRE_ALL_ENGINES") == "1"
ENGINES = ["moto"] if DYNAMODB_LOCAL_MISSING else ["moto", "dynamodb-local"]


def pytest_configure(config: pytest.Config) -> None:
    if DYNAMODB_LOCAL_MISSING and REQUIRE_ALL_ENGINES:
        raise pytest.UsageError(f"PORTAL_REQUIRE_ALL_ENGINES=1 but DynamoDB Local cannot run: {DYNAMODB_LOCAL_MISSING}")


def pytest_report_header(config: pytest.Config) -> str:
    if DYNAMODB_LOCAL_MISSING:
        return f"DynamoDB engines: moto only. DynamoDB Local SKIPPED: {DYNAMODB_LOCAL_MISSING}"
    return "DynamoDB engines: moto and Amazon DynamoDB Local"


@pytest.fixture(scope="session")
def dynamodb_local_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One DynamoDB Local per test process (in memory), started the first time a test asks for it."""
    running = dynamodb_local.start(log_path=tmp_path_factory.mktemp("dynamodb_local") / "dynamodb_local.log")
    try:
        yield running.endpoint_url
    finally:
        running.stop()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The DynamoDB engine of this test run: "moto" or "dynamodb-local"."""
    return str(request.param)


def pytest_collection_finish(session: pytest.Session) -> None:
    for name, value in FUNCTION_SETTINGS.items():  # (an xdist worker inherits them from the controller)
        if os.environ.get(name) == value:
            del os.environ[name]


@pytest.fixture
def aws(engine: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS service on moto; DynamoDB and its streams on the engine under test."""
    config: dict[str, Any] = {}
    if engine == "dynamodb-local":
        endpoint = request.getfixturevalue("dynamodb_local_endpoint")
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", endpoint)
        config = {"core": {"passthrough": {"services": ["dynamodb", "dynamodbstreams"]}}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        dynamodb_client.cache_clear()
        sqs_client.cache_clear()
        parameters.clear_caches()
        yield
    dynamodb_client.cache_clear()
    sqs_client.cache_clear()
    parameters.clear_caches()


@pytest.fixture
def sessions_table(aws: None, engine: str) -> Iterator[str]:
    """The sessions table, created from template.yaml's own definition so test and template cannot drift."""
    definition = table_definition(TEMPLATE)
    client = boto3.client("dynamodb")
    client.create_table(TableName=TABLE_NAME, **definition["create_table"])
    client.update_time_to_live(TableName=TABLE_NAME, TimeToLiveSpecification=definition["time_to_live"])
    ConfigurationStore.forget_defaults()  # this process may have seen them in the previous test's table
    yield TABLE_NAME
    if engine == "dynamodb-local":  # one engine serves every test of this process: leave it empty
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):  # a test may have deleted it
            client.delete_table(TableName=TABLE_NAME)


@pytest.fixture
def service_env(sessions_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """What the template gives the functions, pointed at moto."""
    boto3.client("ssm").put_parameter(
        Name=API_KEYS_PARAMETER, Value=f"{key_hash(TEST_KEY)},{key_hash(LIVE_KEY)}", Type="String"
    )
    for secret_id, keys in ((HANDOFF_SECRET_ID, LIVE_HANDOFF_KEYS), (TEST_HANDOFF_SECRET_ID, TEST_HANDOFF_KEYS)):
        keyring = {"signing_kid": next(iter(keys)), **keys}
        boto3.client("secretsmanager").create_secret(Name=secret_id, SecretString=json.dumps(keyring))
    boto3.client("events").create_event_bus(Name=EVENT_BUS_NAME)
    boto3.client("secretsmanager").create_secret(Name=WEBHOOK_SECRETS_KEY_ID, SecretString="test-webhook-sealing-key")
    sqs = boto3.client("sqs")
    webhook_queues = {name: sqs.create_queue(QueueName=f"webhook-{name}")["QueueUrl"] for name in ("work", "failed")}
    cleanup_queue_url = boto3.client("sqs").create_queue(QueueName="cleanup-units")["QueueUrl"]
    env = {
        "EVENT_BUS_NAME": EVENT_BUS_NAME,
        "TABLE_NAME": sessions_table,
        "API_KEYS_PARAMETER": API_KEYS_PARAMETER,
        "HANDOFF_SECRET_ID": HANDOFF_SECRET_ID,
        "TEST_HANDOFF_SECRET_ID": TEST_HANDOFF_SECRET_ID,
        "PORTAL_URL": PORTAL_URL,
        "PORTAL_LOGIN_URL": PORTAL_LOGIN_URL,
        "LINK_TTL_SECONDS": "300",
        "SESSION_TTL_SECONDS": "3600",
        "PUBLIC_BASE_URL": "",
        "WEBHOOK_SECRETS_KEY_ID": WEBHOOK_SECRETS_KEY_ID,
        "WEBHOOK_DELIVERY_QUEUE_URL": webhook_queues["work"],
        "WEBHOOK_FAILED_QUEUE_URL": webhook_queues["failed"],
        "CLEANUP_QUEUE_URL": cleanup_queue_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    clear_settings_cache()
    yield env
    clear_settings_cache()


@pytest.fixture
def session_events(service_env: dict[str, str]) -> Any:
    """Hands the table's new stream records to the events function, as Lambda's event source mapping would; returns
    the function's response (its batch item failures)."""
    import session_events_handler

    from local_gateway.streams import StreamReader

    reader = StreamReader(service_env["TABLE_NAME"], from_start=True)

    def deliver() -> dict[str, Any]:
        response: dict[str, Any] = session_events_handler.lambda_handler({"Records": reader.read()}, FakeContext())
        return response

    return deliver


@pytest.fixture
def published_events(session_events: Any) -> Any:
    """The events the table's changes made, read back from the bus through a rule that forwards to an SQS queue."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = sqs.create_queue(QueueName="published-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=EVENT_BUS_NAME, EventPattern=json.dumps({"source": ["portal-sessions"]}))
    events.put_targets(Rule="all", EventBusName=EVENT_BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def read() -> list[dict[str, Any]]:
        assert session_events()["batchItemFailures"] == []
        received: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return read


class FakeContext:
    function_name = "test-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_event(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | str = b""
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway would send, built by the same code as the local gateway's."""
    raw = body.encode() if isinstance(body, str) else body
    for route in http_routes(TEMPLATE):
        found = route.pattern.match(path)
        if found and route.method == method:
            all_headers = {"host": "api.example.test", "x-forwarded-proto": "https", **(headers or {})}
            if raw:
                all_headers.setdefault("content-length", str(len(raw)))
            return build_event(route, found.groupdict(), method, path, all_headers, raw, "192.0.2.10")
    raise AssertionError(f"no route in template.yaml for {method} {path}")


def json_body(response: dict[str, Any]) -> Any:
    """The response's JSON, checked against Stripe's schema first: every object a test reads is a contract check."""
    body = json.loads(response["body"])
    problems = contract_problems(body)
    assert problems == [], f"response does not match Stripe's schema: {problems}"
    return body


_COMPONENTS = {"billing_portal.session", "billing_portal.configuration"}


def contract_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["not a JSON object"]
    if "error" in body:
        return schema_errors("error", body)
    if body.get("object") == "list":
        problems = [] if isinstance(body.get("has_more"), bool) and isinstance(body.get("url"), str) else ["list"]
        return problems + [problem for item in body.get("data", []) for problem in contract_problems(item)]
    if body.get("object") in _COMPONENTS:
        problems = schema_errors(body["object"], body)
        # Documented deviations: with only customer_account there is no customer id to show; and after creation
        # (retrieve, list, expire, events) a session's url is null, since only its token's hash is kept.
        if body.get("customer") is None and body.get("customer_account") is not None:
            problems = [problem for problem in problems if not problem.startswith("customer: None")]
        if body.get("url", "") is None:
            problems = [problem for problem in problems if not problem.startswith("url: None")]
        return problems
    return [f"unknown object {body.get('object')!r}"]
