"""The sessions table's stream: each change that means a Stripe-shaped `billing_portal.session.*` or
`billing_portal.configuration.*` event is stored (for the events API) and queued once on its mode's webhook queue,
where publishing to EventBridge and the webhooks happen (portal_sessions.outbound.webhook_delivery).

Only what cannot fail for a record's content happens here, so no record can hold the stream: a record that no retry
could turn into an event (not understood, or refused by DynamoDB as invalid) is kept in the failed-records queue with
its keys and the reason, counted and logged, and the records behind it go on. A failure a retry may mend (throttling,
an unavailable table or queue) stops the batch at that record: Lambda resumes from it (partial batch response), so
events stay in order per item, and after the mapping's last retry its position goes to the same queue.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions.outbound.eventbus import event_from_stream_record
from portal_sessions.outbound.webhook_delivery import SqsDeliveryQueue, sqs_client, store_and_queue
from portal_sessions.runtime.errors import InvalidRequestError
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.settings import session_events_settings
from portal_sessions.store.webhooks import EventStore

session_events_settings()  # at init: a bad setting fails the function's start with its message, not each record
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class EarlierRecordFailedError(Exception):
    """Not tried: a record before it in the batch failed, and Lambda resumes from that one."""


def keep_failed_record(record: DynamoDBRecord, reason: str) -> None:
    """Where an operator finds a record no retry can turn into an event: its position and keys (never its images,
    which may hold what the item held), and why."""
    change = record.raw_event.get("dynamodb", {})
    kept = {
        "failed_record": {
            "eventID": record.event_id,
            "eventName": record.raw_event.get("eventName"),
            "eventSourceARN": record.raw_event.get("eventSourceARN"),
            "SequenceNumber": change.get("SequenceNumber"),
            "ApproximateCreationDateTime": change.get("ApproximateCreationDateTime"),
            "Keys": change.get("Keys"),
        },
        "reason": reason,
    }
    queue_url = session_events_settings().session_events_failed_queue_url
    sqs_client().send_message(QueueUrl=queue_url, MessageBody=json.dumps(kept, separators=(",", ":")))
    logger.error("stream record kept as failed", extra={"event_id": record.event_id, "reason": reason})
    metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=1)


def _record_handler() -> Any:
    failed = False
    settings = session_events_settings()
    events = EventStore(settings.table_name, list_shards=settings.event_list_shards)

    def handle(record: DynamoDBRecord) -> None:
        nonlocal failed
        if failed:
            raise EarlierRecordFailedError(record.dynamodb.sequence_number if record.dynamodb else None)
        try:
            try:
                event = event_from_stream_record(record.raw_event)
            except Exception as exc:  # noqa: BLE001 - a record no retry can fix
                keep_failed_record(record, f"not understood: {type(exc).__name__}")
                return
            if event is None:
                return
            queue = SqsDeliveryQueue(settings.queue_url_for(event["livemode"]))
            try:
                queued = store_and_queue(event, events, queue)
            except InvalidRequestError:  # DynamoDB refused the event as invalid: the same every time
                keep_failed_record(record, "the event store refused the event as invalid")
                return
        except Exception:
            failed = True
            raise
        logger.info("event stored", extra={"event_type": event["type"], "event_id": event["id"], "queued": queued})
        metrics.add_metric(name="EventsStored", unit=MetricUnit.Count, value=1)

    return handle


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="StreamRecordsRead", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    handler = _record_handler()
    response = process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
    failed = len(response.get("batchItemFailures", []))
    if failed:
        logger.warning("events not stored", extra={"records": failed})
        metrics.add_metric(name="EventsNotStored", unit=MetricUnit.Count, value=failed)
    return dict(response)
