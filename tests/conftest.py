"""Shared fixtures: AWS on moto, with DynamoDB on moto or on Amazon's DynamoDB Local (every test that touches the
table runs on both), the table built from template.yaml, the functions' settings, secrets, queues and event bus; and
the pytest hooks. What tests build with (events, names and keys, factories, Stripe's schemas) is in tests/support."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

# Set before any handler or Powertools import reads them.
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "portal-sessions",
        "POWERTOOLS_METRICS_NAMESPACE": "PortalSessions",
    }
)
for _name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
    os.environ.pop(_name, None)

from local_gateway import dynamodb_local  # noqa: E402
from local_gateway.aws_limits import enforce_aws_limits  # noqa: E402
from local_gateway.template import table_definition  # noqa: E402
from portal_sessions.domain.auth import key_hash  # noqa: E402
from portal_sessions.outbound.cleanup_queue import clear_client_cache as clear_sqs_client  # noqa: E402
from portal_sessions.runtime.parameter_providers import clear_provider_cache  # noqa: E402
from portal_sessions.runtime.settings import clear_settings_cache  # noqa: E402
from portal_sessions.store.configurations import ConfigurationStore  # noqa: E402
from portal_sessions.store.table import clear_client_cache as clear_dynamodb_client  # noqa: E402
from tests.support.aws import aws_client  # noqa: E402
from tests.support.engines import DYNAMODB_LOCAL_MISSING, ENGINES, REQUIRE_ALL_ENGINES, required  # noqa: E402
from tests.support.events import FakeContext  # noqa: E402
from tests.support.settings import (  # noqa: E402
    API_KEYS_PARAMETER,
    EVENT_BUS_NAME,
    FUNCTION_SETTINGS,
    HANDOFF_SECRET_ID,
    LIVE_HANDOFF_KEYS,
    LIVE_KEY,
    PORTAL_LOGIN_URL,
    PORTAL_URL,
    TABLE_NAME,
    TEMPLATE,
    TEST_HANDOFF_KEYS,
    TEST_HANDOFF_SECRET_ID,
    TEST_KEY,
    WEBHOOK_SECRETS_KEY_ID,
    fuzz_seed,
)

enforce_aws_limits()  # every client the tests and the functions make refuses what AWS refuses, as `make run` does

# Valid settings for every function while test modules are collected (importing a handler runs its init, which
# checks its settings); removed once collection is done (pytest_collection_finish), so no child process inherits
# them. `service_env` sets them for each test.
for _name, _value in FUNCTION_SETTINGS.items():
    os.environ.setdefault(_name, _value)


def pytest_configure(config: pytest.Config) -> None:
    if DYNAMODB_LOCAL_MISSING and REQUIRE_ALL_ENGINES:
        raise pytest.UsageError(f"PORTAL_REQUIRE_ALL_ENGINES=1 but DynamoDB Local cannot run: {DYNAMODB_LOCAL_MISSING}")
    fuzz_seed()  # drawn here, in the environment the workers inherit


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under PORTAL_REQUIRE_ALL_ENGINES=1 (CI) no test skips: a tool that is missing fails the run."""
    report: pytest.TestReport = yield
    return required(report)


def pytest_report_header(config: pytest.Config) -> list[str]:
    seed = f"Fuzz seed: {fuzz_seed()} (PORTAL_FUZZ_SEED={fuzz_seed()} replays this run's generated requests)"
    if DYNAMODB_LOCAL_MISSING:
        return [f"DynamoDB engines: moto only. DynamoDB Local SKIPPED: {DYNAMODB_LOCAL_MISSING}", seed]
    return ["DynamoDB engines: moto and Amazon DynamoDB Local", seed]


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


# The slowest directories first: with `--dist loadfile` the last files run on one worker while the others wait, so
# they had better be the quick ones.
_DIRECTORY_ORDER = ("e2e", "browser", "integration", "unit")


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by their fixtures' parameters
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        parts = item.path.relative_to(item.config.rootpath).parts
        return _DIRECTORY_ORDER.index(parts[1]) if len(parts) > 2 and parts[1] in _DIRECTORY_ORDER else 0

    items.sort(key=rank)  # stable: each directory keeps pytest's order


def pytest_collection_finish(session: pytest.Session) -> None:
    for name, value in FUNCTION_SETTINGS.items():  # (an xdist worker inherits them from the controller)
        if os.environ.get(name) == value:
            del os.environ[name]


@pytest.fixture
def aws(engine: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every AWS service on moto; DynamoDB and its streams on the engine under test."""
    # boto3's default session is kept from test to test (moto would make a new one each time, whose loader parses
    # every service's JSON model again: most of an integration test's time). The functions' clients are made per
    # test; the fixtures' own are kept (tests/support/aws.py).
    config: dict[str, Any] = {"core": {"reset_boto3_session": False}}
    if engine == "dynamodb-local":
        endpoint = request.getfixturevalue("dynamodb_local_endpoint")
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", endpoint)
        config["core"]["passthrough"] = {"services": ["dynamodb", "dynamodbstreams"]}
    with mock_aws(config=config):  # type: ignore[arg-type]
        clear_dynamodb_client()
        clear_sqs_client()
        clear_provider_cache()
        yield
    clear_dynamodb_client()
    clear_sqs_client()
    clear_provider_cache()


@pytest.fixture
def sessions_table(aws: None, engine: str) -> Iterator[str]:
    """The sessions table, created from template.yaml's own definition so test and template cannot drift."""
    definition = table_definition(TEMPLATE)
    client = aws_client("dynamodb")
    client.create_table(TableName=TABLE_NAME, **definition["create_table"])
    client.update_time_to_live(TableName=TABLE_NAME, TimeToLiveSpecification=definition["time_to_live"])
    ConfigurationStore.forget_defaults()  # this process may have seen them in the previous test's table
    yield TABLE_NAME
    if engine == "dynamodb-local":  # one engine serves every test of this process: leave it empty
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):  # a test may have deleted it
            client.delete_table(TableName=TABLE_NAME)


WEBHOOK_QUEUES = ("work", "failed", "test-work", "test-failed", "session-events-failed")
CLEANUP_QUEUE = "cleanup-units"


def queue_url(name: str) -> str:
    """The URL moto gives a queue of this name (the `queues` fixture checks it)."""
    return f"https://sqs.us-east-1.amazonaws.com/{DEFAULT_ACCOUNT_ID}/{name}"


@pytest.fixture
def service_env(sessions_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """What the template gives the functions, pointed at moto. The queues are named but made only for the tests that
    ask for them (`queues`), most tests sending nothing: a function that sends to one not made fails the test."""
    aws_client("ssm").put_parameter(
        Name=API_KEYS_PARAMETER, Value=f"{key_hash(TEST_KEY)},{key_hash(LIVE_KEY)}", Type="String"
    )
    for secret_id, keys in ((HANDOFF_SECRET_ID, LIVE_HANDOFF_KEYS), (TEST_HANDOFF_SECRET_ID, TEST_HANDOFF_KEYS)):
        keyring = {"signing_kid": next(iter(keys)), **keys}
        aws_client("secretsmanager").create_secret(Name=secret_id, SecretString=json.dumps(keyring))
    aws_client("events").create_event_bus(Name=EVENT_BUS_NAME)
    aws_client("secretsmanager").create_secret(Name=WEBHOOK_SECRETS_KEY_ID, SecretString="test-webhook-sealing-key")
    webhook_queues = {name: queue_url(f"webhook-{name}") for name in WEBHOOK_QUEUES}
    cleanup_queue_url = queue_url(CLEANUP_QUEUE)
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
        "TEST_WEBHOOK_DELIVERY_QUEUE_URL": webhook_queues["test-work"],
        "TEST_WEBHOOK_FAILED_QUEUE_URL": webhook_queues["test-failed"],
        "SESSION_EVENTS_FAILED_QUEUE_URL": webhook_queues["session-events-failed"],
        "CLEANUP_QUEUE_URL": cleanup_queue_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    clear_settings_cache()
    yield env
    clear_settings_cache()


@pytest.fixture
def queues(service_env: dict[str, str]) -> None:
    """The functions' SQS queues (webhook deliveries and their failures, the session events' failures, cleanup)."""
    sqs = aws_client("sqs")
    for name in (*(f"webhook-{name}" for name in WEBHOOK_QUEUES), CLEANUP_QUEUE):
        assert sqs.create_queue(QueueName=name)["QueueUrl"] == queue_url(name)


@pytest.fixture
def session_events(service_env: dict[str, str], queues: None) -> Any:
    """Hands the table's new stream records to the events function, as Lambda's event source mapping would; returns
    the function's response (its batch item failures)."""
    import session_events_handler

    from local_gateway.streams import StreamReader

    reader = StreamReader(service_env["TABLE_NAME"], from_start=True)

    def deliver() -> dict[str, Any]:
        response: dict[str, Any] = session_events_handler.lambda_handler({"Records": reader.read()}, FakeContext())
        return response

    return deliver


def dispatch_queued_events(env: dict[str, str]) -> None:
    """Hands the events waiting on both modes' webhook queues to the delivery function, as its mappings would, until
    none is left: each is fanned out and published. The deliveries they queue are put back, for the test to take."""
    import webhook_deliveries_handler

    from portal_sessions.outbound.webhook_delivery import EventMessage, message_from_json

    sqs = aws_client("sqs")
    for queue_url in (env["WEBHOOK_DELIVERY_QUEUE_URL"], env["TEST_WEBHOOK_DELIVERY_QUEUE_URL"]):
        deliveries: list[str] = []
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            events = [message for message in messages if isinstance(message_from_json(message["Body"]), EventMessage)]
            deliveries += [message["Body"] for message in messages if message not in events]
            if events:
                records = [{"messageId": message["MessageId"], "body": message["Body"]} for message in events]
                response = webhook_deliveries_handler.lambda_handler({"Records": records}, FakeContext())
                assert response["batchItemFailures"] == []
        for body in deliveries:
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)


@pytest.fixture
def published_events(session_events: Any, service_env: dict[str, str]) -> Any:
    """The events the table's changes made, read back from the bus through a rule that forwards to an SQS queue."""
    sqs, events = aws_client("sqs"), aws_client("events")
    queue_url = sqs.create_queue(QueueName="published-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=EVENT_BUS_NAME, EventPattern=json.dumps({"source": ["portal-sessions"]}))
    events.put_targets(Rule="all", EventBusName=EVENT_BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def read() -> list[dict[str, Any]]:
        assert session_events()["batchItemFailures"] == []
        dispatch_queued_events(service_env)
        received: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return read
