"""Routing for the API functions with several routes, through Powertools' event handler, inside `api.api_handler`.

Routes read their request with `current_request(app)` and answer with api.py's responses, so every function, routed
or not, speaks through the same few functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..domain.auth import Caller
from ..runtime.errors import StripeError
from ..runtime.observability import metrics
from ..runtime.settings import ApiSettings
from ..use_cases.idempotency import IdempotencyClaim, OperationResult
from .api import (
    ApiRequest,
    LambdaHandler,
    api_handler,
    authenticated_caller,
    error_response,
    idempotent_response,
    json_response,
    unexpected_error_response,
)
from .routes import unrecognized_request


def routed_handler(app: APIGatewayHttpResolver) -> LambdaHandler:
    """The Lambda handler of a function whose routes are `app`'s; a request no route takes is answered as Stripe
    answers it (404, or 405 with `Allow`)."""

    @app.exception_handler(StripeError)
    def _stripe_error(error: StripeError) -> Response[str]:
        return route_response(error_response(error))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        return route_response(unexpected_error_response())

    @app.not_found
    def _unknown_route(_error: Exception) -> Response[str]:
        request = current_request(app)
        return route_response(error_response(unrecognized_request(request.method, request.path)))

    def answer(request: ApiRequest, context: LambdaContext) -> dict[str, Any]:
        app.context["api_request"] = request  # read once; the resolver clears its context after each event
        return app.resolve(request.event, context)

    return api_handler(answer)


def current_request(app: APIGatewayHttpResolver) -> ApiRequest:
    """The request being resolved, as api_handler read it."""
    request = app.context["api_request"]
    assert isinstance(request, ApiRequest)
    return request


def authenticated(app: APIGatewayHttpResolver, settings: ApiSettings) -> tuple[ApiRequest, Caller]:
    """The route's request, and who sent it (see api.authenticated_caller)."""
    request = current_request(app)
    return request, authenticated_caller(request, settings)


def counted_response(body: dict[str, Any], metric: str) -> Response[str]:
    """200 with the object, counted under the route's metric."""
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return route_response(json_response(200, body))


def idempotent_route_response(
    app: APIGatewayHttpResolver,
    request: ApiRequest,
    caller: Caller,
    params: dict[str, Any],
    table_name: str,
    run: Callable[[IdempotencyClaim | None], OperationResult],
) -> Response[str]:
    """A POST's answer: its use case run under its Idempotency-Key (see api.idempotent_response)."""
    return route_response(idempotent_response(request, caller, params, table_name, app.lambda_context, run))


def route_response(response: dict[str, Any]) -> Response[str]:
    """An api.py response as a route returns it to the resolver."""
    return Response(status_code=response["statusCode"], headers=response["headers"], body=response["body"])
