"""The webhook functions' IAM policies in template.yaml allow every DynamoDB action their code makes (see
test_permissions.py, whose reading of the template this reuses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import events_handler
import pytest
import webhook_deliveries_handler
import webhook_endpoints_handler

from portal_sessions.settings import clear_settings_cache
from portal_sessions.store import dynamodb_client
from tests.conftest import FakeContext
from tests.integration.test_permissions import TRANSACTION_ITEM_ACTIONS, allowed, call, create
from tests.integration.test_webhook_deliveries import queued, sqs_event
from tests.webhook_receiver import webhook_receiver


@pytest.fixture
def actions(service_env: dict) -> Iterator[set[str]]:
    made: set[str] = set()

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":
            made.update(TRANSACTION_ITEM_ACTIONS[kind] for item in params["TransactItems"] for kind in item)
        else:
            made.add(model.name)

    dynamodb_client().meta.events.register("before-parameter-build.dynamodb.*", record)
    yield made
    dynamodb_client().meta.events.unregister("before-parameter-build.dynamodb.*", record)


def test_webhook_endpoints(actions: set[str]) -> None:
    base = "/v1/webhook_endpoints"
    body = "url=https://hooks.example.com/h&enabled_events[0]=*"

    made = json.loads(call(webhook_endpoints_handler.lambda_handler, "POST", base, body, **{"idempotency-key": "w"})
                      ["body"])  # fmt: skip
    call(webhook_endpoints_handler.lambda_handler, "POST", f"{base}/{made['id']}", "disabled=true")
    call(webhook_endpoints_handler.lambda_handler, "GET", f"{base}/{made['id']}")
    call(webhook_endpoints_handler.lambda_handler, "GET", base)
    call(webhook_endpoints_handler.lambda_handler, "DELETE", f"{base}/{made['id']}")

    assert {"PutItem", "UpdateItem", "GetItem", "Query", "DeleteItem"} <= actions
    assert actions <= allowed("WebhookEndpointsFunction")


def test_events_and_deliveries(actions: set[str], service_env: dict, published_events: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("WEBHOOK_LOCAL_RECEIVERS", "true")
    clear_settings_cache()
    with webhook_receiver() as receiver:
        call(webhook_endpoints_handler.lambda_handler, "POST", "/v1/webhook_endpoints",
             f"url={receiver.url}&enabled_events[0]=*")  # fmt: skip
        create()
        actions.clear()
        (envelope,) = published_events()
        assert {"PutItem", "Query"} <= actions
        assert actions <= allowed("SessionEventsFunction")

        actions.clear()
        webhook_deliveries_handler.lambda_handler(sqs_event(queued(service_env)), FakeContext())
        assert len(receiver.received) == 1
        assert {"GetItem", "UpdateItem"} <= actions
        assert actions <= allowed("WebhookDeliveriesFunction")

    actions.clear()
    call(events_handler.lambda_handler, "GET", f"/v1/events/{envelope['detail']['id']}")
    call(events_handler.lambda_handler, "GET", "/v1/events?type=billing_portal.session.created")
    assert {"GetItem", "Query"} <= actions
    assert actions <= allowed("EventsFunction")
