"""What a first visit writes, and what it costs: one conditional UpdateItem answers a visit, a revisit and an expired
link; a session whose purge time does not fit the lifetime in force takes a second, fitted to the item seen, and a
visit or an erase that lands between the two is answered as what it is. Each write names its own request and leaves
no idempotency key of the create's on the item (the stream makes the visited and expired events from it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from portal_sessions.domain.session import RequestRef
from portal_sessions.domain.tokens import url_token_hash
from portal_sessions.store.sessions import SessionStore
from portal_sessions.store.table import dynamodb_client
from tests.support.aws import aws_client
from tests.support.settings import CLOCK_START
from tests.support.table import insert_session, item_for_token

NOW = CLOCK_START
RETENTION = 7 * 86400
VISIT = RequestRef("req_visit")


@dataclass
class Updates:
    """The functions' UpdateItems so far, and what lands (from another client) just before the second."""

    count: int = 0
    before_second: Callable[[], None] | None = None


@pytest.fixture
def updates(service_env: dict[str, str]) -> Iterator[Updates]:
    seen = Updates()

    def before_update(**_: Any) -> None:
        seen.count += 1
        if seen.count == 2 and seen.before_second is not None:
            seen.before_second()

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.UpdateItem", before_update)
    yield seen
    events.unregister("before-call.dynamodb.UpdateItem", before_update)


def with_create_idempotency_key(table: str, token: str) -> None:
    """The create's Idempotency-Key on the item, as a create that named one leaves it."""
    aws_client("dynamodb").update_item(
        TableName=table,
        Key={"pk": (item_for_token(table, token) or {})["pk"]},
        UpdateExpression="SET idempotency_key = :key, request_id = :request",
        ExpressionAttributeValues={":key": {"S": "create-key"}, ":request": {"S": "req_create"}},
    )


def request_on(table: str, token: str) -> tuple[str | None, str | None]:
    item = item_for_token(table, token) or {}
    return item.get("request_id", {}).get("S"), item.get("idempotency_key", {}).get("S")


def a_session(table: str, *, fits: bool) -> tuple[str, SessionStore, int]:
    """An unvisited session, and the lifetime a visit gives it: one its purge time fits (one UpdateItem), or a longer
    one than it was made under (the second UpdateItem fits the visit to it)."""
    token, _ = insert_session(table, created=NOW - 60, expires_at=NOW + 240, purge_shards=1)
    with_create_idempotency_key(table, token)
    return token, SessionStore(table), 60 if fits else 3600


@pytest.mark.parametrize("fits", [True, False], ids=["fits", "fitted by a second write"])
def test_a_first_visit_names_its_own_request_and_drops_the_creates_idempotency_key(
    service_env: dict[str, str], updates: Updates, fits: bool
) -> None:
    table = service_env["TABLE_NAME"]
    token, store, lifetime = a_session(table, fits=fits)

    visit = store.record_visit(url_token_hash(token), NOW, lifetime, 0 if fits else RETENTION, VISIT)

    assert visit.first_visit and visit.session is not None
    assert updates.count == (1 if fits else 2)
    assert request_on(table, token) == ("req_visit", None)


@pytest.mark.parametrize("expired", [False, True], ids=["revisit", "expired link"])
def test_a_revisit_and_an_expired_link_each_cost_one_update(
    service_env: dict[str, str], updates: Updates, expired: bool
) -> None:
    # Given a visited session (or an unvisited one whose link has expired)
    table = service_env["TABLE_NAME"]
    token, store, lifetime = a_session(table, fits=True)
    if not expired:
        store.record_visit(url_token_hash(token), NOW, lifetime, 0, VISIT)
    updates.count = 0
    now = NOW + (300 if expired else 10)

    # When it is opened
    visit = store.record_visit(url_token_hash(token), now, lifetime, 0, RequestRef("req_again"))

    # Then the one conditional write's failure told it what it is: no second write was tried
    assert not visit.first_visit and visit.session is not None and visit.expired is expired
    assert updates.count == 1


@pytest.mark.parametrize("between", ["another visit", "an erase"])
def test_what_lands_between_a_visits_two_writes_is_answered_as_it_is(
    service_env: dict[str, str], updates: Updates, between: str
) -> None:
    # Given a visit that must be fitted to the session's purge time (two writes), and another client's visit or
    # erase landing between its two writes
    table = service_env["TABLE_NAME"]
    token, store, lifetime = a_session(table, fits=False)
    key = {"pk": (item_for_token(table, token) or {})["pk"]}

    def lands() -> None:
        if between == "an erase":
            aws_client("dynamodb").delete_item(TableName=table, Key=key)
        else:
            aws_client("dynamodb").update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET visited_at = :now",
                ExpressionAttributeValues={":now": {"N": str(NOW)}},
            )

    updates.before_second = lands

    # When
    visit = store.record_visit(url_token_hash(token), NOW, lifetime, RETENTION, VISIT)

    # Then it is a revisit of the session the other visit opened, or an unknown link: never a 503, never a second
    # first visit
    assert updates.count == 2
    assert not visit.first_visit
    assert (visit.session is not None) is (between == "another visit")


def test_an_expire_names_its_own_request_and_drops_the_creates_idempotency_key(service_env: dict[str, str]) -> None:
    table = service_env["TABLE_NAME"]
    token, store, _ = a_session(table, fits=True)
    found = store.find(url_token_hash(token))
    stored = store.get_by_id(found.id) if found is not None else None
    assert stored is not None

    store.expire(stored, NOW, RequestRef("req_expire"))

    assert request_on(table, token) == ("req_expire", None)
