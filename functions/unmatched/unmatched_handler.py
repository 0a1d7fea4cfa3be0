"""API Gateway's `$default` route: any method and path no other route takes gets Stripe's error, never
API Gateway's bare `{"message": "Not Found"}` (which the Stripe SDKs cannot read)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions.api_gateway.api import ApiRequest, api_handler
from portal_sessions.api_gateway.routes import unrecognized_request


def unmatched_route(request: ApiRequest, context: LambdaContext) -> dict[str, Any]:
    """404 for a path the API does not serve, 405 with `Allow` for one it serves with other methods."""
    raise unrecognized_request(request.method, request.path)


lambda_handler = api_handler(unmatched_route)
