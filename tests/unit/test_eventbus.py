"""Stream records of the sessions table → Stripe-shaped events: which changes are events, and what they show."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from portal_sessions.domain.session import RequestRef
from portal_sessions.outbound.eventbus import event_from_stream_record, session_event_id
from portal_sessions.store.items import request_attributes, session_item
from tests.support.factories import a_session

CREATED = 1_800_000_000
SESSION = a_session(
    id="bps_Events123",
    locale="fr",
    created=CREATED,
    expires_at=CREATED + 300,
    purge_at=CREATED + 300 + 3600 + 7 * 86400,
)
ITEM = session_item(SESSION, "ab" * 32, 32) | request_attributes(RequestRef("req_Create1", "key-1"))


def record(event_name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"pk": (new or old or {})["pk"]}, "SequenceNumber": "100"}
    if new is not None:
        change["NewImage"] = new
    if old is not None:
        change["OldImage"] = old
    return {"eventID": "e1f0", "eventName": event_name, "dynamodb": change}


def changed(item: dict[str, Any], **attributes: dict[str, str]) -> dict[str, Any]:
    updated = copy.deepcopy(item)
    updated.update(attributes)
    return updated


def test_a_new_session_is_created_with_its_request() -> None:
    event = event_from_stream_record(record("INSERT", ITEM))

    assert event is not None
    assert event["type"] == "billing_portal.session.created" and event["object"] == "event"
    assert event["created"] == CREATED
    assert event["request"] == {"id": "req_Create1", "idempotency_key": "key-1"}
    shown = event["data"]["object"]
    assert (shown["id"], shown["status"], shown["url"], shown["locale"]) == ("bps_Events123", "open", None, "fr")


def test_the_first_visit_is_visited_and_a_later_change_is_nothing() -> None:
    visited = changed(ITEM, visited_at={"N": str(CREATED + 5)}, request_id={"S": "req_Visit1"})
    visited.pop("idempotency_key")

    first = event_from_stream_record(record("MODIFY", visited, ITEM))
    later = event_from_stream_record(record("MODIFY", changed(visited, expires_at={"N": "1"}), visited))

    assert first is not None and first["type"] == "billing_portal.session.visited"
    assert first["created"] == CREATED + 5
    assert first["data"]["object"]["status"] == "visited"
    assert first["request"] == {"id": "req_Visit1", "idempotency_key": None}
    assert later is None


def test_an_end_on_request_is_expired() -> None:
    ended = changed(ITEM, ended_at={"N": str(CREATED + 9)}, expires_at={"N": str(CREATED + 9)})

    event = event_from_stream_record(record("MODIFY", ended, ITEM))

    assert event is not None and event["type"] == "billing_portal.session.expired"
    assert event["created"] == CREATED + 9 and event["data"]["object"]["status"] == "expired"


@pytest.mark.parametrize(
    "other",
    [
        # TTL or cleanup deleting a session expired on request (its event came with the expire call)
        record("REMOVE", None, changed(ITEM, ended_at={"N": str(CREATED + 10)})),
        record("INSERT", {"pk": {"S": "idempotency#abc"}, "status": {"S": "INPROGRESS"}}),
        # the default configuration each mode gets on first need (configurations created by a call are events)
        record("INSERT", {"pk": {"S": "configuration#bpc_1"}, "body": {"S": '{"is_default": true}'}}),
    ],
    ids=["deletion-after-expire", "idempotency-record", "default-configuration"],
)
def test_other_changes_are_no_events(other: dict[str, Any]) -> None:
    assert event_from_stream_record(other) is None


def test_a_redelivered_record_is_the_same_event_and_a_sessions_events_have_ids_of_their_own() -> None:
    first, again = event_from_stream_record(record("INSERT", ITEM)), event_from_stream_record(record("INSERT", ITEM))
    ended = event_from_stream_record(record("REMOVE", None, ITEM))

    assert first is not None and again is not None and ended is not None
    assert first["id"] == again["id"] and first["id"].startswith("evt_")
    assert ended["id"] != first["id"]
    # found by key from the session's id (an erasure deletes them so)
    assert first["id"] == session_event_id(SESSION.id, "billing_portal.session.created")
    assert ended["id"] == session_event_id(SESSION.id, "billing_portal.session.expired")


def test_the_deletion_of_an_erased_session_is_no_event() -> None:
    assert event_from_stream_record(record("REMOVE", None, {**ITEM, "erased": {"BOOL": True}})) is None
    assert event_from_stream_record(record("MODIFY", {**ITEM, "erased": {"BOOL": True}}, ITEM)) is None


def test_a_session_deleted_after_it_lapsed_is_expired_at_its_expiry() -> None:
    event = event_from_stream_record(record("REMOVE", None, ITEM))

    assert event is not None and event["type"] == "billing_portal.session.expired"
    assert event["created"] == SESSION.expires_at
    assert event["data"]["object"]["status"] == "expired" and event["data"]["object"]["id"] == SESSION.id
    assert event["request"] == {"id": None, "idempotency_key": None}
