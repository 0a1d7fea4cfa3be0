"""From the cleanup queue: delete the due sessions of one purge bucket and shard per message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions.outbound.cleanup_queue import sqs_client, unit_from_message, unit_message
from portal_sessions.runtime import clock
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.settings import cleanup_worker_settings
from portal_sessions.store.sessions import SessionStore
from portal_sessions.use_cases.cleanup import clean_unit

SAFETY_MILLISECONDS = 30_000  # stop a unit this long before the timeout, to queue its continuation in time
processor = BatchProcessor(event_type=EventType.SQS)


def _clean(record: SQSRecord, context: LambdaContext) -> None:
    settings = cleanup_worker_settings()
    unit = unit_from_message(record.body)
    outcome = clean_unit(
        SessionStore(settings.table_name, purge_shards=settings.purge_shards),
        unit,
        now=clock.now(),
        max_deletes=settings.cleanup_max_deletes,
        out_of_time=lambda: context.get_remaining_time_in_millis() < SAFETY_MILLISECONDS,
    )
    if not outcome.finished:  # the rest in another invocation: a unit's work per invocation stays bounded
        sqs_client().send_message(QueueUrl=settings.cleanup_queue_url, MessageBody=unit_message(unit))
    logger.info(
        "cleanup unit worked",
        extra={"bucket": unit.bucket, "shard": unit.shard, "deleted": outcome.deleted, "finished": outcome.finished},
    )
    metrics.add_metric(name="PurgedSessionsDeleted", unit=MetricUnit.Count, value=outcome.deleted)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=lambda record: _clean(record, context), processor=processor, context=context
    )
