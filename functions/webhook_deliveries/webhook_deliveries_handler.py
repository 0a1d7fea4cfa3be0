"""A mode's webhook queue: events to dispatch (fan out to endpoints, publish to EventBridge) and single deliveries
(one signed attempt each); see portal_sessions.outbound.webhook_delivery.

The messages of a batch are handled at once, each on its own thread: an endpoint that answers slowly (up to its
attempt's deadline) delays no other endpoint's delivery. A message whose work could not even be done (the table,
the queue or EventBridge failing) is reported back and SQS redelivers it; the queue's redrive policy moves it to the
mode's failed queue if that keeps happening.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from portal_sessions.domain.webhooks import endpoint_secrets
from portal_sessions.outbound.eventbus import EventBridgePublisher, events_client
from portal_sessions.outbound.webhook_delivery import (
    AttemptRecorder,
    Delivery,
    EventMessage,
    RecordBudget,
    SqsDeliveryQueue,
    attempt,
    dispatch,
    message_from_json,
    sqs_client,
)
from portal_sessions.runtime import clock
from portal_sessions.runtime.errors import PublishError, RateLimitError, ServiceUnavailableError
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.parameter_providers import secrets_provider
from portal_sessions.runtime.settings import WebhookDeliverySettings, webhook_delivery_settings
from portal_sessions.store.cached_endpoints import CachedEndpointReads
from portal_sessions.store.table import dynamodb_client
from portal_sessions.store.webhook_attempts import WebhookAttemptStore
from portal_sessions.store.webhooks import EventStore, WebhookEndpointStore

_METRICS = {"delivered": "WebhooksDelivered", "retrying": "WebhookAttemptsFailed", "failed": "WebhookDeliveriesFailed",
            "dropped": "WebhookDeliveriesDropped", "disabled": "WebhookDeliveriesFailed"}  # fmt: skip
MAX_BATCH = 10  # the mappings' BatchSize, at most: one thread per message


def _queue(livemode: bool) -> SqsDeliveryQueue:
    settings = webhook_delivery_settings()
    if livemode:
        return SqsDeliveryQueue(settings.webhook_delivery_queue_url, settings.webhook_failed_queue_url)
    return SqsDeliveryQueue(settings.test_webhook_delivery_queue_url, settings.test_webhook_failed_queue_url)


@cache
def _endpoint_reads(settings: WebhookDeliverySettings) -> CachedEndpointReads:
    """One per environment (and per settings read: a test that changes them gets a new one)."""
    return CachedEndpointReads(
        WebhookEndpointStore(settings.table_name), max_age=settings.webhook_endpoint_cache_seconds
    )


@cache
def _record_budget(livemode: bool) -> RecordBudget:
    """This environment's share of each endpoint's attempt records (kept across invocations)."""
    settings = webhook_delivery_settings()
    return RecordBudget(settings.live_webhook_max_concurrency if livemode else settings.test_webhook_max_concurrency)


def _dispatch(message: EventMessage, counts: Counter[str]) -> None:
    settings = webhook_delivery_settings()
    queued, published = dispatch(
        message,
        now=clock.now(),
        events=EventStore(settings.table_name),
        endpoints=_endpoint_reads(settings),
        queue=_queue(message.livemode),
        publisher=EventBridgePublisher(settings.event_bus_name),
    )
    details = {"event_id": message.event_id, "webhooks": queued, "publishing": published}
    if published == "refused":
        logger.error("event refused by EventBridge: kept in the failed queue", extra=details)
        counts["EventsRefused"] += 1
    else:
        logger.info("event dispatched", extra=details)
    if published == "published":
        counts["EventsPublished"] += 1
    if queued:
        counts["WebhookDeliveriesQueued"] += queued


def _deliver(delivery: Delivery, counts: Counter[str]) -> None:
    settings = webhook_delivery_settings()
    outcome = attempt(
        delivery,
        now=clock.now(),
        events=EventStore(settings.table_name),
        endpoints=_endpoint_reads(settings),
        secrets=endpoint_secrets(settings.webhook_secrets_key_id),
        queue=_queue(delivery.livemode),
        local_receivers=settings.webhook_local_receivers == "true",
        deadline_seconds=settings.webhook_attempt_seconds,
        recorder=AttemptRecorder(WebhookAttemptStore(settings.table_name), _record_budget(delivery.livemode), counts),
    )
    if outcome == "waiting":
        return
    details = {"event_id": delivery.event_id, "webhook_endpoint_id": delivery.endpoint_id, "attempt": delivery.attempt}
    if outcome == "disabled":
        logger.error("webhook endpoint disabled: every attempt failed for its whole retry schedule", extra=details)
        if delivery.livemode:  # what pages: a live endpoint; a test one is its developer's to mend
            counts["LiveWebhookEndpointsDisabled"] += 1
    if outcome in ("failed", "disabled"):
        logger.error("webhook delivery failed after its last attempt", extra=details)
    else:
        logger.info(f"webhook {outcome}", extra=details)
    counts[_METRICS[outcome]] += 1


def handle_record(record: dict[str, Any], counts: Counter[str]) -> None:
    """One message's work; what it counts goes in `counts` (added to the metrics by the handler's own thread:
    Powertools' metrics take no lock)."""
    message = message_from_json(record["body"])
    if isinstance(message, EventMessage):
        _dispatch(message, counts)
    else:
        _deliver(message, counts)


# What a later receive may mend (the table, the queue or EventBridge failing): logged without a stack trace.
_PASSING_FAILURES = (PublishError, RateLimitError, ServiceUnavailableError, BotoCoreError, ClientError)


def _handled(record: dict[str, Any]) -> tuple[bool, Counter[str]]:
    counts: Counter[str] = Counter()
    try:
        handle_record(record, counts)
    except _PASSING_FAILURES as failure:
        logger.warning("webhook queue message not handled: it comes back", extra={
            "message_id": record.get("messageId"), "failure": f"{type(failure).__name__}: {failure}"})  # fmt: skip
        return False, counts
    except Exception:
        logger.exception("webhook queue message not handled", extra={"message_id": record.get("messageId")})
        return False, counts
    return True, counts


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    # made once, before the threads share them (boto3's default session is not thread-safe when making clients)
    dynamodb_client(), sqs_client(), events_client(), secrets_provider()
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_BATCH, len(records)))) as workers:
        handled = list(workers.map(_handled, records))
    failures = [{"itemIdentifier": record["messageId"]}
                for record, (ok, _counts) in zip(records, handled, strict=True) if not ok]  # fmt: skip
    counts: Counter[str] = sum((counted for _ok, counted in handled), Counter())
    counts["WebhookMessagesFailed"] += len(failures)
    for name, value in sorted(counts.items()):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return {"batchItemFailures": failures}
