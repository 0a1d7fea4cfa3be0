"""Requests that no route of the API takes, answered as Stripe answers them (API Gateway's `$default` route).

The routes are the OpenAPI document's operations (a test holds them equal to template.yaml's), so a route added
there is known here too.
"""

from __future__ import annotations

import re
from functools import cache

from ..runtime.errors import MethodNotAllowedError, StripeError, UnrecognizedUrlError

# Stripe's message, but for where help is: Stripe's support desk cannot help with this service
_HELP = "Please see this service's API reference at /v1/openapi.json; the team that runs it can help."
_TRAILING_SLASH_HELP = (
    "If you are trying to list objects, remove the trailing slash. If you are trying to retrieve an object, make "
    "sure you passed a valid (non-empty) identifier in your code. "
)


@cache
def _route_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    # Imported here: the document's models are a cold start's largest import, and only a refused URL needs them.
    from .openapi import OPERATIONS

    def pattern(path: str) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")

    return tuple((pattern(operation.path), operation.method.upper()) for operation in OPERATIONS)


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods the API serves at this path, in a stable order; none if it serves nothing there."""
    return tuple(sorted({method for pattern, method in _route_patterns() if pattern.match(path)}))


def unrecognized_request(method: str, path: str) -> StripeError:
    """Stripe's 404 for a URL it does not know; a 405 with the methods it takes for a known URL."""
    allowed = allowed_methods(path)
    if allowed:
        message = f"Unrecognized request URL ({method}: {path}). This URL accepts {', '.join(allowed)}. {_HELP}"
        return MethodNotAllowedError(message, allowed)
    hint = _TRAILING_SLASH_HELP if path.endswith("/") and path != "/" else ""
    return UnrecognizedUrlError(f"Unrecognized request URL ({method}: {path}). {hint}{_HELP}")
