"""DynamoDB calls per request, counted with botocore's event hooks: exact numbers, so they are asserted."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import configurations_handler
import create_session_handler
import pytest
import redirect_handler
import sessions_handler

from portal_sessions.store import dynamodb_client
from tests.conftest import TEST_KEY, FakeContext, http_event, json_body

FORM = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
BODY = "customer=cus_1&return_url=https://example.com"


@pytest.fixture
def calls(service_env: dict) -> Iterator[Counter[str]]:
    counted: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counted[model.name] += 1

    dynamodb_client().meta.events.register("before-call.dynamodb.*", count)
    yield counted
    dynamodb_client().meta.events.unregister("before-call.dynamodb.*", count)


def create(body_extra: str = "", **headers: str) -> dict[str, Any]:
    event = http_event("POST", "/v1/billing_portal/sessions", headers={**FORM, **headers}, body=BODY + body_extra)
    return json_body(create_session_handler.lambda_handler(event, FakeContext()))


def test_create_is_one_write(calls: Counter[str]) -> None:
    # Given the mode's default configuration exists (it is made on first need)
    create()
    calls.clear()

    # When a session is created
    create()

    # Then one call stored it: a default configuration, once seen, is known to stay (it cannot be deactivated)
    assert calls == Counter({"PutItem": 1})


def test_create_with_a_configuration_or_a_flow_is_one_transactional_write(calls: Counter[str]) -> None:
    create()
    configuration = json_body(
        configurations_handler.lambda_handler(
            http_event("POST", "/v1/billing_portal/configurations", headers=FORM,
                       body="features[payment_method_update][enabled]=true"),
            FakeContext(),
        )
    )  # fmt: skip
    calls.clear()

    create(body_extra=f"&configuration={configuration['id']}")
    create(body_extra="&flow_data[type]=payment_method_update")

    # Then each call both checked the configuration (active, the flow's feature on) and stored the session
    assert calls == Counter({"TransactWriteItems": 2})


def test_create_with_an_idempotency_key_is_two_calls(calls: Counter[str]) -> None:
    create()
    calls.clear()

    created = create(**{"idempotency-key": "round-trips"})

    # Powertools' in-progress record (a conditional PutItem), then one transaction that checks the configuration,
    # stores the session and completes the record
    assert calls == Counter({"PutItem": 1, "TransactWriteItems": 1})
    calls.clear()
    assert create(**{"idempotency-key": "round-trips"}) == created  # the record was completed with the response
    assert calls == Counter({"PutItem": 1})


def test_create_with_an_idempotency_key_and_an_expanded_configuration_is_three_calls(calls: Counter[str]) -> None:
    create()
    calls.clear()

    create(**{"idempotency-key": "expanded"}, body_extra="&expand[]=configuration")

    # The configuration is read to be shown; the session and the record's completion are still one transaction
    assert calls == Counter({"PutItem": 1, "GetItem": 1, "TransactWriteItems": 1})


def test_an_expiry_with_an_idempotency_key_is_completed_by_powertools(calls: Counter[str]) -> None:
    session = create()
    calls.clear()

    event = http_event(
        "POST", f"/v1/billing_portal/sessions/{session['id']}/expire",
        headers={**FORM, "idempotency-key": "expire-once"}, body="",
    )  # fmt: skip
    assert sessions_handler.lambda_handler(event, FakeContext())["statusCode"] == 200

    # The in-progress record, the session found by id and expired, and the record's completion (UpdateItem)
    assert calls["PutItem"] == 1 and calls["UpdateItem"] == 2


def test_a_replay_is_one_call(calls: Counter[str]) -> None:
    create(**{"idempotency-key": "replayed"})
    calls.clear()

    create(**{"idempotency-key": "replayed"})

    # The conditional PutItem fails and returns the stored record with it
    assert calls == Counter({"PutItem": 1})


def test_a_visit_is_one_update(calls: Counter[str]) -> None:
    url = create()["url"]
    calls.clear()

    response = redirect_handler.lambda_handler(http_event("GET", urlsplit(url).path), FakeContext())

    assert response["statusCode"] == 302
    assert calls == Counter({"UpdateItem": 1})


def test_retrieving_a_session_is_one_get_by_its_key(calls: Counter[str]) -> None:
    session_id = create()["id"]
    calls.clear()

    event = http_event("GET", f"/v1/billing_portal/sessions/{session_id}", headers=FORM)
    assert sessions_handler.lambda_handler(event, FakeContext())["statusCode"] == 200

    assert calls == Counter({"GetItem": 1})  # the id is the key's hash in base62: no index


def test_listing_sessions_is_a_keys_only_query_then_one_batch_read(calls: Counter[str]) -> None:
    create()
    create()
    calls.clear()

    event = http_event("GET", "/v1/billing_portal/sessions", headers=FORM)
    event["rawQueryString"] = "customer=cus_1"
    response = sessions_handler.lambda_handler(event, FakeContext())

    assert response["statusCode"] == 200 and len(json.loads(response["body"])["data"]) == 2
    assert calls == Counter({"Query": 1, "BatchGetItem": 1})  # a visit writes no list index: it holds keys only


def test_retrieving_a_configuration_is_one_read(calls: Counter[str]) -> None:
    create()
    calls.clear()

    event = http_event("GET", "/v1/billing_portal/configurations/bpc_DefaultTestConfiguration", headers=FORM)
    assert configurations_handler.lambda_handler(event, FakeContext())["statusCode"] == 200

    assert calls == Counter({"GetItem": 1})
