"""The sessions table's stream: Stripe-shaped `billing_portal.session.*` and `billing_portal.configuration.*` events,
stored for the events API, published to EventBridge and queued for each subscribed webhook endpoint.

Records come in order per item. Once one cannot be handled, the rest of the batch is not tried: Lambda resumes
from the first record reported (partial batch response), so events stay in order and nothing after it is skipped (a

session_events_settings()  # at init: a bad setting fails the function's start with its message, not each request
batch whose every record failed raises, and is retried whole).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions.eventbus import event_from_stream_record, publish
from portal_sessions.observability import logger, metrics
from portal_sessions.settings import session_events_settings
from portal_sessions.store.webhooks import EventStore, WebhookEndpointStore
from portal_sessions.webhook_delivery import SqsDeliveryQueue, fan_out

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class EarlierRecordFailedError(Exception):
    """Not tried: a record before it in the batch failed, and Lambda resumes from that one."""


def _publisher() -> Any:
    failed = False
    settings = session_events_settings()
    endpoints: dict[bool, list[dict[str, Any]]] = {}  # per mode, read once per batch

    def publish_record(record: DynamoDBRecord) -> None:
        nonlocal failed
        if failed:
            raise EarlierRecordFailedError(record.dynamodb.sequence_number if record.dynamodb else None)
        try:
            event = event_from_stream_record(record.raw_event)
        except Exception:  # a record no retry can fix: say so, and do not hold the stream up behind it
            logger.exception("stream record not understood", extra={"event_id": record.event_id})
            metrics.add_metric(name="StreamRecordsNotUnderstood", unit=MetricUnit.Count, value=1)
            return
        if event is None:
            return
        try:
            livemode = event["livemode"]
            if livemode not in endpoints:
                endpoints[livemode] = WebhookEndpointStore(settings.table_name).all_of_mode(livemode)
            queue = SqsDeliveryQueue(settings.webhook_delivery_queue_url)
            deliveries = fan_out(event, endpoints[livemode], EventStore(settings.table_name), queue)
            publish(settings.event_bus_name, {**event, "pending_webhooks": len(deliveries)})
        except Exception:
            failed = True
            raise
        logger.info(
            "event published",
            extra={"event_type": event["type"], "event_id": event["id"], "webhooks": len(deliveries)},
        )
        metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=1)
        if deliveries:
            metrics.add_metric(name="WebhookDeliveriesQueued", unit=MetricUnit.Count, value=len(deliveries))

    return publish_record


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="StreamRecordsRead", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    response = process_partial_response(event=event, record_handler=_publisher(), processor=processor, context=context)
    failed = len(response.get("batchItemFailures", []))
    if failed:
        logger.warning("events not published", extra={"records": failed})
        metrics.add_metric(name="EventsNotPublished", unit=MetricUnit.Count, value=failed)
    return dict(response)
