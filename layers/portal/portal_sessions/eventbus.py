"""Stripe-shaped `event` objects about sessions, published to EventBridge.

Publishing never fails or repeats the write it reports: a failure is logged and counted, and the request goes on.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from .api_version import LATEST
from .observability import logger, metrics
from .tokens import new_object_id

SOURCE = "portal-sessions"
SESSION_CREATED = "billing_portal.session.created"
SESSION_VISITED = "billing_portal.session.visited"
SESSION_EXPIRED = "billing_portal.session.expired"


@cache
def _events_client() -> Any:
    import boto3

    config = Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=3, parameter_validation=False)
    return boto3.client("events", config=config)  # requests built here, not from input: see store.dynamodb_client


def stripe_event(
    event_type: str, api_object: dict[str, Any], *, now: int, request_id: str | None, idempotency_key: str | None
) -> dict[str, Any]:
    # The object as the API shows it after creation: never its URL, which holds the secret token.
    shown = {**api_object, "url": None} if "url" in api_object else api_object
    return {
        "id": new_object_id("evt"),
        "object": "event",
        "api_version": LATEST,
        "created": now,
        "data": {"object": shown},
        "livemode": api_object["livemode"],
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }


def publish(bus_name: str, event: dict[str, Any]) -> bool:
    """Put one event on the bus; False (logged, counted) if it could not be published."""
    entry = {"Source": SOURCE, "DetailType": event["type"], "Detail": json.dumps(event), "EventBusName": bus_name}
    try:
        response = _events_client().put_events(Entries=[entry])
        published = bool(response.get("FailedEntryCount", 0) == 0)
    except Exception:  # noqa: BLE001 - whatever went wrong, the session write stands
        published = False
    if published:
        metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=1)
    else:
        logger.warning("event not published", extra={"event_type": event["type"], "event_id": event["id"]})
        metrics.add_metric(name="EventsNotPublished", unit=MetricUnit.Count, value=1)
    return published


def announce(
    bus_name: str,
    event_type: str,
    api_object: dict[str, Any],
    *,
    now: int,
    request_id: str | None,
    idempotency_key: str | None = None,
) -> None:
    """Publish what happened to a session, if the function has a bus."""
    if bus_name:
        event = stripe_event(event_type, api_object, now=now, request_id=request_id, idempotency_key=idempotency_key)
        publish(bus_name, event)
