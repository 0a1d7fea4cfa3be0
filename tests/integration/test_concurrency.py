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

from portal_sessions.outbound.cleanup_queue import CleanupUnit
from portal_sessions.runtime import clock
from portal_sessions.store.items import BUCKET_SECONDS, purge_bucket
from portal_sessions.store.sessions import SessionStore
from portal_sessions.store.table import dynamodb_client
from portal_sessions.use_cases.cleanup import clean_unit, plan_cleanup
from tests.support.aws import one_request_at_a_time
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import CLOCK_START, TEST_KEY
from tests.support.table import insert_session, item_for_token, session_items

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
    with one_request_at_a_time(dynamodb_client()):
        yield


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


# Cleanup runs that overlap: SQS delivers a unit at least once (two workers may take the same one at once) and a late
# schedule may plan beside the next one. The planted times are CLOCK_START's (days ahead of the present), so DynamoDB
# Local's TTL, which reads the real clock, deletes none of them.
CLEANUP_NOW = CLOCK_START - CLOCK_START % BUCKET_SECONDS + 1800  # the middle of an hour


def test_two_workers_on_one_unit_at_once_delete_each_due_session_once_and_keep_the_rest(service_env: dict) -> None:
    # Given a past hour's purge index key with sessions due, and sessions kept for a while yet (another hour's key)
    table = service_env["TABLE_NAME"]
    store = SessionStore(table, purge_shards=1)
    unit = CleanupUnit(purge_bucket(CLEANUP_NOW) - 2, 0)
    past = unit.bucket * BUCKET_SECONDS
    due = {insert_session(table, created=past - 900, expires_at=past - 600, purge_at=past + 60 * n, purge_shards=1)[0]
           for n in range(6)}  # fmt: skip
    kept = {insert_session(table, created=CLEANUP_NOW - 900, expires_at=CLEANUP_NOW - 600,
                           purge_at=CLEANUP_NOW + 60 * n, purge_shards=1)[0] for n in range(1, 3)}  # fmt: skip
    deletes: list[bool] = []  # each DeleteItem's answer: True when it deleted, False when its condition failed

    def count_delete(parsed: dict[str, Any], **_: Any) -> None:
        deletes.append("Error" not in parsed)

    # When two workers take that unit at once, each held after its query of the index until the other has read too
    both_read = threading.Barrier(2, timeout=WAIT_SECONDS)
    read: dict[str, list[str]] = {}

    def hold_after_query(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = threading.current_thread().name
        if model.name == "Query" and name not in read:
            read[name] = sorted(item["pk"]["S"] for item in parsed.get("Items", []))
            both_read.wait()

    events = dynamodb_client().meta.events
    # (after moto's request lock is let go: that hook is on the service's after-call, which runs after an
    # operation's own, so this one is there too)
    events.register("after-call.dynamodb", hold_after_query)
    events.register("after-call.dynamodb.DeleteItem", count_delete)
    try:
        outcomes = all_at_once(
            2, lambda _index: clean_unit(store, unit, now=CLEANUP_NOW, max_deletes=1000, out_of_time=lambda: False)
        )
    finally:
        events.unregister("after-call.dynamodb", hold_after_query)
        events.unregister("after-call.dynamodb.DeleteItem", count_delete)

    # Then both read every due key before either deleted one (else the barrier broke): they overlapped
    assert len(read) == 2 and not both_read.broken, "the workers did not overlap"
    assert [len(keys) for keys in read.values()] == [len(due)] * 2
    # And each due session was deleted once: the other worker's delete of it failed on its condition
    assert sum(outcome.deleted for outcome in outcomes) == len(due)
    assert sorted(deletes) == [False] * len(due) + [True] * len(due)
    assert all(outcome.finished for outcome in outcomes)
    assert {token for token in due | kept if item_for_token(table, token) is not None} == kept
    assert store.done_shards([unit.bucket]) == {unit.bucket: {0}}


def test_a_late_schedule_planning_beside_the_next_never_moves_the_watermark_back(service_env: dict) -> None:
    # Given the last four hours' purge buckets cleaned, every shard of them done, and no watermark yet
    store = SessionStore(service_env["TABLE_NAME"], purge_shards=2)
    current = purge_bucket(CLEANUP_NOW)
    for bucket in range(current - 4, current):
        for shard in (0, 1):
            store.mark_shard_done(bucket, shard, CLEANUP_NOW)
    # the late run's clock is two hours behind: it would move the watermark to its own hour, two before the current
    runs = {"next": (CLEANUP_NOW, 4), "late": (CLEANUP_NOW - 2 * BUCKET_SECONDS, 2)}  # (now, lookback hours)
    next_advanced = threading.Event()

    # When both plan at once, each held before its advance of the watermark until the other has read it too, and the
    # late one's advance comes after the next one's
    both_read = threading.Barrier(2, timeout=WAIT_SECONDS)
    arrived: list[str] = []

    def hold_before_advance(**_: Any) -> None:
        name = threading.current_thread().name
        arrived.append(name)
        both_read.wait()
        if name == "late":
            assert next_advanced.wait(WAIT_SECONDS), "the next run's advance did not land"

    def advanced(**_: Any) -> None:
        if threading.current_thread().name == "next":
            next_advanced.set()

    def plan(name: str) -> int:
        threading.current_thread().name = name
        now, lookback_hours = runs[name]
        return plan_cleanup(store, now=now, lookback_hours=lookback_hours, shards=2).watermark

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.UpdateItem", hold_before_advance)
    events.register("after-call.dynamodb.UpdateItem", advanced)
    events.register("after-call-error.dynamodb.UpdateItem", advanced)
    try:
        watermarks = all_at_once(2, lambda index: plan(list(runs)[index]))
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", hold_before_advance)
        events.unregister("after-call.dynamodb.UpdateItem", advanced)
        events.unregister("after-call-error.dynamodb.UpdateItem", advanced)

    # Then both had read the watermark before either moved it (else the barrier broke), each planned from its hour
    assert sorted(arrived) == ["late", "next"] and not both_read.broken, "the schedule runs did not overlap"
    assert watermarks == [current, current - 2]
    # And the watermark is the next run's: the late one's advance, which came after, did not move it back
    assert store.cleanup_watermark() == current
    assert plan_cleanup(store, now=CLEANUP_NOW, lookback_hours=4, shards=2).units == [
        CleanupUnit(current, shard) for shard in (0, 1)
    ]
