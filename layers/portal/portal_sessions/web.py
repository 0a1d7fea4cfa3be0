"""Glue between API Gateway (through Powertools' event handler) and the domain: responses and errors.

This is the one module of the package that knows HTTP API events; handlers use it to stay thin.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from .api_version import answered_version, requested_version
from .auth import Caller, authenticate, load_key_hashes
from .errors import (
    InvalidRequestError,
    MethodNotAllowedError,
    PermissionDeniedError,
    RequestTooLargeError,
    StripeError,
)
from .observability import logger, metrics
from .request_log import logged_request
from .routes import unrecognized_request
from .settings import ApiSettings
from .store.api_keys import ApiKeyStore
from .wire import MAX_BODY_BYTES, decode_body, decode_form

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def json_response(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, headers=dict(JSON_HEADERS), body=json.dumps(body))


def stripe_error_response(error: StripeError) -> Response[str]:
    logger.append_keys(error_type=error.error_type, error_code=error.code, error_param=error.param)
    reason = "unrecognized_url" if error.http_status in (404, 405) and error.code is None else error.code
    metrics.add_dimension(name="reason", value=reason or error.error_type)  # flushed with this request only
    metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
    response = json_response(error.http_status, error.to_dict())
    if isinstance(error, MethodNotAllowedError):
        response.headers["Allow"] = ", ".join(error.allowed)
    return response


def new_resolver() -> APIGatewayHttpResolver:
    """A resolver whose every failure is a Stripe-shaped JSON error and never a stack trace."""
    app = APIGatewayHttpResolver()

    @app.exception_handler(StripeError)
    def _stripe_error(error: StripeError) -> Response[str]:
        return stripe_error_response(error)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unexpected error")
        metrics.add_metric(name="UnexpectedErrors", unit=MetricUnit.Count, value=1)
        body = {"error": {"type": "api_error", "message": "An unknown error occurred. Please try again."}}
        return json_response(500, body)

    @app.not_found
    def _unknown_route(_error: Exception) -> Response[str]:
        event = app.current_event
        return stripe_error_response(unrecognized_request(event.request_context.http.method, event.raw_path))

    return app


def resolve(app: APIGatewayHttpResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route the event through the resolver, as one logged request, its answer naming its API version."""

    def respond() -> dict[str, Any]:
        response = app.resolve(event, context)
        version = answered_version((event.get("headers") or {}).get("stripe-version"))
        if version is not None:
            response.setdefault("headers", {})["Stripe-Version"] = version
        return response

    return logged_request(event, respond)


def authenticated_caller(
    event: APIGatewayProxyEventV2, settings: ApiSettings, *, restricted_keys_allowed: bool = False
) -> Caller:
    """Who is calling, from the Authorization header, as Stripe checks it (with the Stripe-Version header)."""
    requested_version(event.headers.get("stripe-version"))
    keys = ApiKeyStore(settings.table_name)
    caller = authenticate(
        event.headers.get("authorization"), lambda: load_key_hashes(settings.api_keys_parameter), keys.find
    )
    logger.append_keys(livemode=caller.livemode, key_fingerprint=caller.key_fingerprint)
    if caller.restricted and not restricted_keys_allowed:
        raise PermissionDeniedError(
            f"The provided key '{caller.masked_key}' does not have the required permissions for this endpoint. "
            "Restricted keys may only create portal sessions."
        )
    if event.headers.get("stripe-account"):
        raise InvalidRequestError("The Stripe-Account header is not supported by this service.")
    return caller


def body_params(event: APIGatewayProxyEventV2) -> dict[str, Any]:
    return decode_body(request_body(event.raw_event), event.headers.get("content-type"))


def query_params(event: APIGatewayProxyEventV2) -> dict[str, Any]:
    return decode_form(event.raw_query_string or "")


def request_body(event: dict[str, Any]) -> bytes:
    """The raw body bytes, refusing oversized bodies before any parsing."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES * 4) // 3 + 4:
            raise _too_large()
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:  # not base64, or not even ASCII
            raise InvalidRequestError("Invalid request body: it is not valid base64.") from None
    else:
        try:
            raw = body.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 text has one
            raise InvalidRequestError("Invalid request body: it must be UTF-8 encoded.") from None
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    return raw


def _too_large() -> RequestTooLargeError:
    return RequestTooLargeError(f"Request bodies may be at most {MAX_BODY_BYTES} bytes.")


_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def public_base_url(event: dict[str, Any], configured: str) -> str:
    """Where the session URL points: the configured public URL, or the API's own domain as API Gateway names it.

    Deployed, API Gateway serves only HTTPS, so the scheme is https whatever X-Forwarded-Proto claims; plain http is
    believed only for a loopback host (the local gateway). The host is `requestContext.domainName`: API Gateway routed
    the request by it, so it is one of the API's own domains.
    """
    if configured:
        return configured.rstrip("/")
    context = event.get("requestContext") or {}
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    host = str(context.get("domainName") or headers.get("host") or "")
    if not _HOST.fullmatch(host):
        raise InvalidRequestError("The request's host is not a valid host name.")
    claimed = str(headers.get("x-forwarded-proto", "")).split(",")[0].strip().lower()
    loopback = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    scheme = "http" if claimed == "http" and loopback.lower() in _LOOPBACK_HOSTS else "https"
    stage = context.get("stage", "$default")
    return f"{scheme}://{host}" + ("" if stage == "$default" else f"/{stage}")
