"""The webhook functions' IAM policies in template.yaml allow every DynamoDB call their code makes, and only on the
item kinds they touch (evaluated as test_permissions.py evaluates them: action, resource and `dynamodb:LeadingKeys`)."""

from __future__ import annotations

import json
import time
from typing import Any

import events_handler
import pytest
import webhook_deliveries_handler
import webhook_endpoints_handler

from portal_sessions.outbound.webhook_delivery import Delivery
from portal_sessions.runtime.settings import clear_settings_cache
from tests.integration import test_permissions
from tests.integration.test_permissions import Call, call, create, denied, kinds
from tests.integration.test_webhook_deliveries import RecordingQueue, attempt_at, queued, sqs_event
from tests.support.events import FakeContext
from tests.support.webhook_receiver import webhook_receiver

calls = test_permissions.calls  # the fixtures: each DynamoDB call made, and a managed key
managed_key = test_permissions.managed_key


def test_webhook_endpoints(calls: set[Call], managed_key: str) -> None:
    base = "/v1/webhook_endpoints"
    body = "url=https://hooks.example.com/h&enabled_events[0]=*"
    handler = webhook_endpoints_handler.lambda_handler

    made = json.loads(call(handler, "POST", base, body, **{"idempotency-key": "w"})["body"])
    call(handler, "POST", base, body, **{"idempotency-key": "w"})  # a replay
    call(handler, "POST", f"{base}/{made['id']}", "disabled=true", **{"idempotency-key": "u"})
    call(handler, "GET", f"{base}/{made['id']}", authorization=f"Bearer {managed_key}")
    call(handler, "GET", base)
    call(handler, "DELETE", f"{base}/{made['id']}")

    assert {"PutItem", "UpdateItem", "GetItem", "Query", "DeleteItem"} <= {call.action for call in calls}
    assert {"apikey", "webhook_endpoint"} <= kinds(calls, "GetItem")  # a replay reads its record as its put fails
    assert kinds(calls, "PutItem") == {"webhook_endpoint", "idempotency"}
    assert kinds(calls, "DeleteItem") == {"webhook_endpoint"}
    assert denied("WebhookEndpointsFunction", calls) == []


def test_events_and_deliveries(
    calls: set[Call],
    service_env: dict,
    managed_key: str,
    session_events: Any,
    published_events: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_LOCAL_RECEIVERS", "true")
    clear_settings_cache()
    with webhook_receiver() as receiver:
        made = call(webhook_endpoints_handler.lambda_handler, "POST", "/v1/webhook_endpoints",
                    f"url={receiver.url}&enabled_events[0]=*")  # fmt: skip
        endpoint_id = json.loads(made["body"])["id"]
        create()
        calls.clear()
        assert session_events()["batchItemFailures"] == []  # the stream's consumer: stores and queues
        assert {call.action for call in calls} == {"PutItem", "UpdateItem"}
        assert kinds(calls, "PutItem", "UpdateItem") == {"event"}
        assert denied("SessionEventsFunction", calls) == []

        calls.clear()
        (envelope,) = published_events()  # the delivery function: fans out and publishes
        assert {"GetItem", "Query", "UpdateItem"} <= {call.action for call in calls}
        assert kinds(calls, "GetItem", "UpdateItem") == {"event"}
        assert denied("WebhookDeliveriesFunction", calls) == []

        calls.clear()
        webhook_deliveries_handler.lambda_handler(sqs_event(queued(service_env)), FakeContext())
        assert len(receiver.received) == 1
        assert {"GetItem", "UpdateItem"} <= {call.action for call in calls}
        assert kinds(calls, "GetItem") == {"event", "webhook_endpoint"}
        assert kinds(calls, "UpdateItem") == {"event", "webhook_attempts"}  # settled, and the attempt recorded
        assert denied("WebhookDeliveriesFunction", calls) == []

    calls.clear()
    event_id = envelope["detail"]["id"]
    call(events_handler.lambda_handler, "GET", f"/v1/events/{event_id}", authorization=f"Bearer {managed_key}")
    call(events_handler.lambda_handler, "GET", "/v1/events?type=billing_portal.session.created")
    resent = call(
        events_handler.lambda_handler, "POST", f"/v1/events/{event_id}/retry", f"webhook_endpoint={endpoint_id}"
    )
    assert resent["statusCode"] == 200, resent["body"]
    assert {"GetItem", "Query"} <= {call.action for call in calls}
    assert kinds(calls, "GetItem") == {"apikey", "event", "webhook_endpoint"}
    assert denied("EventsFunction", calls) == []


def test_failing_deliveries_may_note_their_endpoints_streak_and_disable_it(
    calls: set[Call], service_env: dict, published_events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_LOCAL_RECEIVERS", "true")
    clear_settings_cache()
    with webhook_receiver(statuses=[500] * 4) as receiver:
        call(webhook_endpoints_handler.lambda_handler, "POST", "/v1/webhook_endpoints",
             f"url={receiver.url}&enabled_events[0]=*")  # fmt: skip
        create()
        published_events()
        (message,) = queued(service_env)
        delivery, queue, now = Delivery.from_json(message["Body"]), RecordingQueue(), int(time.time())
        calls.clear()
        outcomes = []
        for _attempt in range(4):
            outcomes.append(attempt_at(delivery, now, service_env, queue))
            if queue.sent:
                delivery, _delay = queue.sent.pop()
                now = delivery.due_at

    assert outcomes == ["retrying", "retrying", "retrying", "disabled"]
    assert kinds(calls, "UpdateItem") == {"event", "webhook_endpoint", "webhook_attempts"}
    assert denied("WebhookDeliveriesFunction", calls) == []
