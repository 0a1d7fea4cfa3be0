"""Scheduled: delete expired sessions that DynamoDB's TTL has not removed yet."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions import clock
from portal_sessions.cleanup import cleanup_expired_sessions
from portal_sessions.observability import logger, metrics, traced
from portal_sessions.settings import cleanup_settings
from portal_sessions.store import SessionStore

cleanup_settings()  # at init: a bad setting fails the function's start with its message, not each request


@traced
@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = cleanup_settings()
    deleted = cleanup_expired_sessions(
        SessionStore(settings.table_name), now=clock.now(), lookback_hours=settings.cleanup_lookback_hours
    )
    logger.info("expired sessions deleted", extra={"deleted": deleted})
    metrics.add_metric(name="ExpiredSessionsDeleted", unit=MetricUnit.Count, value=deleted)
    return {"deleted": deleted}
