"""Webhook deliveries, off the request path: one queue message per (event, endpoint), each endpoint on its own.

The events function stores each event and puts one message per subscribed endpoint on the delivery queue; the
delivery function makes one attempt per message. A failed attempt puts the next one back on the queue, due after the
mode's next back-off delay (SQS delays a message at most 15 minutes, so a message that arrives before it is due goes
back for the rest of its wait). After the last attempt the message goes to the failed-deliveries queue, which an
alarm watches. Every attempt is signed afresh (verifiers refuse a `t` older than five minutes); repeats carry the
same event id.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from botocore.config import Config

from .delivery_safety import post
from .errors import DeliveryFailedError, UnsafeUrlError
from .webhooks import EndpointSecrets, retry_delays, signature_header, wants

if TYPE_CHECKING:
    from .store.ports import EventRepository, WebhookEndpointRepository

MAX_QUEUE_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
USER_AGENT = "portal-sessions-webhooks/1.0"


@dataclass(frozen=True)
class Delivery:
    event_id: str
    endpoint_id: str
    livemode: bool
    attempt: int = 1  # the attempt this message is for, from 1
    due_at: int = 0
    last_failure: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Delivery:
        return cls(**json.loads(text))


class DeliveryQueue(Protocol):
    def send(self, deliveries: list[Delivery], delay_seconds: int = 0) -> None: ...

    def send_failed(self, delivery: Delivery) -> None: ...


@cache
def sqs_client() -> Any:
    import boto3

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=3)
    return boto3.client("sqs", config=config)


class SqsDeliveryQueue:
    def __init__(self, queue_url: str, failed_queue_url: str = "") -> None:
        self.queue_url = queue_url
        self.failed_queue_url = failed_queue_url

    def send(self, deliveries: list[Delivery], delay_seconds: int = 0) -> None:
        for start in range(0, len(deliveries), 10):  # SendMessageBatch's maximum
            entries = [
                {"Id": str(position), "MessageBody": delivery.to_json(), "DelaySeconds": delay_seconds}
                for position, delivery in enumerate(deliveries[start : start + 10])
            ]
            response = sqs_client().send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"{len(response['Failed'])} webhook deliveries could not be queued")

    def send_failed(self, delivery: Delivery) -> None:
        sqs_client().send_message(QueueUrl=self.failed_queue_url, MessageBody=delivery.to_json())


def fan_out(
    event: dict[str, Any], endpoints: list[dict[str, Any]], store: EventRepository, queue: DeliveryQueue
) -> list[Delivery]:
    """Store the event (with how many endpoints will get it) and queue one delivery per subscribed endpoint.

    A retried stream record comes here again: the event is stored once, and its deliveries may be queued again
    (a receiver can get an event twice, with the same id, as from Stripe)."""
    subscribed = [endpoint for endpoint in endpoints if endpoint["livemode"] == event["livemode"]]
    subscribed = [endpoint for endpoint in subscribed if wants(endpoint, event["type"])]
    store.put_new(event, pending_webhooks=len(subscribed))
    deliveries = [Delivery(event["id"], endpoint["id"], event["livemode"]) for endpoint in subscribed]
    if deliveries:
        queue.send(deliveries)
    return deliveries


def attempt(
    delivery: Delivery,
    *,
    now: int,
    events: EventRepository,
    endpoints: WebhookEndpointRepository,
    secrets: EndpointSecrets,
    queue: DeliveryQueue,
    local_receivers: bool = False,
) -> str:
    """One attempt at one delivery: `delivered`, `retrying`, `failed` (the last attempt failed), `waiting` (not due
    yet: back on the queue) or `dropped` (the event aged out, or the endpoint was disabled or deleted)."""
    if delivery.due_at > now:
        queue.send([delivery], min(MAX_QUEUE_DELAY_SECONDS, delivery.due_at - now))
        return "waiting"
    event = events.get(delivery.event_id, now=now)
    stored = endpoints.get(delivery.endpoint_id)
    if event is None:
        return "dropped"
    if stored is None or stored.endpoint["status"] != "enabled" or stored.endpoint["livemode"] != event["livemode"]:
        events.webhook_settled(delivery.event_id)
        return "dropped"
    payload = json.dumps(event, separators=(",", ":")).encode("utf-8")
    secret = secrets.open(delivery.endpoint_id, stored.sealed_secret)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Stripe-Signature": signature_header(payload, secret, now),
    }
    try:
        post(stored.endpoint["url"], payload, headers, livemode=event["livemode"], local_receivers=local_receivers)
    except (DeliveryFailedError, UnsafeUrlError) as failure:
        delays = retry_delays(event["livemode"])
        if delivery.attempt <= len(delays):
            delay = delays[delivery.attempt - 1]
            retry = Delivery(
                delivery.event_id, delivery.endpoint_id, delivery.livemode, delivery.attempt + 1, now + delay,
                str(failure),
            )  # fmt: skip
            queue.send([retry], min(MAX_QUEUE_DELAY_SECONDS, delay))
            return "retrying"
        events.webhook_settled(delivery.event_id)
        final = Delivery(delivery.event_id, delivery.endpoint_id, delivery.livemode, delivery.attempt, now,
                         str(failure))  # fmt: skip
        queue.send_failed(final)
        return "failed"
    events.webhook_settled(delivery.event_id)
    return "delivered"
