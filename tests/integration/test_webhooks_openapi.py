"""The OpenAPI document describes the webhook endpoints and events operations, true to real responses."""

from __future__ import annotations

import json
from typing import Any

import events_handler
import webhook_endpoints_handler

from tests.integration.test_events_handler import make_events
from tests.integration.test_openapi import conforms, document  # noqa: F401 - `document` is a fixture
from tests.support.events import FakeContext, http_event
from tests.support.settings import TEST_KEY

HEADERS = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}


def call(handler: Any, method: str, path: str, body: str = "") -> Any:
    response = handler.lambda_handler(http_event(method, path, headers=HEADERS, body=body), FakeContext())
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


def test_webhook_and_event_responses_conform(document: dict[str, Any], published_events: Any) -> None:  # noqa: F811
    created = call(webhook_endpoints_handler, "POST", "/v1/webhook_endpoints",
                   "url=https://hooks.example.com/h&enabled_events[0]=*")  # fmt: skip
    listed = call(webhook_endpoints_handler, "GET", "/v1/webhook_endpoints")
    make_events(1, published_events)
    events = call(events_handler, "GET", "/v1/events")
    deleted = call(webhook_endpoints_handler, "DELETE", f"/v1/webhook_endpoints/{created['id']}")

    assert conforms(document, "webhook_endpoint", created) == []
    assert conforms(document, "webhook_endpoint.list", listed) == []
    assert conforms(document, "event.list", events) == [] and len(events["data"]) == 1
    assert conforms(document, "event", events["data"][0]) == []
    assert conforms(document, "deleted_webhook_endpoint", deleted) == []
    assert conforms(document, "webhook_endpoint", {"id": "we_1", "object": "event"}) != []  # it can reject
    paths = document["paths"]
    assert {"get", "post", "delete"} <= set(paths["/v1/webhook_endpoints/{webhook_endpoint}"])
    assert "x-extension" not in paths["/v1/events"]["get"]
