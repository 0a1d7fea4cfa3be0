"""Ids at most 255 characters and URLs at most 2,048 (deviations docs/api.md states): refused before any store call.

Beyond these limits an id no longer fits a DynamoDB key (2048 bytes for a partition key, 1024 for a sort key):
Amazon's DynamoDB refuses such a request outright, which must never surface as a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import configurations_handler
import create_session_handler
import pytest
import sessions_handler

from portal_sessions.store.table import dynamodb_client
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import TEST_KEY

FORM = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
LONG_ID = "😀" * 256  # 256 characters, 1024 UTF-8 bytes
EXACT_ID = "😀" * 255
LONG_URL = "https://example.com/" + "p" * 2029  # 2049 characters


class DynamoDBCalls:
    """The DynamoDB operations the functions' client sends (through botocore's public event hooks)."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, model: Any, **_kwargs: Any) -> None:
        self.operations.append(model.name)


@pytest.fixture
def dynamodb_calls(service_env: dict[str, str]) -> Iterator[DynamoDBCalls]:
    calls = DynamoDBCalls()
    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb", calls)
    yield calls
    events.unregister("before-call.dynamodb", calls)


def call(handler: Any, method: str, path: str, body: str = "", query: str = "") -> dict[str, Any]:
    event = http_event(method, path, headers=FORM, body=body)
    event["rawQueryString"] = query
    return handler.lambda_handler(event, FakeContext())  # type: ignore[no-any-return]


def error_of(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    return json_body(response)["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("handler", "method", "path"),
    [
        (sessions_handler, "GET", "/v1/billing_portal/sessions/{id}"),
        (sessions_handler, "POST", "/v1/billing_portal/sessions/{id}/expire"),
        (configurations_handler, "GET", "/v1/billing_portal/configurations/{id}"),
        (configurations_handler, "POST", "/v1/billing_portal/configurations/{id}"),
    ],
    ids=["retrieve-session", "expire-session", "retrieve-configuration", "update-configuration"],
)
@pytest.mark.parametrize("object_id", ["x" * 256, "bpc_" + "x" * 2100], ids=["256", "over-a-dynamodb-key"])
def test_a_path_id_no_object_can_have_is_a_404_without_a_store_call(
    dynamodb_calls: DynamoDBCalls, handler: Any, method: str, path: str, object_id: str
) -> None:
    # When an object is asked for by an id no object can have
    response = call(handler, method, path.format(id=object_id))

    # Then it is missing, as Stripe says of any unknown id, and the store was never asked
    error = error_of(response, 404)
    assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")
    assert [name for name in dynamodb_calls.operations if name != "GetParameter"] == []


@pytest.mark.parametrize(
    ("handler", "path", "params", "param"),
    [
        (create_session_handler, "/v1/billing_portal/sessions",
         {"customer": LONG_ID, "return_url": "https://example.com"}, "customer"),
        (create_session_handler, "/v1/billing_portal/sessions",
         {"customer": "cus_1", "configuration": LONG_ID, "return_url": "https://example.com"}, "configuration"),
        (create_session_handler, "/v1/billing_portal/sessions",
         {"customer_account": LONG_ID, "return_url": "https://example.com"}, "customer_account"),
        (create_session_handler, "/v1/billing_portal/sessions",
         {"customer": "cus_1", "on_behalf_of": LONG_ID, "return_url": "https://example.com"}, "on_behalf_of"),
        (create_session_handler, "/v1/billing_portal/sessions", {"customer": "cus_1", "return_url": LONG_URL},
         "return_url"),
        (create_session_handler, "/v1/billing_portal/sessions",
         {"customer": "cus_1", "return_url": "https://example.com", "flow_data[type]": "payment_method_update",
          "flow_data[after_completion][type]": "redirect",
          "flow_data[after_completion][redirect][return_url]": LONG_URL},
         "flow_data[after_completion][redirect][return_url]"),
        (configurations_handler, "/v1/billing_portal/configurations",
         {"features[invoice_history][enabled]": "true", "default_return_url": LONG_URL}, "default_return_url"),
    ],
    ids=["customer", "configuration", "customer_account", "on_behalf_of", "return_url", "redirect-return_url",
         "default_return_url"],
)  # fmt: skip
def test_an_over_long_id_or_url_in_a_body_is_a_400_without_a_store_call(
    dynamodb_calls: DynamoDBCalls, handler: Any, path: str, params: dict[str, str], param: str
) -> None:
    # When
    response = call(handler, "POST", path, body=urlencode(params))

    # Then a 400 names the parameter, and nothing reached the store
    error = error_of(response, 400)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "parameter_invalid", param)
    assert [name for name in dynamodb_calls.operations if name != "GetParameter"] == []


@pytest.mark.parametrize(
    "params", [{"customer": LONG_ID}, {"customer": "cus_1", "starting_after": LONG_ID}], ids=["customer", "cursor"]
)
def test_an_over_long_id_in_a_list_query_is_a_400(dynamodb_calls: DynamoDBCalls, params: dict[str, str]) -> None:
    # When
    response = call(sessions_handler, "GET", "/v1/billing_portal/sessions", query=urlencode(params))

    # Then
    assert error_of(response, 400)["code"] == "parameter_invalid"
    assert [name for name in dynamodb_calls.operations if name != "GetParameter"] == []


def test_ids_and_urls_at_their_limits_work(service_env: dict[str, str]) -> None:
    # Given the longest customer (in 4-byte characters) and return URL the service takes
    url = LONG_URL[:-1]
    body = urlencode({"customer": EXACT_ID, "customer_account": EXACT_ID, "on_behalf_of": EXACT_ID, "return_url": url})

    # When a session is created, listed and retrieved
    created = json_body(call(create_session_handler, "POST", "/v1/billing_portal/sessions", body=body))
    listed = json_body(
        call(sessions_handler, "GET", "/v1/billing_portal/sessions", query=urlencode({"customer": EXACT_ID}))
    )

    # Then
    assert (created["customer"], created["return_url"]) == (EXACT_ID, url)
    assert [session["id"] for session in listed["data"]] == [created["id"]]
