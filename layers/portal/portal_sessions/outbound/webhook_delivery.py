"""The event pipeline behind the table's stream: each event stored and queued once, then published and fanned out to
webhook endpoints, each endpoint's delivery on its own.

1. The events function (the stream's consumer) does only what cannot fail for a record's content: it stores the
   event (once: its id comes from the record's) and puts one `EventMessage` on its mode's queue. Send, then mark: a
   crash between the two queues it twice, never zero times.
2. The delivery function takes the message (`dispatch`): it reads the mode's endpoints (at most 16)
   and queues one `Delivery` per subscribed endpoint, then publishes the event to EventBridge. Each step is marked
   done when done, so a redelivered message repeats neither; one failing does not stop the other.
3. Each `Delivery` is one attempt (`attempt`). A failed attempt puts the next one back on the queue, due after the
   mode's next back-off delay (SQS delays a message at most 15 minutes, so a message that arrives before it is due
   goes back for the rest of its wait). After the last attempt it goes to the mode's failed queue, which an alarm
   watches. Every attempt is signed afresh (verifiers refuse a `t` older than five minutes); repeats carry the same
   event id. Each attempt is added to its endpoint's recent attempts (`AttemptRecorder`), for an operator; a record
   that cannot be written is logged and counted, and never fails or repeats the delivery.

Test and live mode have a queue each (and a failed queue each), each read by its own mapping with its own maximum
concurrency: a flood of test events or failing test endpoints waits in the test queue, never in front of live ones.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from botocore.config import Config

from ..domain.webhooks import EndpointSecrets, retry_delays, signature_header, wants
from ..runtime.errors import ConditionFailedError, DeliveryFailedError, PublishRefusedError, UnsafeUrlError
from ..runtime.observability import logger
from ..store.ports import FANNED_OUT, PUBLISHED, QUEUED
from ..store.webhook_attempts import AttemptRecord
from ..store.webhooks import event_json
from .delivery_safety import ATTEMPT_TIMEOUT_SECONDS, post

if TYPE_CHECKING:
    from collections import Counter

    from ..store.ports import AttemptLog, DeliveryEndpoints, EventRepository

MAX_QUEUE_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
USER_AGENT = "portal-sessions-webhooks/1.0"


EVENT_RETENTION_SECONDS = 30 * 86400


@dataclass(frozen=True)
class EventMessage:
    """An event stored and waiting to be published and fanned out."""

    event_id: str
    livemode: bool
    kind: str = "event"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


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


def message_from_json(text: str) -> EventMessage | Delivery:
    """A queue message: an event to dispatch, or one endpoint's delivery (messages without a kind are deliveries)."""
    fields = json.loads(text)
    if fields.pop("kind", "delivery") == "event":
        return EventMessage(fields["event_id"], bool(fields["livemode"]))
    return Delivery(**fields)


def replay_of(failed_body: str) -> tuple[EventMessage | Delivery, bool]:
    """What goes back on a mode's webhook queue for a message of its failed queue, and whether the event must be
    published again: a failed delivery starts a fresh retry schedule; an event EventBridge refused is dispatched
    again (its webhooks are not sent twice: their step stays marked); a message that kept failing goes back as it
    was."""
    fields = json.loads(failed_body)
    if "unpublished" in fields:
        return EventMessage(fields["event_id"], bool(fields["livemode"])), True
    message = message_from_json(failed_body)
    if isinstance(message, Delivery):
        return Delivery(message.event_id, message.endpoint_id, message.livemode), False
    return message, False


class DeliveryQueue(Protocol):
    """One mode's queue and failed queue."""

    def send(self, deliveries: list[Delivery], delay_seconds: int = 0) -> None: ...

    def send_event(self, message: EventMessage) -> None: ...

    def send_failed(self, delivery: Delivery) -> None: ...

    def send_unpublished(self, message: EventMessage, reason: str) -> None: ...


class EventPublisher(Protocol):
    def publish(self, event: dict[str, Any]) -> None: ...


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

    def send_event(self, message: EventMessage) -> None:
        sqs_client().send_message(QueueUrl=self.queue_url, MessageBody=message.to_json())

    def send_failed(self, delivery: Delivery) -> None:
        sqs_client().send_message(QueueUrl=self.failed_queue_url, MessageBody=delivery.to_json())

    def send_unpublished(self, message: EventMessage, reason: str) -> None:
        body = json.dumps({**asdict(message), "unpublished": reason}, separators=(",", ":"))
        sqs_client().send_message(QueueUrl=self.failed_queue_url, MessageBody=body)


# The attempts a second one endpoint's item may record from all the delivery environments of its mode: each costs
# 2.44 write units (store/webhook_attempts.py), so 250 keep the item at about 610 of DynamoDB's 1,000 a second.
ATTEMPT_RECORDS_PER_ENDPOINT_SECOND = 250


class RecordBudget:
    """How many attempts this process may record per endpoint each second: the mode's share of
    ATTEMPT_RECORDS_PER_ENDPOINT_SECOND over its most environments at once (its mapping's MaximumConcurrency), at
    least one. Past it an attempt goes unrecorded (counted): an endpoint taking hundreds of attempts a second shows
    a sample of them. Shared by the handler's threads."""

    def __init__(self, max_environments: int) -> None:
        self.per_second = max(1, ATTEMPT_RECORDS_PER_ENDPOINT_SECOND // max(1, max_environments))
        self._lock = threading.Lock()
        self._used: dict[str, tuple[int, int]] = {}  # endpoint id: (second, attempts recorded in it)

    def take(self, endpoint_id: str, now: int) -> bool:
        with self._lock:
            second, used = self._used.get(endpoint_id, (now, 0))
            if second != now:
                used = 0
            if used >= self.per_second:
                return False
            self._used[endpoint_id] = (now, used + 1)
            return True


class AttemptRecorder:
    """Adds each attempt to its endpoint's recent attempts, within the budget; never raises: a record that could not
    be written is logged and counted (`WebhookAttemptsNotRecorded`), and the delivery goes on as if it had been."""

    def __init__(self, log: AttemptLog, budget: RecordBudget, counts: Counter[str]) -> None:
        self.log = log
        self.budget = budget
        self.counts = counts

    def record(self, delivery: Delivery, attempt: AttemptRecord) -> None:
        if not self.budget.take(delivery.endpoint_id, attempt.at):
            self.counts["WebhookAttemptsSampledOut"] += 1
            return
        try:
            self.log.record(delivery.endpoint_id, delivery.livemode, attempt)
        except Exception as failure:  # noqa: BLE001 - the delivery's outcome must not depend on its record
            self.counts["WebhookAttemptsNotRecorded"] += 1
            logger.warning("webhook attempt not recorded", extra={
                "event_id": delivery.event_id, "webhook_endpoint_id": delivery.endpoint_id,
                "attempt": delivery.attempt, "failure": type(failure).__name__})  # fmt: skip
        else:
            self.counts["WebhookAttemptsRecorded"] += 1


def store_and_queue(event: dict[str, Any], events: EventRepository, queue: DeliveryQueue) -> bool:
    """Store an event and queue it for dispatch, once; False if a retried record found both done already."""
    if not events.put_new(event) and QUEUED in events.steps_done(event["id"]):
        return False
    queue.send_event(EventMessage(event["id"], event["livemode"]))
    events.mark_done(event["id"], [QUEUED], purge_at=event["created"] + EVENT_RETENTION_SECONDS)
    return True


def dispatch(
    message: EventMessage,
    *,
    now: int,
    events: EventRepository,
    endpoints: DeliveryEndpoints,
    queue: DeliveryQueue,
    publisher: EventPublisher,
) -> tuple[int | None, str]:
    """Fan an event out to its mode's subscribed endpoints and publish it, each once: (deliveries queued, or None if
    that was done before; how publishing went: `published`, `refused` (kept in the failed queue), `done` before,
    or `dropped` (the event aged out)). A step that fails for a reason a retry may mend raises after the other step
    was tried, so the message comes back for that step alone."""
    event = events.get(message.event_id, now=now)
    if event is None:
        return None, "dropped"
    done = events.steps_done(message.event_id)
    purge_at = event["created"] + EVENT_RETENTION_SECONDS
    queued: int | None = None
    failure: Exception | None = None
    done_now: list[str] = []  # marked together at the end: one write for both steps, as a rule
    if FANNED_OUT not in done:
        try:
            subscribed = [e for e in endpoints.all_of_mode(event["livemode"]) if wants(e, event["type"])]
            deliveries = [Delivery(event["id"], endpoint["id"], event["livemode"]) for endpoint in subscribed]
            if deliveries:  # stored with none pending: a write only when there are some
                events.set_pending_webhooks(event["id"], len(deliveries))
                queue.send(deliveries)
            done_now.append(FANNED_OUT)
            event["pending_webhooks"] = queued = len(deliveries)
        except Exception as exc:  # noqa: BLE001 - publishing is still tried; the message is retried for this
            failure = exc
    outcome = "done"
    if PUBLISHED not in done:
        try:
            publisher.publish(event)
            outcome = "published"
        except PublishRefusedError as refused:  # final: kept where an operator sees it, not retried for a day
            queue.send_unpublished(message, str(refused))
            outcome = "refused"
        except Exception:
            if done_now:  # the retry publishes, and does not send the webhooks again
                events.mark_done(event["id"], done_now, purge_at=purge_at)
            raise
        done_now.append(PUBLISHED)
    if done_now:
        events.mark_done(event["id"], done_now, purge_at=purge_at)
    if failure is not None:
        raise failure
    return queued, outcome


def attempt(
    delivery: Delivery,
    *,
    now: int,
    events: EventRepository,
    endpoints: DeliveryEndpoints,
    secrets: EndpointSecrets,
    queue: DeliveryQueue,
    local_receivers: bool = False,
    deadline_seconds: float = ATTEMPT_TIMEOUT_SECONDS,
    recorder: AttemptRecorder | None = None,
) -> str:
    """One attempt at one delivery: `delivered`, `retrying`, `failed` (the last attempt failed), `disabled` (the last
    attempt failed, and so had every attempt at the endpoint over the whole retry schedule: it is disabled, as Stripe
    disables an endpoint that keeps failing), `waiting` (not due yet: back on the queue) or `dropped` (the event aged
    out, or the endpoint was disabled or deleted)."""
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
    payload = event_json(event).encode("utf-8")
    secret = secrets.open(delivery.endpoint_id, stored.sealed_secret)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Stripe-Signature": signature_header(payload, secret, now),
    }
    started = time.monotonic()

    def record(status: int | None, failure: str | None, next_retry_at: int | None) -> None:
        if recorder is not None:  # after the delivery's own state is safe
            recorder.record(delivery, AttemptRecord(
                at=now, event_id=delivery.event_id, event_type=event["type"], attempt=delivery.attempt,
                status=status, failure=failure, duration_ms=duration_ms, next_retry_at=next_retry_at))  # fmt: skip

    try:
        status = post(stored.endpoint["url"], payload, headers, livemode=event["livemode"],
                      local_receivers=local_receivers, timeout=deadline_seconds)  # fmt: skip
    except (DeliveryFailedError, UnsafeUrlError) as failure:
        duration_ms = round((time.monotonic() - started) * 1000)
        answered = failure.status if isinstance(failure, DeliveryFailedError) else None
        delays = retry_delays(event["livemode"])
        if stored.failing_since is None:
            endpoints.mark_failing(delivery.endpoint_id, since=now)
        if delivery.attempt <= len(delays):
            delay = delays[delivery.attempt - 1]
            retry = Delivery(
                delivery.event_id, delivery.endpoint_id, delivery.livemode, delivery.attempt + 1, now + delay,
                str(failure),
            )  # fmt: skip
            queue.send([retry], min(MAX_QUEUE_DELAY_SECONDS, delay))
            record(answered, failure.kind, now + delay)
            return "retrying"
        final = Delivery(delivery.event_id, delivery.endpoint_id, delivery.livemode, delivery.attempt, now,
                         str(failure))  # fmt: skip
        queue.send_failed(final)  # kept first: if settling fails, the retry of this message is one more POST at most
        record(answered, failure.kind, None)
        events.webhook_settled(delivery.event_id)
        failing_since = now if stored.failing_since is None else stored.failing_since
        if failing_since <= now - sum(delays):
            try:
                endpoints.disable(stored)
            except ConditionFailedError:
                return "failed"  # changed meanwhile (by its owner, or another delivery disabling it)
            return "disabled"
        return "failed"
    duration_ms = round((time.monotonic() - started) * 1000)
    if stored.failing_since is not None:
        endpoints.clear_failing(delivery.endpoint_id)
    events.webhook_settled(delivery.event_id)
    record(status, None, None)
    return "delivered"
