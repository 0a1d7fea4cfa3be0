"""Glue between API Gateway (HTTP API, payload 2.0) and the domain: requests, responses, errors, the handler wrapper.

The one module of the package that knows HTTP API events. It imports no router: create answers its one route
without Powertools' event handler package (about 100 ms of cold start); functions with several routes resolve them
through Powertools' resolver (web.py), inside the same wrapper.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..domain.auth import Caller, authenticate, load_key_hashes
from ..runtime.errors import InvalidRequestError, PermissionDeniedError, RequestTooLargeError, StripeError
from ..runtime.observability import logger, metrics
from ..runtime.settings import ApiSettings
from ..store.api_keys import ApiKeyStore
from ..store.idempotency import IdempotencyRecordStore
from ..stripe_wire.api_version import answered_version, requested_version
from ..stripe_wire.wire import MAX_BODY_BYTES, decode_body, decode_form
from ..use_cases.idempotency import IdempotencyClaim, IdempotentRequest, OperationResult, run_idempotently
from .request_log import logged_request

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


@dataclass(frozen=True)
class ApiRequest:
    """One API request, read once: its method, path, lower-cased headers and the raw event (body, query, context)."""

    method: str
    path: str
    headers: dict[str, str]
    event: dict[str, Any]

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ApiRequest:
        http = (event.get("requestContext") or {}).get("http") or {}
        headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        return cls(str(http.get("method", "")), str(event.get("rawPath", "")), headers, event)

    @property
    def route_path(self) -> str:
        """The path as the API's routes name it: without the stage's prefix when the API has a named stage."""
        stage = (self.event.get("requestContext") or {}).get("stage", "$default")
        prefix = f"/{stage}"
        if stage != "$default" and (self.path == prefix or self.path.startswith(prefix + "/")):
            return self.path[len(prefix) :] or "/"
        return self.path

    @cached_property
    def api_version(self) -> str:
        """The `Stripe-Version` asked for (its date), checked once."""
        return requested_version(self.headers.get("stripe-version"))

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def operation(self) -> str:
        return f"{self.method} {self.path}"


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": dict(JSON_HEADERS) | (headers or {}),
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def error_response(error: StripeError) -> dict[str, Any]:
    """A StripeError as Stripe answers it, counted by its reason."""
    logger.append_keys(error_type=error.error_type, error_code=error.code, error_param=error.param)
    reason = "unrecognized_url" if error.http_status in (404, 405) and error.code is None else error.code
    metrics.add_dimension(name="reason", value=reason or error.error_type)  # flushed with this request only
    metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
    return json_response(error.http_status, error.to_dict(), error.response_headers())


def unexpected_error_response() -> dict[str, Any]:
    logger.exception("unexpected error")
    metrics.add_metric(name="UnexpectedErrors", unit=MetricUnit.Count, value=1)
    return json_response(
        500, {"error": {"type": "api_error", "message": "An unknown error occurred. Please try again."}}
    )


def api_handler(answer: Callable[[ApiRequest, LambdaContext], dict[str, Any]]) -> LambdaHandler:
    """The Lambda handler of an API function: observability, one logged request with its `Request-Id`, the
    `Stripe-Version` it answered in, and every failure as a Stripe-shaped JSON error, never a stack trace."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        request = ApiRequest.from_event(event)

        def respond() -> dict[str, Any]:
            try:
                response = answer(request, context)
            except StripeError as error:
                response = error_response(error)
            except Exception:
                response = unexpected_error_response()
            version = answered_version(request.headers.get("stripe-version"))
            if version is not None:
                response.setdefault("headers", {})["Stripe-Version"] = version
            return response

        return logged_request(event, respond)

    handler: LambdaHandler = lambda_handler  # Powertools' decorators are untyped
    return handler


def authenticated_caller(
    request: ApiRequest, settings: ApiSettings, *, restricted_keys_allowed: bool = False
) -> Caller:
    """Who is calling, from the Authorization header, as Stripe checks it (with the Stripe-Version header)."""
    request.api_version  # noqa: B018 (a malformed Stripe-Version is refused before the key is read)
    keys = ApiKeyStore(settings.table_name)
    caller = authenticate(
        request.headers.get("authorization"), lambda: load_key_hashes(settings.api_keys_parameter), keys.find
    )
    logger.append_keys(livemode=caller.livemode, key_fingerprint=caller.key_fingerprint)
    if caller.restricted and not restricted_keys_allowed:
        raise PermissionDeniedError(
            f"The provided key '{caller.masked_key}' does not have the required permissions for this endpoint. "
            "Restricted keys may only create portal sessions."
        )
    if request.headers.get("stripe-account"):
        raise InvalidRequestError("The Stripe-Account header is not supported by this service.")
    return caller


def idempotent_response(
    request: ApiRequest,
    caller: Caller,
    params: dict[str, Any],
    table_name: str,
    context: LambdaContext | None,
    run: Callable[[IdempotencyClaim | None], OperationResult],
) -> dict[str, Any]:
    """A POST's answer: its use case run under its Idempotency-Key (a replay marked as Stripe marks it)."""
    result = run_idempotently(
        IdempotentRequest(request.idempotency_key, caller, request.operation, params),
        IdempotencyRecordStore(table_name),
        run,
        now_ms=time.time_ns() // 1_000_000,  # the claim's window to the millisecond, as Lambda's deadline is
        remaining_ms=None if context is None else context.get_remaining_time_in_millis(),
    )
    headers = {}
    if request.idempotency_key is not None:
        headers["Idempotency-Key"] = request.idempotency_key
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
        metrics.add_metric(name="IdempotentReplays", unit=MetricUnit.Count, value=1)
    return json_response(200, result.body, headers)


def body_params(request: ApiRequest) -> dict[str, Any]:
    return decode_body(request_body(request.event), request.headers.get("content-type"))


def query_params(request: ApiRequest) -> dict[str, Any]:
    return decode_form(request.event.get("rawQueryString") or "")


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


def public_base_url(request: ApiRequest, configured: str) -> str:
    """Where the session URL points: the configured public URL, or the API's own domain as API Gateway names it.

    Deployed, API Gateway serves only HTTPS, so the scheme is https whatever X-Forwarded-Proto claims; plain http is
    believed only for a loopback host (the local gateway). The host is `requestContext.domainName`: API Gateway routed
    the request by it, so it is one of the API's own domains.
    """
    if configured:
        return configured.rstrip("/")
    context = request.event.get("requestContext") or {}
    host = str(context.get("domainName") or request.headers.get("host") or "")
    if not _HOST.fullmatch(host):
        raise InvalidRequestError("The request's host is not a valid host name.")
    claimed = str(request.headers.get("x-forwarded-proto", "")).split(",")[0].strip().lower()
    loopback = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    scheme = "http" if claimed == "http" and loopback.lower() in _LOOPBACK_HOSTS else "https"
    stage = context.get("stage", "$default")
    return f"{scheme}://{host}" + ("" if stage == "$default" else f"/{stage}")
