"""DynamoDB failing under the functions: throttling, server errors and timeouts, injected on the real client.

Faults are injected on the `before-send` event of the very client the service uses (`store.table.dynamodb_client()`),
so botocore's own standard retry mode runs exactly as in production (`total_max_attempts: 3`: three attempts
in all): the fault answers every HTTP attempt it is set for, and anything else goes on to
moto. (botocore's `Stubber` answers at `before-call`, which skips the retry loop altogether, so it could not show the
bounded retry.) The retry back-off is recorded instead of slept.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.endpoint
import configurations_handler
import create_session_handler
import pytest
import redirect_handler
import sessions_handler
import urllib3
import webhook_endpoints_handler
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from moto.core.models import botocore_stubber

from portal_sessions.domain.webhooks import endpoint_secrets
from portal_sessions.store.table import dynamodb_client
from tests.support.aws import aws_client
from tests.support.contract import schema_errors
from tests.support.events import FakeContext, http_event
from tests.support.settings import PORTAL_URL, TEMPLATE, TEST_KEY
from tests.support.table import all_items, item_for_token, session_items

PATH = "/v1/billing_portal/sessions"
FORM = "application/x-www-form-urlencoded"
BODY = "customer=cus_faults&return_url=https://example.com/account"
ATTEMPTS = 3  # store.py: Config(retries={"mode": "standard", "total_max_attempts": 3}), the first call included
THROTTLING_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")
SERVER_ERRORS = (("InternalServerError", 500), ("ServiceUnavailable", 503))
FAULT_URL = "https://fault-injection.invalid/"
LEAKS = ("Traceback", "botocore", "ClientError", "ProvisionedThroughput", "Throttling", "InternalServerError")


# Fault injection


class _RawBody(io.BytesIO):
    """What AWSResponse reads its body from."""

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()


@dataclass
class Fault:
    operation: str  # e.g. "PutItem"
    key_prefix: str | None  # the pk the call is about ("token#", "idempotency#", "configuration#"), None: any
    error: str  # a DynamoDB error code, or "ReadTimeout" for a connection that never answers
    status: int = 400
    times: int | None = None  # how many attempts it answers; None: all of them
    injected: int = 0

    def matches(self, operation: str, key: str | None) -> bool:
        if self.operation != operation or (self.times is not None and self.injected >= self.times):
            return False
        return self.key_prefix is None or (key or "").startswith(self.key_prefix)


@dataclass
class DynamoDBFaults:
    """Answers chosen DynamoDB attempts with an error; records every attempt the client sends."""

    faults: list[Fault] = field(default_factory=list)
    attempts: list[tuple[str, str | None, bool]] = field(default_factory=list)  # operation, pk, faulted

    def add(self, *faults: Fault) -> None:
        self.faults.extend(replace(fault, injected=0) for fault in faults)  # parametrized faults are shared

    def clear(self) -> None:
        self.faults.clear()

    def count(self, operation: str, key_prefix: str) -> int:
        return sum(1 for op, key, _ in self.attempts if op == operation and (key or "").startswith(key_prefix))

    def __call__(self, request: Any, event_name: str, **_kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        key = _pk_of(request.body)
        fault = next((fault for fault in self.faults if fault.matches(operation, key)), None)
        self.attempts.append((operation, key, fault is not None))
        if fault is None:
            return None  # on to moto
        fault.injected += 1
        request.url = FAULT_URL  # so moto, the next before-send handler, leaves this attempt alone
        if fault.error == "ReadTimeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{fault.error}", "message": "injected"})
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
        return AWSResponse(request.url, fault.status, headers, _RawBody(body.encode()))


def _pk_of(body: Any) -> str | None:
    try:
        payload = json.loads(body if isinstance(body, (str, bytes)) else b"{}")
    except ValueError:
        return None
    puts = [item["Put"] for item in payload.get("TransactItems", []) if "Put" in item]  # a transaction: its Put
    key = payload.get("Item") or payload.get("Key") or (puts[0]["Item"] if puts else {})
    return key.get("pk", {}).get("S")


class _RecordedSleep:
    """botocore.endpoint's `time`, with the retry back-off recorded rather than slept."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> _RecordedSleep:
    recorded = _RecordedSleep()
    monkeypatch.setattr(botocore.endpoint, "time", recorded)
    return recorded


@pytest.fixture
def faults(service_env: dict[str, str], backoff: _RecordedSleep) -> Iterator[DynamoDBFaults]:
    injector = DynamoDBFaults()
    client = dynamodb_client()  # the cached client every store and the idempotency layer use
    client.meta.events.register_first("before-send.dynamodb", injector, unique_id="test-faults")
    yield injector
    client.meta.events.unregister("before-send.dynamodb", unique_id="test-faults")


# Requests


def create(body: str = BODY, **headers: str) -> dict[str, Any]:
    all_headers = {"content-type": FORM, "authorization": f"Bearer {TEST_KEY}", **headers}
    return create_session_handler.lambda_handler(
        http_event("POST", PATH, headers=all_headers, body=body), FakeContext()
    )


def expire(session_id: str, **headers: str) -> dict[str, Any]:
    path = f"/v1/billing_portal/sessions/{session_id}/expire"
    all_headers = {"content-type": FORM, "authorization": f"Bearer {TEST_KEY}", **headers}
    return sessions_handler.lambda_handler(http_event("POST", path, headers=all_headers, body=""), FakeContext())


def visit(token: str, method: str = "GET") -> dict[str, Any]:
    return redirect_handler.lambda_handler(http_event(method, f"/p/session/{token}"), FakeContext())


def stripe_error(response: dict[str, Any], status: int) -> dict[str, Any]:
    """The response is Stripe's error JSON with this status, and shows nothing of the failure's internals."""
    assert response["statusCode"] == status, response
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Request-Id"].startswith("req_")
    for leak in LEAKS:
        assert leak not in response["body"], response["body"]
    body = json.loads(response["body"])
    assert schema_errors("error", body) == [], body
    error: dict[str, Any] = body["error"]
    return error


def idempotency_items(table: str) -> list[dict[str, Any]]:
    return [item for item in all_items(table) if item["pk"]["S"].startswith("idempotency#")]


def expire_in_progress_record(table: str, record: dict[str, Any]) -> None:
    """As if the invocation that left the record in progress had timed out a while ago."""
    past_ms = int(time.time() * 1000) - 60_000
    aws_client("dynamodb").update_item(
        TableName=table,
        Key={"pk": record["pk"]},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(past_ms)}},
    )


def new_session_token() -> str:
    response = create()
    assert response["statusCode"] == 200, response["body"]
    url: str = json.loads(response["body"])["url"]
    return url.rsplit("/", 1)[1]


# Create: throttling


@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_a_throttled_session_write_is_a_429_rate_limit_after_a_bounded_retry(
    faults: DynamoDBFaults, backoff: _RecordedSleep, service_env: dict, code: str
) -> None:
    # Given DynamoDB throttles every write of a session
    faults.add(Fault("PutItem", "token#", code))

    # When
    response = create()

    # Then Stripe's rate-limit error, after the client's own retries and no more
    error = stripe_error(response, 429)
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert faults.count("PutItem", "token#") == ATTEMPTS
    assert len(backoff.delays) == ATTEMPTS - 1
    # And no session was written
    assert session_items(service_env["TABLE_NAME"]) == []


@pytest.mark.parametrize("code", THROTTLING_CODES)
def test_a_throttled_configuration_read_is_a_429_and_writes_no_session(
    faults: DynamoDBFaults, service_env: dict, code: str
) -> None:
    # Given DynamoDB throttles every read of the default configuration
    faults.add(Fault("GetItem", "configuration#", code))

    # When
    response = create()

    # Then
    error = stripe_error(response, 429)
    assert error["code"] == "rate_limit"
    assert faults.count("GetItem", "configuration#") == ATTEMPTS
    assert faults.count("PutItem", "token#") == 0
    assert session_items(service_env["TABLE_NAME"]) == []


def test_throttling_that_clears_within_the_retries_is_invisible_to_the_caller(
    faults: DynamoDBFaults, service_env: dict
) -> None:
    # Given DynamoDB throttles the first two attempts at writing the session, then recovers
    faults.add(Fault("PutItem", "token#", "ProvisionedThroughputExceededException", times=ATTEMPTS - 1))

    # When
    response = create()

    # Then the third attempt succeeds: one session, created once
    assert response["statusCode"] == 200, response["body"]
    session = json.loads(response["body"])
    assert schema_errors("billing_portal.session", session) == []
    assert faults.count("PutItem", "token#") == ATTEMPTS
    items = session_items(service_env["TABLE_NAME"])
    assert [item["session_id"]["S"] for item in items] == [session["id"]]


# Create: server errors and timeouts


@pytest.mark.parametrize(("code", "status"), SERVER_ERRORS)
@pytest.mark.parametrize("target", [("GetItem", "configuration#"), ("PutItem", "token#")])
def test_dynamodb_server_errors_are_a_503_api_error_and_write_no_session(
    faults: DynamoDBFaults, service_env: dict, code: str, status: int, target: tuple[str, str]
) -> None:
    # Given DynamoDB answers every attempt at this call with a 5xx
    operation, key_prefix = target
    faults.add(Fault(operation, key_prefix, code, status=status))

    # When
    response = create()

    # Then
    error = stripe_error(response, 503)
    assert error["type"] == "api_error"
    assert "code" not in error or error["code"] != "rate_limit"
    assert faults.count(operation, key_prefix) == ATTEMPTS
    assert session_items(service_env["TABLE_NAME"]) == []


def test_a_dynamodb_that_never_answers_is_a_503_after_the_retries(faults: DynamoDBFaults, service_env: dict) -> None:
    # Given every attempt at writing the session times out
    faults.add(Fault("PutItem", "token#", "ReadTimeout"))

    # When
    response = create()

    # Then
    error = stripe_error(response, 503)
    assert error["type"] == "api_error"
    assert faults.count("PutItem", "token#") == ATTEMPTS
    assert session_items(service_env["TABLE_NAME"]) == []


def test_a_hanging_dynamodb_is_answered_before_the_function_times_out(
    faults: DynamoDBFaults, backoff: _RecordedSleep, service_env: dict
) -> None:
    # Given every attempt at writing the session hangs until the client's read timeout
    faults.add(Fault("PutItem", "token#", "ReadTimeout"))

    # When
    response = create()

    # Then the Stripe 503 comes from the function itself...
    assert stripe_error(response, 503)["type"] == "api_error"
    # ...which it can only send if its retries (each waiting read_timeout, plus the back-off) end before Lambda stops
    # it at the function's timeout; otherwise API Gateway answers a bare 500/503 that is not Stripe's error shape
    properties = TEMPLATE["Resources"]["CreateSessionFunction"]["Properties"]
    function_timeout = properties.get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])
    read_timeout = dynamodb_client().meta.config.read_timeout
    waited = faults.count("PutItem", "token#") * read_timeout + sum(backoff.delays)
    assert waited < function_timeout, (
        f"{faults.count('PutItem', 'token#')} attempts x read_timeout {read_timeout}s + back-off "
        f"{sum(backoff.delays):.1f}s = {waited:.1f}s, beyond the {function_timeout}s function timeout"
    )


def test_a_request_dynamodb_refuses_outright_is_not_retried_and_is_not_reported_as_retryable(
    faults: DynamoDBFaults, service_env: dict
) -> None:
    # Given DynamoDB refuses the session write as invalid (a key past its size limit, say): no retry can fix it
    faults.add(Fault("PutItem", "token#", "ValidationException"))

    # When
    response = create()

    # Then one attempt only, and a 400 (a 503 would tell the SDK to retry what can never succeed)
    assert stripe_error(response, 400)["type"] == "invalid_request_error"
    assert faults.count("PutItem", "token#") == 1
    assert session_items(service_env["TABLE_NAME"]) == []


def test_the_service_works_again_once_dynamodb_recovers(faults: DynamoDBFaults, service_env: dict) -> None:
    # Given a create that failed while DynamoDB was down
    faults.add(Fault("PutItem", "token#", "InternalServerError", status=500))
    assert create()["statusCode"] == 503

    # When DynamoDB recovers
    faults.clear()
    response = create()

    # Then
    assert response["statusCode"] == 200, response["body"]
    assert len(session_items(service_env["TABLE_NAME"])) == 1


# Create with an Idempotency-Key (the session is stored in one transaction with the record's completion)


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault("TransactWriteItems", "token#", "ProvisionedThroughputExceededException"), 429),
        (Fault("TransactWriteItems", "token#", "InternalServerError", status=500), 503),
        (Fault("GetItem", "configuration#", "ThrottlingException"), 429),
        (Fault("TransactWriteItems", "token#", "ReadTimeout"), 503),
    ],
    ids=["session-write-throttled", "session-write-5xx", "configuration-read-throttled", "session-write-timeout"],
)
def test_a_failed_idempotent_create_leaves_no_record_and_its_retry_succeeds(
    faults: DynamoDBFaults, service_env: dict, fault: Fault, status: int
) -> None:
    # Given a create with an Idempotency-Key that fails inside the operation
    faults.add(fault)
    failed = create(**{"idempotency-key": "faulty-create-1"})
    stripe_error(failed, status)

    # Then Powertools removed its in-progress record: nothing is left behind for the key
    table = service_env["TABLE_NAME"]
    assert idempotency_items(table) == []
    assert session_items(table) == []

    # When the client retries with the same key after DynamoDB recovered
    faults.clear()
    retried = create(**{"idempotency-key": "faulty-create-1"})

    # Then it runs (not a replay of the failure, not a 409) and creates exactly one session
    assert retried["statusCode"] == 200, retried["body"]
    assert "Idempotent-Replayed" not in retried["headers"]
    session = json.loads(retried["body"])
    assert [item["session_id"]["S"] for item in session_items(table)] == [session["id"]]
    [record] = idempotency_items(table)
    assert record["status"]["S"] == "COMPLETED"

    # And a further retry is the replay of that one session
    replay = create(**{"idempotency-key": "faulty-create-1"})
    assert replay["headers"].get("Idempotent-Replayed") == "true"
    assert json.loads(replay["body"])["id"] == session["id"]
    assert len(session_items(table)) == 1


def test_a_throttled_idempotency_record_write_is_a_429_and_writes_nothing(
    faults: DynamoDBFaults, service_env: dict
) -> None:
    # Given DynamoDB throttles the write of the idempotency record itself
    faults.add(Fault("PutItem", "idempotency#", "ProvisionedThroughputExceededException"))

    # When
    response = create(**{"idempotency-key": "throttled-record"})

    # Then throttling is reported as throttling (docs/api.md, "Errors": 429 rate_limit after the retries)
    error = stripe_error(response, 429)
    assert error["code"] == "rate_limit"
    # And nothing ran
    assert faults.count("PutItem", "token#") == 0
    assert all_items(service_env["TABLE_NAME"]) == []


def test_a_failed_idempotency_record_write_is_a_503_and_runs_nothing(faults: DynamoDBFaults, service_env: dict) -> None:
    # Given DynamoDB fails every write of the idempotency record
    faults.add(Fault("PutItem", "idempotency#", "InternalServerError", status=500))

    # When
    response = create(**{"idempotency-key": "unrecorded"})

    # Then
    assert stripe_error(response, 503)["type"] == "api_error"
    assert faults.count("PutItem", "token#") == 0
    assert all_items(service_env["TABLE_NAME"]) == []


@contextmanager
def answer_lost(engine: str, operation: str, key_prefix: str) -> Iterator[list[int]]:
    """The next `operation` on an item under `key_prefix` reaches the engine and is applied, but its answer never
    arrives (a timeout after DynamoDB wrote): botocore retries it. Yields a list emptied once that happened."""
    lost = [1]
    http = urllib3.PoolManager()

    def lose_the_answer(request: Any, event_name: str, **_kwargs: Any) -> None:
        if lost and event_name.endswith("." + operation) and (_pk_of(request.body) or "").startswith(key_prefix):
            lost.pop()
            if engine == "moto":
                botocore_stubber(event_name=event_name, request=request)  # moto applies the write...
            else:
                http.request(request.method, request.url, body=request.body, headers=dict(request.headers))
            raise ReadTimeoutError(endpoint_url=request.url)  # ...and its answer never arrives

    client = dynamodb_client()
    client.meta.events.register_first("before-send.dynamodb", lose_the_answer, unique_id="lose-the-answer")
    try:
        yield lost
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id="lose-the-answer")


def test_a_session_put_whose_answer_was_lost_is_stored_once(
    faults: DynamoDBFaults, service_env: dict, engine: str
) -> None:
    # Given the default configuration was seen (a create is then one PutItem), and the answer to the next session
    # write is lost after DynamoDB applied it
    create()
    faults.attempts.clear()

    # When a session is created: botocore retries, and the retry finds the item already there
    with answer_lost(engine, "PutItem", "token#") as lost:
        response = create()

    # Then the retry recognised its own session: one item for it, under the token its URL holds
    assert response["statusCode"] == 200, response["body"]
    assert lost == [] and faults.count("PutItem", "token#") == 2
    session = json.loads(response["body"])
    table = service_env["TABLE_NAME"]
    assert [item["session_id"]["S"] for item in session_items(table)].count(session["id"]) == 1
    stored = item_for_token(table, session["url"].rsplit("/", 1)[1])
    assert stored is not None and stored["session_id"]["S"] == session["id"]


def test_a_configuration_put_whose_answer_was_lost_is_created_once(
    faults: DynamoDBFaults, service_env: dict, engine: str
) -> None:
    # Given the answer to a new configuration's write is lost after DynamoDB applied it
    body = "features[invoice_history][enabled]=true&metadata[order]=1"
    headers = {"content-type": FORM, "authorization": f"Bearer {TEST_KEY}"}
    event = http_event("POST", "/v1/billing_portal/configurations", headers=headers, body=body)

    # When it is created: botocore retries, and the retry finds the item already there
    with answer_lost(engine, "PutItem", "configuration#") as lost:
        response = configurations_handler.lambda_handler(event, FakeContext())

    # Then the retry recognised its own configuration: created, once
    assert lost == [] and faults.count("PutItem", "configuration#") == 2
    assert response["statusCode"] == 200, response["body"]
    created = json.loads(response["body"])
    stored = [item for item in all_items(service_env["TABLE_NAME"]) if item["pk"]["S"].endswith(created["id"])]
    assert len(stored) == 1 and json.loads(stored[0]["body"]["S"])["metadata"] == {"order": "1"}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"idempotency-key": "lost-answer"}, BODY),  # the session's put and the idempotency record's completion
        ({}, BODY + "&configuration=bpc_DefaultTestConfiguration"),  # the configuration's check and the put
    ],
    ids=["with-idempotency-key", "with-configuration"],
)
def test_a_session_transaction_whose_answer_was_lost_is_stored_once(
    faults: DynamoDBFaults, service_env: dict, headers: dict[str, str], body: str, engine: str
) -> None:
    # Given the default configuration exists, and the answer to the next session transaction is lost after DynamoDB
    # applied it (moto ignores the ClientRequestToken that makes AWS answer such a retry with success; DynamoDB Local
    # may honour it: either way one session)
    create()

    # When a session is created: botocore retries the transaction, which finds the session already there
    with answer_lost(engine, "TransactWriteItems", "") as lost:
        response = create(body, **headers)

    # Then the retry recognised its own session: one item for it, under the token its URL holds, and no other
    assert response["statusCode"] == 200, response["body"]
    assert lost == []
    session = json.loads(response["body"])
    table = service_env["TABLE_NAME"]
    assert [item["session_id"]["S"] for item in session_items(table)].count(session["id"]) == 1
    assert len(session_items(table)) == 2  # the first create's, and this one
    stored = item_for_token(table, session["url"].rsplit("/", 1)[1])
    assert stored is not None and stored["session_id"]["S"] == session["id"]
    if headers:  # and the key replays that same session
        replay = create(body, **headers)
        assert replay["headers"].get("Idempotent-Replayed") == "true"
        assert json.loads(replay["body"])["url"] == session["url"]


def test_an_idempotent_create_completes_its_record_in_the_sessions_own_transaction(
    faults: DynamoDBFaults, service_env: dict
) -> None:
    # Given the separate completion of an idempotency record would fail
    faults.add(Fault("UpdateItem", "idempotency#", "InternalServerError", status=500))

    # When
    response = create(**{"idempotency-key": "one-transaction"})

    # Then it was never needed: the record completed with the session, and a retry is its replay
    assert response["statusCode"] == 200, response["body"]
    assert faults.count("UpdateItem", "idempotency#") == 0
    [record] = idempotency_items(service_env["TABLE_NAME"])
    assert record["status"]["S"] == "COMPLETED"
    replay = create(**{"idempotency-key": "one-transaction"})
    assert replay["headers"].get("Idempotent-Replayed") == "true"
    assert json.loads(replay["body"])["id"] == json.loads(response["body"])["id"]


def test_an_expiry_whose_record_could_not_be_completed_still_answers_with_the_session(
    faults: DynamoDBFaults, service_env: dict
) -> None:
    # Given the session is expired but marking the idempotency record COMPLETED fails every attempt
    session_id = json.loads(create()["body"])["id"]
    faults.add(Fault("UpdateItem", "idempotency#", "InternalServerError", status=500))

    # When
    response = expire(session_id, **{"idempotency-key": "half-done"})

    # Then the caller gets the expired session (a 503 would invite a retry that acts again)
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["status"] == "expired"

    # And while the record is in progress, the same key is "in use" (409) rather than run again
    faults.clear()
    in_use = expire(session_id, **{"idempotency-key": "half-done"})
    assert stripe_error(in_use, 409)["code"] == "idempotency_key_in_use"


def test_when_removing_the_record_also_fails_it_expires_with_the_invocation_and_the_key_works_again(
    faults: DynamoDBFaults, service_env: dict
) -> None:
    # Given the session write fails and so does the removal of the idempotency record
    faults.add(
        Fault("TransactWriteItems", "token#", "InternalServerError", status=500),
        Fault("DeleteItem", "idempotency#", "InternalServerError", status=500),
    )
    before_ms = int(time.time() * 1000)
    response = create(**{"idempotency-key": "stuck-key"})
    assert stripe_error(response, 503)["type"] == "api_error"

    # Then the record left in progress is bounded by the invocation's remaining time (FakeContext: 10 s)
    table = service_env["TABLE_NAME"]
    [record] = idempotency_items(table)
    assert record["status"]["S"] == "INPROGRESS"
    expiry_ms = int(record["in_progress_expiration"]["N"])
    assert before_ms < expiry_ms <= int(time.time() * 1000) + FakeContext().get_remaining_time_in_millis()
    assert session_items(table) == []

    # And meanwhile the same key is "in use" (409), which the SDK retries
    faults.clear()
    in_use = create(**{"idempotency-key": "stuck-key"})
    assert stripe_error(in_use, 409)["code"] == "idempotency_key_in_use"

    # When that time has passed (moved back in the table rather than waited for)
    expire_in_progress_record(table, record)
    retried = create(**{"idempotency-key": "stuck-key"})

    # Then the key works again and creates one session
    assert retried["statusCode"] == 200, retried["body"]
    assert len(session_items(table)) == 1


# Redirect


@pytest.mark.parametrize(
    "fault",
    [
        Fault("UpdateItem", "token#", "ProvisionedThroughputExceededException"),
        Fault("UpdateItem", "token#", "ThrottlingException"),
        Fault("UpdateItem", "token#", "InternalServerError", status=500),
        Fault("UpdateItem", "token#", "ServiceUnavailable", status=503),
        Fault("UpdateItem", "token#", "ReadTimeout"),
    ],
    ids=lambda fault: fault.error,
)
def test_a_visit_while_dynamodb_fails_gets_the_retry_page_and_records_no_visit(
    faults: DynamoDBFaults, service_env: dict, fault: Fault
) -> None:
    # Given a live session, and then DynamoDB failing the visit's update
    token = new_session_token()
    faults.add(fault)

    # When the customer opens the link
    response = visit(token)

    # Then the HTML "try again" page with Retry-After, after a bounded retry
    assert response["statusCode"] == 503, response
    headers = response["headers"]
    assert headers["Content-Type"].startswith("text/html")
    assert int(headers["Retry-After"]) > 0
    assert "Location" not in headers
    assert "Please try again" in response["body"]
    for leak in (*LEAKS, token):
        assert leak not in response["body"]
    assert faults.count("UpdateItem", "token#") == ATTEMPTS
    # And no visit was recorded: the link is still unvisited
    item = item_for_token(service_env["TABLE_NAME"], token)
    assert item is not None and "visited_at" not in item

    # When DynamoDB recovers, the same link works
    faults.clear()
    again = visit(token)
    assert again["statusCode"] == 302
    assert again["headers"]["Location"].startswith(PORTAL_URL + "?handoff=")
    assert "visited_at" in (item_for_token(service_env["TABLE_NAME"], token) or {})


def test_a_visit_while_the_signing_key_is_unreadable_gets_the_retry_page_and_records_no_visit(
    faults: DynamoDBFaults, service_env: dict
) -> None:
    # Given a live session, and the hand-off signing key gone from Secrets Manager (never read before)
    token = new_session_token()
    secrets = aws_client("secretsmanager")
    secrets.delete_secret(SecretId=service_env["HANDOFF_SECRET_ID"], ForceDeleteWithoutRecovery=True)

    # When
    response = visit(token)

    # Then
    assert response["statusCode"] == 503
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert int(response["headers"]["Retry-After"]) > 0
    assert "Traceback" not in response["body"]
    assert faults.count("UpdateItem", "token#") == 0
    item = item_for_token(service_env["TABLE_NAME"], token)
    assert item is not None and "visited_at" not in item

    # When the key is back
    keyring = {"signing_kid": "new-1", "new-1": "a-new-signing-key-0123456789abcdef"}
    secrets.create_secret(Name=service_env["HANDOFF_SECRET_ID"], SecretString=json.dumps(keyring))
    again = visit(token)

    # Then the link works, with a hand-off
    assert again["statusCode"] == 302
    assert parse_qs(urlsplit(again["headers"]["Location"]).query)["handoff"]


@pytest.mark.parametrize(
    "fault",
    [
        Fault("GetItem", "token#", "ThrottlingException"),
        Fault("GetItem", "token#", "InternalServerError", status=500),
    ],
    ids=lambda fault: fault.error,
)
def test_a_link_check_while_dynamodb_fails_is_a_503(faults: DynamoDBFaults, service_env: dict, fault: Fault) -> None:
    # Given a live session, and DynamoDB failing reads
    token = new_session_token()
    faults.add(fault)

    # When a link preview checks it
    response = visit(token, method="HEAD")

    # Then
    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) > 0
    assert faults.count("GetItem", "token#") == ATTEMPTS
    item = item_for_token(service_env["TABLE_NAME"], token)
    assert item is not None and "visited_at" not in item


@pytest.mark.parametrize("error", ["ThrottlingException", "ReadTimeout"])
def test_an_expired_link_whose_configuration_cannot_be_read_still_gets_its_page(
    faults: DynamoDBFaults, service_env: dict, error: str
) -> None:
    # Given an expired session, and DynamoDB failing every read of a configuration
    response = create(BODY + "&locale=it")
    assert response["statusCode"] == 200, response["body"]
    session = json.loads(response["body"])
    assert expire(session["id"])["statusCode"] == 200
    reads_before = faults.count("GetItem", "configuration#")
    faults.add(Fault("GetItem", "configuration#", error))

    # When the customer opens the link
    page = visit(session["url"].rsplit("/", 1)[1])

    # Then the expired page, in the session's language, without the business it could not read (not a 503)
    assert page["statusCode"] == 410
    assert page["headers"]["Content-Language"] == "it"
    assert "Questo link è scaduto" in page["body"] and 'class="business"' not in page["body"]
    assert faults.count("GetItem", "configuration#") - reads_before == ATTEMPTS  # one read, with botocore's retries


# Creates of configurations and webhook endpoints: exactly once under a lost answer or a failed completion

OBJECT_CREATES = {
    "configuration": (configurations_handler, "/v1/billing_portal/configurations", "configuration#",
                      "features[invoice_history][enabled]=true&metadata[order]=1"),
    "webhook_endpoint": (webhook_endpoints_handler, "/v1/webhook_endpoints", "webhook_endpoint#",
                         "url=https://hooks.example.com/stripe&enabled_events[0]=billing_portal.session.created"),
}  # fmt: skip


def create_object(kind: str, **headers: str) -> dict[str, Any]:
    handler, path, _, body = OBJECT_CREATES[kind]
    all_headers = {"content-type": FORM, "authorization": f"Bearer {TEST_KEY}", **headers}
    return handler.lambda_handler(http_event("POST", path, headers=all_headers, body=body), FakeContext())  # type: ignore[no-any-return]


def stored_objects(table: str, kind: str) -> list[dict[str, Any]]:
    prefix = OBJECT_CREATES[kind][2]
    return [item for item in all_items(table) if item["pk"]["S"].startswith(prefix)]


def test_a_webhook_endpoint_put_whose_answer_was_lost_is_created_once_with_the_secret_shown(
    faults: DynamoDBFaults, service_env: dict, engine: str
) -> None:
    # Given the answer to a new endpoint's write is lost after DynamoDB applied it
    # When it is created: botocore retries, and the retry finds the item already there
    with answer_lost(engine, "PutItem", "webhook_endpoint#") as lost:
        response = create_object("webhook_endpoint")

    # Then the retry recognised its own endpoint: created once, and the secret shown is the one it signs with
    assert lost == [] and faults.count("PutItem", "webhook_endpoint#") == 2
    assert response["statusCode"] == 200, response["body"]
    created = json.loads(response["body"])
    [stored] = stored_objects(service_env["TABLE_NAME"], "webhook_endpoint")
    assert stored["pk"]["S"].endswith(created["id"])
    secrets = endpoint_secrets(service_env["WEBHOOK_SECRETS_KEY_ID"])
    assert secrets.open(created["id"], stored["sealed_secret"]["S"]) == created["secret"]


@pytest.mark.parametrize("kind", list(OBJECT_CREATES))
def test_an_idempotent_object_create_whose_answer_was_lost_is_created_once(
    faults: DynamoDBFaults, service_env: dict, engine: str, kind: str
) -> None:
    # Given the answer to the create's write is lost after DynamoDB applied it
    # When it is created with an Idempotency-Key: botocore retries the write, which finds its own object
    with answer_lost(engine, "TransactWriteItems", "") as lost:
        response = create_object(kind, **{"idempotency-key": f"lost-{kind}"})

    # Then one object, its record completed in the same write, and the client's retry replays it
    assert lost == [], "the create did not write its object and its record together"
    assert response["statusCode"] == 200, response["body"]
    created = json.loads(response["body"])
    table = service_env["TABLE_NAME"]
    assert [item["pk"]["S"].rsplit("#", 1)[1] for item in stored_objects(table, kind)] == [created["id"]]
    [record] = idempotency_items(table)
    assert record["status"]["S"] == "COMPLETED"
    replay = create_object(kind, **{"idempotency-key": f"lost-{kind}"})
    assert replay["headers"].get("Idempotent-Replayed") == "true"
    assert json.loads(replay["body"]) == created
    assert len(stored_objects(table, kind)) == 1


@pytest.mark.parametrize("kind", list(OBJECT_CREATES))
def test_an_idempotent_object_create_completes_its_record_in_the_objects_own_write(
    faults: DynamoDBFaults, service_env: dict, kind: str
) -> None:
    # Given a separate completion of the idempotency record would fail (so the claim would lapse, and a retry run
    # the create again once its in-progress window ended)
    faults.add(Fault("UpdateItem", "idempotency#", "InternalServerError", status=500))

    # When
    response = create_object(kind, **{"idempotency-key": f"one-write-{kind}"})

    # Then it was never needed: the record completed with the object, and a retry, however late, is its replay
    assert response["statusCode"] == 200, response["body"]
    assert faults.count("UpdateItem", "idempotency#") == 0
    table = service_env["TABLE_NAME"]
    [record] = idempotency_items(table)
    assert record["status"]["S"] == "COMPLETED"
    expire_in_progress_record(table, record)
    replay = create_object(kind, **{"idempotency-key": f"one-write-{kind}"})
    assert replay["headers"].get("Idempotent-Replayed") == "true"
    assert json.loads(replay["body"])["id"] == json.loads(response["body"])["id"]
    assert len(stored_objects(table, kind)) == 1
