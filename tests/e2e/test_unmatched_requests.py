"""Through the local gateway, as through API Gateway: every method reaches the template's routes, `$default`
included, so unknown URLs and methods get Stripe's JSON error rather than http.server's 501 HTML page."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.support.local_service import LocalService


def send(service: LocalService, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    address = urlsplit(service.base_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=10)
    try:
        connection.request(method, path, headers={"Authorization": f"Bearer {service.api_key}"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["TRACE", "GET", "PROPFIND"])
def test_an_unknown_url_is_stripes_json_404(service: LocalService, method: str) -> None:
    status, headers, body = send(service, method, "/v1/nothing")

    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["message"].startswith(f"Unrecognized request URL ({method}: /v1/nothing). ")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("TRACE", "/v1/billing_portal/sessions", "GET, POST"), ("DELETE", "/v1/billing_portal/configurations/bpc_1",
                                                               "GET, POST")],
)  # fmt: skip
def test_a_known_url_with_another_method_is_a_405_with_allow(
    service: LocalService, method: str, path: str, allowed: str
) -> None:
    status, headers, body = send(service, method, path)

    assert (status, headers["Allow"]) == (405, allowed)
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
