"""The webhook delivery queue: one signed attempt per message (see portal_sessions.webhook_delivery).

A message whose attempt could not even be made (the table or the queue failing) is reported back and SQS
redelivers it; the queue's redrive policy moves it to the failed-deliveries queue if that keeps happening.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions import clock
from portal_sessions.observability import logger, metrics
from portal_sessions.settings import webhook_delivery_settings
from portal_sessions.store.webhooks import EventStore, WebhookEndpointStore
from portal_sessions.webhook_delivery import Delivery, SqsDeliveryQueue, attempt
from portal_sessions.webhooks import endpoint_secrets

processor = BatchProcessor(event_type=EventType.SQS)
_METRICS = {"delivered": "WebhooksDelivered", "retrying": "WebhookAttemptsFailed", "failed": "WebhookDeliveriesFailed",
            "dropped": "WebhookDeliveriesDropped"}  # fmt: skip


def deliver_record(record: SQSRecord) -> None:
    settings = webhook_delivery_settings()
    delivery = Delivery.from_json(record.body)
    outcome = attempt(
        delivery,
        now=clock.now(),
        events=EventStore(settings.table_name),
        endpoints=WebhookEndpointStore(settings.table_name),
        secrets=endpoint_secrets(settings.webhook_secrets_key_id),
        queue=SqsDeliveryQueue(settings.webhook_delivery_queue_url, settings.webhook_failed_queue_url),
        local_receivers=settings.webhook_local_receivers == "true",
    )
    if outcome == "waiting":
        return
    details = {"event_id": delivery.event_id, "webhook_endpoint_id": delivery.endpoint_id, "attempt": delivery.attempt}
    if outcome == "failed":
        logger.error("webhook delivery failed after its last attempt", extra=details)
    else:
        logger.info(f"webhook {outcome}", extra=details)
    metrics.add_metric(name=_METRICS[outcome], unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=deliver_record, processor=processor, context=context
    )
    return dict(response)
