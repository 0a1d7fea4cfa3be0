"""Many requests at once inside the real handlers, in this process, on each DynamoDB engine: threads released together,
held inside the handlers at the DynamoDB call that decides (a barrier in a botocore hook on the functions' client), so
the calls are proven to overlap there; then what the table decides is checked. (The local runner invokes a function
one request at a time, so tests/e2e/test_concurrency.py proves the HTTP side, not this.)

Every wait is bounded: a barrier that does not fill (the calls did not overlap) breaks, and the test fails.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import create_session_handler
import pytest
import redirect_handler

from portal_sessions.runtime import clock
from portal_sessions.store.table import dynamodb_client
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import TEST_KEY
from tests.support.table import session_items

# Powertools' metrics are one set per process, flushed at the end of each invocation (Lambda runs one at a time in a
# process): here one invocation's flush may take another's metrics, which then finds none to publish.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
CALLERS = 25
WAIT_SECONDS = 60


@pytest.fixture(autouse=True)
def atomic_requests(service_env: dict, engine: str) -> Iterator[None]:
    """On moto, each DynamoDB request runs alone, as DynamoDB runs each atomically: moto's in-process backend is not
    thread-safe (a transaction deep-copies every table while other threads change them). The handlers still overlap;
    only moto's work on one request at a time is serialised. DynamoDB Local is a server and needs nothing."""
    if engine != "moto":
        yield
        return
    lock = threading.Lock()
    holding = threading.local()

    def acquire(**_: Any) -> None:  # before each attempt is sent (moto answers it there)
        if not getattr(holding, "lock", False):
            lock.acquire()
            holding.lock = True

    def release(**_: Any) -> None:  # once the call has its answer, or its error
        if getattr(holding, "lock", False):
            holding.lock = False
            lock.release()

    events = dynamodb_client().meta.events
    events.register_first("before-send.dynamodb", acquire)
    events.register("after-call.dynamodb", release)
    events.register("after-call-error.dynamodb", release)
    try:
        yield
    finally:
        events.unregister("before-send.dynamodb", acquire)
        events.unregister("after-call.dynamodb", release)
        events.unregister("after-call-error.dynamodb", release)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> int:
    """The clock the functions read, from the present: a second later at each reading, so requests at once each have
    a time of their own, as on separate Lambdas; returns the first."""
    started = int(time.time())
    ticks = itertools.count(started)
    monkeypatch.setattr(clock, "now", lambda: next(ticks))
    return started


def all_at_once[T](count: int, call: Callable[[int], T]) -> list[T]:
    """`call(0..count-1)` on `count` threads released together; bounded."""
    start = threading.Barrier(count, timeout=WAIT_SECONDS)

    def released(index: int) -> T:
        start.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(released, index) for index in range(count)]
        return [future.result(timeout=WAIT_SECONDS * 2) for future in futures]


@contextmanager
def held_at(operation: str, wait: Callable[[], None]) -> Iterator[list[str]]:
    """Runs `wait()` in each calling thread just before its first `operation` on the functions' DynamoDB client, i.e.
    inside a handler; yields the threads' names, in the order they got there."""
    arrived: list[str] = []
    seen = threading.local()

    def hold(**_: Any) -> None:
        if getattr(seen, "held", False):
            return
        seen.held = True
        arrived.append(threading.current_thread().name)
        wait()

    events = dynamodb_client().meta.events
    events.register(f"before-call.dynamodb.{operation}", hold)
    try:
        yield arrived
    finally:
        events.unregister(f"before-call.dynamodb.{operation}", hold)


def create(customer: str, idempotency_key: str | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    body = urlencode({"customer": customer, "return_url": "https://example.com/account"})
    event = http_event("POST", "/v1/billing_portal/sessions", headers=headers, body=body)
    response: dict[str, Any] = create_session_handler.lambda_handler(event, FakeContext())
    return response


def test_concurrent_creates_make_as_many_sessions(service_env: dict, now: int) -> None:
    # Given one create first, so the default configuration exists (its own race is not the subject here)
    assert create("cus_first")["statusCode"] == 200

    # When as many creates run at once, each with its own Idempotency-Key, all inside the handler together
    inside = threading.Barrier(CALLERS, timeout=WAIT_SECONDS)
    with held_at("TransactWriteItems", inside.wait) as arrived:
        responses = all_at_once(CALLERS, lambda index: create("cus_many", f"distinct-{index}"))

    # Then all of them were inside the handler at once, before the write that makes the session (else the barrier
    # there broke)
    assert len(set(arrived)) == CALLERS and not inside.broken, "the creates did not overlap inside the handler"
    # And each made its own session
    assert [response["statusCode"] for response in responses] == [200] * CALLERS, [r["body"] for r in responses]
    ids = {json_body(response)["id"] for response in responses}
    assert len(ids) == CALLERS
    assert len(session_items(service_env["TABLE_NAME"])) == CALLERS + 1


def test_one_idempotency_key_sent_many_times_at_once_runs_once_and_the_rest_are_told_it_is_in_use(
    service_env: dict, now: int
) -> None:
    # Given the first create holding its key inside the handler until every other request with that key has answered
    assert create("cus_first")["statusCode"] == 200
    others_answered = threading.Event()
    answered: list[int] = []
    answered_lock = threading.Lock()

    first = threading.Lock()

    def held_until_the_others_answered() -> None:
        if first.acquire(blocking=False):  # only the first to get there is held (any other is let through)
            assert others_answered.wait(WAIT_SECONDS), f"only {len(answered)} others answered while one was running"

    def send(_index: int) -> dict[str, Any]:
        response = create("cus_once", "the-one-key")
        with answered_lock:
            answered.append(response["statusCode"])
            if len(answered) == CALLERS - 1:
                others_answered.set()
        return response

    # When as many requests send it at once
    with held_at("TransactWriteItems", held_until_the_others_answered) as arrived:
        responses = all_at_once(CALLERS, send)

    # Then one ran it, and every other answered while it was running: a 409 idempotency_key_in_use, nothing written
    assert len(arrived) == 1
    statuses = sorted(response["statusCode"] for response in responses)
    assert statuses == [200] + [409] * (CALLERS - 1), [r["body"] for r in responses]
    conflicts = [json_body(r)["error"] for r in responses if r["statusCode"] == 409]
    assert {(error["type"], error["code"]) for error in conflicts} == {("idempotency_error", "idempotency_key_in_use")}
    [original] = [response for response in responses if response["statusCode"] == 200]
    assert original["headers"].get("Idempotent-Replayed") != "true"
    sessions = [i for i in session_items(service_env["TABLE_NAME"]) if i["customer"]["S"] == "cus_once"]
    assert len(sessions) == 1

    # And once it has finished, the same request sent many times at once is replayed to each: the same session
    replays = all_at_once(CALLERS, lambda _index: create("cus_once", "the-one-key"))
    assert [response["statusCode"] for response in replays] == [200] * CALLERS
    assert all(response["headers"].get("Idempotent-Replayed") == "true" for response in replays)
    assert {json_body(response)["id"] for response in replays} == {json_body(original)["id"]}


def test_one_session_url_opened_many_times_at_once_is_visited_once_and_announced_once(
    service_env: dict, now: int, published_events: Callable[[], list[dict[str, Any]]]
) -> None:
    # Given a fresh session, its `created` event read
    session = json_body(create("cus_visits"))
    assert [entry["detail-type"] for entry in published_events()] == ["billing_portal.session.created"]

    # When many browsers open its URL at once, all inside the handler together before the visit's conditional write
    inside = threading.Barrier(CALLERS, timeout=WAIT_SECONDS)
    path = urlsplit(session["url"]).path
    with held_at("UpdateItem", inside.wait) as arrived:
        visits = all_at_once(
            CALLERS, lambda _index: redirect_handler.lambda_handler(http_event("GET", path), FakeContext())
        )

    # Then they overlapped there (else the barrier broke), and each was handed over to the portal
    assert len(set(arrived)) == CALLERS and not inside.broken, "the visits did not overlap inside the handler"
    assert [visit["statusCode"] for visit in visits] == [302] * CALLERS, [visit["body"] for visit in visits]
    # And the session was visited once: one visited_at (one of the visits' own times), its lifetime started from it
    [item] = [i for i in session_items(service_env["TABLE_NAME"]) if i["customer"]["S"] == "cus_visits"]
    visited_at = int(item["visited_at"]["N"])
    assert session["created"] < visited_at <= clock.now()
    assert int(item["expires_at"]["N"]) == visited_at + int(service_env["SESSION_TTL_SECONDS"])
    # And exactly one `visited` event was published, for that visit: every stream record is handed to the events
    # function and every event the bus forwarded is read, so nothing is still on its way
    published = published_events()
    assert [entry["detail-type"] for entry in published] == ["billing_portal.session.visited"]
    announced = published[0]["detail"]["data"]["object"]
    assert (announced["id"], announced["visited_at"]) == (session["id"], visited_at)
