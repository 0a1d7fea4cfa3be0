"""Stripe-shaped `event` objects about sessions and configurations, made from the sessions table's stream, and their
publishing to EventBridge.

The request path writes only DynamoDB; the table's stream then carries each change to the events function (a
transactional outbox), which stores the event and queues it; publishing and webhooks run behind that queue
(`webhook_delivery.dispatch`), so no API request waits for EventBridge and no failure to publish holds the stream.
A stream record becomes at most one event, whose id is derived from the record's, so a retried record makes the same
id again and consumers can drop the repeats.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..domain.session import RequestRef
from ..runtime.errors import PublishError, PublishRefusedError
from ..store.items import ERASED, is_session_item, request_from_item, session_from_item
from ..store.webhooks import event_json
from ..stripe_wire.api_version import LATEST

SOURCE = "portal-sessions"
SESSION_CREATED = "billing_portal.session.created"
SESSION_VISITED = "billing_portal.session.visited"
SESSION_EXPIRED = "billing_portal.session.expired"
CONFIGURATION_CREATED = "billing_portal.configuration.created"
CONFIGURATION_UPDATED = "billing_portal.configuration.updated"


@cache
def events_client() -> Any:
    import boto3

    # Requests built here, not from input: no client-side validation (see store.table.dynamodb_client).
    config = Config(
        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=3, parameter_validation=False
    )
    return boto3.client("events", config=config)


def stripe_event(
    event_type: str, api_object: dict[str, Any], *, event_id: str, created: int, request: RequestRef
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": LATEST,
        "created": created,
        "data": {"object": api_object},
        "livemode": api_object["livemode"],
        "pending_webhooks": 0,
        "request": {"id": request.id, "idempotency_key": request.idempotency_key},
        "type": event_type,
    }


def event_from_stream_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """The event a change to the table means, if any: a session created, visited for the first time, or expired on
    request or (when DynamoDB's TTL or the cleanup deletes it) on lapse; a configuration created or updated.
    Anything else (idempotency records, later visits, the default configurations each mode gets on first need)
    means none."""
    change = record.get("dynamodb", {})
    new, old = change.get("NewImage"), change.get("OldImage") or {}
    if new is not None and new.get("pk", {}).get("S", "").startswith(_CONFIGURATION_PREFIX):
        return _configuration_event(record, new, old)
    if record.get("eventName") == "REMOVE" and is_session_item(old) and "ended_at" not in old:
        if ERASED in old:  # erased on request: its deletion announces nothing (it would carry the owner's data)
            return None
        return _lapsed_event(record, old)
    if new is None or not is_session_item(new) or ERASED in new:  # being erased: it announces nothing more
        return None
    if record.get("eventName") == "INSERT":
        event_type = SESSION_CREATED
    elif "visited_at" in new and "visited_at" not in old:
        event_type = SESSION_VISITED
    elif "ended_at" in new and "ended_at" not in old:
        event_type = SESSION_EXPIRED
    else:
        return None
    session = session_from_item(new)
    if event_type == SESSION_CREATED:
        happened = session.created
    elif event_type == SESSION_VISITED:
        happened = int(new["visited_at"]["N"])
    else:
        happened = int(new["ended_at"]["N"])
    # The object as the API showed it then; its URL is never stored, only the token's hash.
    shown = session.to_api_object(None, now=happened, api_version=LATEST)
    return stripe_event(
        event_type, shown, event_id=session_event_id(session.id, event_type), created=happened,
        request=request_from_item(new),
    )  # fmt: skip


_CONFIGURATION_PREFIX = "configuration#"


def _lapsed_event(record: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """A session deleted without having been expired on request lapsed at its `expires_at`. The deletion (TTL, or the
    hourly cleanup) comes after that, by up to an hour or more, or after a recovery hold: so does this event."""
    session = session_from_item(old)
    shown = session.to_api_object(None, now=session.expires_at, api_version=LATEST)
    return stripe_event(
        SESSION_EXPIRED, shown, event_id=session_event_id(session.id, SESSION_EXPIRED), created=session.expires_at,
        request=RequestRef(None),
    )  # fmt: skip


def _configuration_event(record: dict[str, Any], new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any] | None:
    configuration = json.loads(new["body"]["S"])
    if not old:
        if configuration["is_default"]:
            return None
        event_type, happened, previous = CONFIGURATION_CREATED, configuration["created"], None
    else:
        before = json.loads(old["body"]["S"])
        previous = {name: value for name, value in before.items() if configuration.get(name) != value}
        previous.pop("updated", None)
        if not previous:
            return None
        event_type, happened = CONFIGURATION_UPDATED, configuration["updated"]
    event = stripe_event(
        event_type, configuration, event_id=_event_id(record, event_type), created=happened, request=RequestRef(None)
    )
    if previous is not None:
        event["data"]["previous_attributes"] = previous
    return event


SESSION_EVENT_TYPES = (SESSION_CREATED, SESSION_VISITED, SESSION_EXPIRED)


def session_event_id(session_id: str, event_type: str) -> str:
    """A session has each of its events once (created; visited, the first time; expired, on request or on lapse), so
    its events' ids come from its id: a retried record makes the same one, and an erasure finds them by key."""
    digest = hashlib.sha256(f"{session_id}:{event_type}".encode()).hexdigest()
    return "evt_" + digest[:24]


def _event_id(record: dict[str, Any], event_type: str) -> str:
    digest = hashlib.sha256(f"{record['eventID']}:{event_type}".encode()).hexdigest()
    return "evt_" + digest[:24]


# What EventBridge answers for an entry (or a call) that a retry would not change: the entry is invalid or too large.
_REFUSALS = frozenset({"ValidationException", "InvalidArgument", "MalformedDetail", "MalformedEntry"})


class EventBridgePublisher:
    """Puts events on one bus: PublishRefusedError if EventBridge refused the event as invalid (final), PublishError
    if it failed in a way a retry may mend (throttled, unavailable)."""

    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name

    def publish(self, event: dict[str, Any]) -> None:
        entry = {"Source": SOURCE, "DetailType": event["type"], "Detail": event_json(event),
                 "EventBusName": self.bus_name}  # fmt: skip
        try:
            response = events_client().put_events(Entries=[entry])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _REFUSALS:
                raise PublishRefusedError(f"EventBridge refused the event: {code}") from None
            raise PublishError(f"EventBridge failed: {code}") from None
        except BotoCoreError as exc:
            raise PublishError(f"EventBridge unreachable: {type(exc).__name__}") from None
        if response.get("FailedEntryCount", 0):
            code = response["Entries"][0].get("ErrorCode", "unknown")
            if code in _REFUSALS:
                raise PublishRefusedError(f"EventBridge refused the event: {code}")
            raise PublishError(f"EventBridge failed the event: {code}")
