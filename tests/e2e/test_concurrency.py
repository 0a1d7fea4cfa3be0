"""Concurrent clients against the running local service: many creates at once, one Idempotency-Key sent by many
clients at once, and one session URL opened by many browsers at once.

Clients retry a connection refused or reset (bounded), as the Stripe SDK does with the same Idempotency-Key, so that the
semantics are tested whatever the local server's accept queue does; whether the server takes that many simultaneous
connections in the first place is a test of its own. Everything goes to 127.0.0.1 only; every request has a timeout,
every wait and retry loop a bound.

The module has a server of its own, empty when it starts, on the engine closest to AWS present (DynamoDB Local, else
moto): a shared server's table would hold what earlier tests stored.

The local runner invokes each function one request at a time, so requests here never overlap inside a handler:
that, the 409s of one Idempotency-Key and the one `visited` event are proven in-process by
tests/integration/test_concurrency.py.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import jwt
import pytest
import requests

from local_gateway.backend import EVENT_BUS_NAME, TEST_HANDOFF_SECRET_NAME
from portal_sessions.domain.handoff import AUDIENCES, RECOVERY_AUDIENCES, parse_keyring, verify_handoff_token
from tests.support.contract import contract_problems
from tests.support.engines import ENGINES
from tests.support.local_service import LocalService, own_service

CLIENTS = 25  # far beyond the accept queue of http.server's default (5), which the local server raises to 128
REQUEST_TIMEOUT_SECONDS = 30
ALL_DONE_TIMEOUT_SECONDS = 120
MAX_IN_USE_RETRIES = 100  # 409 idempotency_key_in_use, retried as the SDK does
MAX_CONNECTION_RETRIES = 8
IN_USE_RETRY_DELAY_SECONDS = 0.05
SESSION_TTL_SECONDS = 3600  # the template's default, which the e2e server runs with
EVENT_WAIT_SECONDS = 30  # the server reads its stream and publishes in the background; slow on a busy machine
SESSIONS = "/v1/billing_portal/sessions"


# One engine, the closest to AWS present: the runner invokes each function one request at a time, so what these
# prove is the server's and the clients' side of concurrency; the conditional writes under overlapping requests are
# proven in-process on both engines (tests/integration/test_concurrency.py).
@pytest.fixture(scope="module", params=ENGINES[-1:])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    with own_service(request, tmp_path_factory.mktemp("concurrency_server")) as running:
        yield running


def all_at_once[T](count: int, call: Callable[[int], T]) -> list[T]:
    """Run `call(0..count-1)` on `count` threads released together by a barrier; bounded by timeouts."""
    barrier = threading.Barrier(count, timeout=ALL_DONE_TIMEOUT_SECONDS)

    def released(index: int) -> T:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(released, index) for index in range(count)]
        deadline = time.monotonic() + ALL_DONE_TIMEOUT_SECONDS
        return [future.result(timeout=max(0.1, deadline - time.monotonic())) for future in futures]


def retrying_connection(send: Callable[[], requests.Response]) -> requests.Response:
    """`send()`, again after a connection error (bounded, with back-off), as the SDK's network retries do."""
    for attempt in range(MAX_CONNECTION_RETRIES):
        try:
            return send()
        except requests.ConnectionError:
            if attempt == MAX_CONNECTION_RETRIES - 1:
                raise
            time.sleep(min(0.1 * 2**attempt, 1.0))
    raise AssertionError("unreachable")


def auth(service: LocalService) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.api_key}"}


def create(service: LocalService, customer: str, idempotency_key: str | None = None) -> requests.Response:
    """A create; with an Idempotency-Key, a connection error is retried with it (safe: at most one session)."""
    headers = auth(service) | ({"Idempotency-Key": idempotency_key} if idempotency_key is not None else {})

    def send() -> requests.Response:
        return requests.post(
            service.base_url + SESSIONS,
            data={"customer": customer, "return_url": "https://example.com/account"},
            headers=headers,
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    return send() if idempotency_key is None else retrying_connection(send)


def create_until_not_in_use(
    service: LocalService, customer: str, idempotency_key: str
) -> tuple[requests.Response, int]:
    """Create, retrying a 409 idempotency_key_in_use (bounded) as the SDK does; returns the answer and the 409s seen."""
    conflicts = 0
    for _attempt in range(MAX_IN_USE_RETRIES):
        response = create(service, customer, idempotency_key)
        if response.status_code != 409:
            return response, conflicts
        assert response.json()["error"]["code"] == "idempotency_key_in_use", response.text
        conflicts += 1
        time.sleep(IN_USE_RETRY_DELAY_SECONDS)
    pytest.fail(f"still 409 after {MAX_IN_USE_RETRIES} tries")


def retrieve(service: LocalService, session_id: str) -> requests.Response:
    url = f"{service.base_url}{SESSIONS}/{session_id}"
    return retrying_connection(lambda: requests.get(url, headers=auth(service), timeout=REQUEST_TIMEOUT_SECONDS))


def listed(service: LocalService, customer: str) -> dict[str, Any]:
    response = requests.get(
        service.base_url + SESSIONS,
        params={"customer": customer, "limit": 100},
        headers=auth(service),
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert contract_problems(body) == [], contract_problems(body)
    return body


def new_customer(label: str) -> str:
    return f"cus_{label}_{secrets.token_hex(6)}"


def test_concurrent_creates_make_as_many_distinct_sessions_each_retrievable_and_listed(service: LocalService) -> None:
    # Given one customer, and as many clients creating a session for it at once, each with its own Idempotency-Key
    customer = new_customer("concurrent")

    # When
    responses = all_at_once(CLIENTS, lambda index: create(service, customer, f"distinct-{customer}-{index}"))

    # Then every client got its own session
    assert [response.status_code for response in responses] == [200] * CLIENTS, [r.text for r in responses]
    sessions = [response.json() for response in responses]
    for session in sessions:
        assert contract_problems(session) == [], contract_problems(session)
        assert session["customer"] == customer
        assert session["url"].startswith(service.base_url + "/p/session/")
    ids = {session["id"] for session in sessions}
    assert len(ids) == CLIENTS
    assert len({session["url"] for session in sessions}) == CLIENTS

    # And each is retrievable by id, as created (its URL is not shown again)
    retrieved = all_at_once(CLIENTS, lambda index: retrieve(service, sessions[index]["id"]))
    for session, response in zip(sessions, retrieved, strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        assert contract_problems(body) == [], contract_problems(body)
        assert (body["id"], body["customer"], body["created"]) == (session["id"], customer, session["created"])
        assert (body["url"], body["status"]) == (None, "open")

    # And the customer's list holds exactly these sessions, newest first
    page = listed(service, customer)
    assert page["has_more"] is False
    assert {item["id"] for item in page["data"]} == ids
    assert len(page["data"]) == CLIENTS
    created = [item["created"] for item in page["data"]]
    assert created == sorted(created, reverse=True)


def test_one_idempotency_key_sent_by_many_clients_at_once_creates_one_session(service: LocalService) -> None:
    # Given many clients sending the very same create with the very same Idempotency-Key at once
    customer = new_customer("onekey")
    key = f"one-key-{customer}"

    # When (a 409 idempotency_key_in_use is retried, as the SDK does)
    answers = all_at_once(CLIENTS, lambda _index: create_until_not_in_use(service, customer, key))

    # Then every client ends with the same session
    responses = [response for response, _conflicts in answers]
    assert [response.status_code for response in responses] == [200] * CLIENTS, [r.text for r in responses]
    bodies = [response.json() for response in responses]
    assert len({body["id"] for body in bodies}) == 1
    assert len({body["url"] for body in bodies}) == 1
    assert contract_problems(bodies[0]) == []
    # And exactly one of them ran it; all the others got the replay
    originals = [response for response in responses if response.headers.get("Idempotent-Replayed") != "true"]
    assert len(originals) == 1, [dict(response.headers) for response in originals]
    assert all(response.headers.get("Idempotency-Key") == key for response in responses)

    # And one session exists for the customer
    page = listed(service, customer)
    assert [item["id"] for item in page["data"]] == [bodies[0]["id"]]


@pytest.fixture
def visited_events(service: LocalService) -> Iterator[Callable[[str], list[dict[str, Any]]]]:
    """The `billing_portal.session.visited` events the server publishes, through a rule to a queue on its moto."""
    aws = {
        "endpoint_url": service.aws_endpoint,  # the embedded moto serves every AWS service but DynamoDB
        "region_name": "us-east-1",
        "aws_access_key_id": "e2e",
        "aws_secret_access_key": "e2e",
    }
    sqs, events = boto3.client("sqs", **aws), boto3.client("events", **aws)
    name = f"visited-{secrets.token_hex(4)}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["portal-sessions"], "detail-type": ["billing_portal.session.visited"]}
    events.put_rule(Name=name, EventBusName=EVENT_BUS_NAME, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=EVENT_BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def read(session_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + EVENT_WAIT_SECONDS
        while time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in messages.get("Messages", []):
                detail = json.loads(message["Body"])["detail"]
                if detail["data"]["object"]["id"] == session_id:
                    found.append(detail)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if found and not messages.get("Messages"):
                break  # the first event came, and nothing more is arriving
        return found

    try:
        yield read
    finally:
        events.remove_targets(Rule=name, EventBusName=EVENT_BUS_NAME, Ids=["queue"])
        events.delete_rule(Name=name, EventBusName=EVENT_BUS_NAME)
        sqs.delete_queue(QueueUrl=queue_url)


def mode_keys(service: LocalService) -> dict[str, str]:
    secrets_manager = boto3.client(
        "secretsmanager",
        endpoint_url=service.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="e2e",
        aws_secret_access_key="e2e",
    )
    text = secrets_manager.get_secret_value(SecretId=TEST_HANDOFF_SECRET_NAME)["SecretString"]
    return dict(parse_keyring(text).keys)


def test_one_session_url_opened_by_many_browsers_at_once_is_visited_once(
    service: LocalService, visited_events: Callable[[str], list[dict[str, Any]]]
) -> None:
    # Given a fresh session
    customer = new_customer("visits")
    created = create(service, customer)
    assert created.status_code == 200, created.text
    session = created.json()

    # When many browsers open its URL at once
    started = int(time.time())
    visits = all_at_once(
        CLIENTS,
        lambda _index: retrying_connection(
            lambda: requests.get(session["url"], allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS)
        ),
    )
    finished = int(time.time()) + 1

    # Then each is handed over to the portal, with its own valid hand-off for this session
    assert [visit.status_code for visit in visits] == [302] * CLIENTS, [visit.text[:200] for visit in visits]
    keys = mode_keys(service)
    token_ids = set()
    for visit in visits:
        location = visit.headers["Location"]
        assert location.startswith(service.portal_url + "?handoff="), location
        [handoff] = parse_qs(urlsplit(location).query)["handoff"]
        claims = verify_handoff_token(handoff, keys=keys, audience=AUDIENCES[False])
        assert (claims["sid"], claims["customer"]) == (session["id"], customer)
        token_ids.add(claims["jti"])
        with pytest.raises(jwt.InvalidAudienceError):
            verify_handoff_token(handoff, keys=keys, audience=RECOVERY_AUDIENCES[False])
    assert len(token_ids) == CLIENTS

    # And the session is visited, once: one visited_at, the lifetime started from it
    retrieved = retrieve(service, session["id"])
    assert retrieved.status_code == 200, retrieved.text
    body = retrieved.json()
    assert body["status"] == "visited"
    assert started <= body["visited_at"] <= finished
    assert body["expires_at"] == body["visited_at"] + SESSION_TTL_SECONDS
    # And exactly one first visit was announced
    announced = visited_events(session["id"])
    assert len(announced) == 1, announced
    assert announced[0]["data"]["object"]["visited_at"] == body["visited_at"]


def test_the_local_server_takes_as_many_simultaneous_connections_as_there_are_clients(service: LocalService) -> None:
    # Given as many clients as the tests above, each opening its connection at the same moment to create a session
    customer = new_customer("connections")

    def call(index: int) -> str:
        try:
            response = requests.post(
                service.base_url + SESSIONS,
                data={"customer": customer, "return_url": "https://example.com/account"},
                headers=auth(service) | {"Idempotency-Key": f"connection-{customer}-{index}"},
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except requests.ConnectionError as error:
            return f"connection error: {error}"
        return str(response.status_code)

    # When (no retries here)
    outcomes = all_at_once(CLIENTS, call)

    # Then every connection is taken and served, none refused or reset
    failed = [outcome for outcome in outcomes if outcome != "200"]
    assert failed == [], f"{len(failed)} of {CLIENTS} simultaneous connections failed, e.g. {failed[0]}"
