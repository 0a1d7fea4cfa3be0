"""API Gateway's `$default` route: any method and path no other route takes gets Stripe's error, never
API Gateway's bare `{"message": "Not Found"}` (which the Stripe SDKs cannot read)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions.observability import logger, metrics, traced
from portal_sessions.web import new_resolver, resolve

app = new_resolver()  # no routes: every request is answered by its not-found handler (404, or 405 with Allow)


@traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
