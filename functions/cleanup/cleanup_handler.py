"""Scheduled: plan the cleanup of purged sessions, one queued unit per purge bucket and shard."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions.outbound.cleanup_queue import queue_units
from portal_sessions.runtime import clock
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.settings import cleanup_settings
from portal_sessions.store.sessions import SessionStore
from portal_sessions.use_cases.cleanup import plan_cleanup

cleanup_settings()  # at init: a bad setting fails the function's start with its message, not each request


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = cleanup_settings()
    plan = plan_cleanup(
        SessionStore(settings.table_name),
        now=clock.now(),
        lookback_hours=settings.cleanup_lookback_hours,
        shards=settings.purge_shards,
    )
    queue_units(settings.cleanup_queue_url, plan.units)
    logger.info("cleanup units queued", extra={"units": len(plan.units), "watermark": plan.watermark})
    metrics.add_metric(name="CleanupUnitsQueued", unit=MetricUnit.Count, value=len(plan.units))
    return {"units": len(plan.units), "watermark": plan.watermark}
