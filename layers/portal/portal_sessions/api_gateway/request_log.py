"""One structured log line per request, and the `Request-Id` Stripe stamps on every response.

Shared by the API functions (behind Powertools' resolver) and the redirect (which has one route and no resolver).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from ..domain.tokens import new_request_id
from ..runtime.observability import logger

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def logged_request(event: dict[str, Any], respond: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Answer the request with `respond`, stamp the response with a `Request-Id`, and log one line for it.

    The line names the route (its template, e.g. `GET /p/session/{token}`), never the path: a session URL's path is
    its secret token.
    """
    started = time.perf_counter()
    # The logger outlives the request in a warm Lambda (and `make run` serves every function from one): whatever
    # keys this request adds, the next one starts from the keys there were before it.
    before = dict(logger.get_current_keys())
    try:
        request_id = new_request_id()
        _request_id.set(request_id)
        logger.append_keys(stripe_request_id=request_id)
        response = respond()
        response.setdefault("headers", {})["Request-Id"] = request_id
        logger.info(
            "request",
            extra={
                "route": event.get("routeKey"),
                "status": response.get("statusCode"),
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
    finally:
        logger.remove_keys([name for name in logger.get_current_keys() if name not in before])
        logger.append_keys(**before)
    return response
