"""The `$default` route: Stripe's 404 for a URL the API does not know, a 405 with `Allow` for a known URL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import unmatched_handler

from local_gateway.gateway import build_event, match_route
from local_gateway.template import DEFAULT_ROUTE, http_routes
from tests.support.events import FakeContext, json_body
from tests.support.settings import TEMPLATE, TEST_KEY

# Stripe's shape, but help from this service: Stripe's support desk cannot help with it
SERVICE_HELP = "Please see this service's API reference at /v1/openapi.json; the team that runs it can help."


def unmatched(method: str, path: str) -> dict[str, Any]:
    """What API Gateway sends the $default route's function for this request."""
    matched = match_route(http_routes(TEMPLATE), method, path)
    assert matched is not None and matched[0].path == DEFAULT_ROUTE, f"{method} {path} has a route of its own"
    headers = {"host": "api.example.test", "authorization": f"Bearer {TEST_KEY}"}
    event = build_event(matched[0], matched[1], method, path, headers, b"", "192.0.2.10")
    return unmatched_handler.lambda_handler(event, FakeContext())  # type: ignore[no-any-return]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "TRACE"])
def test_an_unknown_url_is_stripes_404(service_env: dict, method: str) -> None:
    # When
    response = unmatched(method, "/v1/customers")

    # Then the error Stripe gives, word for word but for where help is
    assert response["statusCode"] == 404
    assert json_body(response) == {
        "error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({method}: /v1/customers). "
                  + SERVICE_HELP}
    }  # fmt: skip


def test_a_trailing_slash_gets_stripes_hint(service_env: dict) -> None:
    response = unmatched("GET", "/v1/billing_portal/configurations/")

    assert response["statusCode"] == 404
    assert json_body(response)["error"]["message"] == (
        "Unrecognized request URL (GET: /v1/billing_portal/configurations/). If you are trying to list objects, "
        "remove the trailing slash. If you are trying to retrieve an object, make sure you passed a valid "
        "(non-empty) identifier in your code. " + SERVICE_HELP
    )


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/billing_portal/sessions", "GET, POST"),
        ("TRACE", "/v1/billing_portal/configurations/bpc_1", "GET, POST"),
        ("PUT", "/v1/billing_portal/sessions/bps_1", "GET"),
        ("GET", "/v1/billing_portal/sessions/bps_1/expire", "POST"),
        ("OPTIONS", "/p/session/tok", "GET, HEAD"),
        ("HEAD", "/v1/billing_portal/configurations", "GET, POST"),
    ],
)
def test_a_known_url_with_another_method_is_a_405_naming_the_allowed_methods(
    service_env: dict, method: str, path: str, allowed: str
) -> None:
    # When
    response = unmatched(method, path)

    # Then
    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == allowed
    error = json.loads(response["body"])["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"Unrecognized request URL ({method}: {path}). This URL accepts {allowed}.")
    assert response["headers"]["Request-Id"].startswith("req_")
