"""Each function's IAM policy in template.yaml allows every DynamoDB action its code makes (moto does not check IAM).

Every call a function makes here is recorded at botocore's before-parameter-build hook; a transaction counts as the
actions of its items, which is how IAM authorizes TransactWriteItems (ConditionCheckItem, PutItem, UpdateItem, …).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import cleanup_handler
import cleanup_worker_handler
import configurations_handler
import create_session_handler
import pytest
import redirect_handler
import sessions_handler

from portal_sessions.store import dynamodb_client
from tests.conftest import TEMPLATE, TEST_KEY, FakeContext, http_event, json_body
from tests.integration.helpers import insert_session
from tests.integration.test_cleanup import sqs_event

FORM = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
TRANSACTION_ITEM_ACTIONS = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem",
                            "Delete": "DeleteItem"}  # fmt: skip


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


def allowed(function: str) -> set[str]:
    statements = [
        statement
        for policy in TEMPLATE["Resources"][function]["Properties"].get("Policies", [])
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
    ]
    names = [name for statement in statements for name in _as_list(statement["Action"])]
    return {name.removeprefix("dynamodb:") for name in names if name.startswith("dynamodb:")}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def call(handler: Callable[..., dict[str, Any]], method: str, path: str, body: str = "", **headers: str) -> Any:
    path, _, query = path.partition("?")
    event = http_event(method, path, headers={**FORM, **headers}, body=body)
    event["rawQueryString"] = query
    response = handler(event, FakeContext())
    assert response["statusCode"] < 300, response["body"]
    return response


def create(body: str = "customer=cus_1&return_url=https://example.com", **headers: str) -> dict[str, Any]:
    return json_body(
        call(create_session_handler.lambda_handler, "POST", "/v1/billing_portal/sessions", body, **headers)
    )


def test_create_session(actions: set[str]) -> None:
    create()  # the first: the default configuration is made
    create(**{"idempotency-key": "permissions"})
    create(**{"idempotency-key": "permissions"})  # a replay
    create("customer=cus_1&return_url=https://example.com&expand[]=configuration")
    create("customer=cus_1&return_url=https://example.com&expand[]=configuration", **{"idempotency-key": "shown"})

    assert {"ConditionCheckItem", "PutItem", "UpdateItem", "GetItem"} <= actions
    assert actions <= allowed("CreateSessionFunction")


def test_redirect(actions: set[str]) -> None:
    url = create()["url"]
    actions.clear()
    path = "/p/session/" + url.rsplit("/", 1)[1]

    redirect_handler.lambda_handler(http_event("HEAD", path), FakeContext())
    redirect_handler.lambda_handler(http_event("GET", path), FakeContext())
    redirect_handler.lambda_handler(http_event("GET", path), FakeContext())  # a revisit

    assert {"GetItem", "UpdateItem"} <= actions
    assert actions <= allowed("RedirectFunction")


def test_sessions(actions: set[str]) -> None:
    session = create()
    actions.clear()
    base = "/v1/billing_portal/sessions"

    call(sessions_handler.lambda_handler, "GET", f"{base}/{session['id']}")
    call(sessions_handler.lambda_handler, "GET", f"{base}?customer=cus_1")
    call(sessions_handler.lambda_handler, "POST", f"{base}/{session['id']}/expire", **{"idempotency-key": "expire"})

    assert {"Query", "UpdateItem", "PutItem"} <= actions
    assert actions <= allowed("SessionsFunction")


def test_configurations(actions: set[str]) -> None:
    base = "/v1/billing_portal/configurations"
    body = "features[invoice_history][enabled]=true"

    made = json_body(call(configurations_handler.lambda_handler, "POST", base, body, **{"idempotency-key": "c1"}))
    call(configurations_handler.lambda_handler, "POST", f"{base}/{made['id']}", "name=Renamed")
    call(configurations_handler.lambda_handler, "GET", f"{base}/{made['id']}")
    call(configurations_handler.lambda_handler, "GET", base)

    assert {"PutItem", "UpdateItem", "GetItem", "Query"} <= actions
    assert actions <= allowed("ConfigurationsFunction")


def test_cleanup(actions: set[str], service_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEANUP_LOOKBACK_HOURS", "2")  # a few units: 3 hours of 4 shards
    monkeypatch.setenv("PURGE_SHARDS", "4")
    now = int(time.time())
    insert_session(
        service_env["TABLE_NAME"], created=now - 7200, expires_at=now - 3600, purge_at=now - 3600, purge_shards=4
    )
    actions.clear()

    assert cleanup_handler.lambda_handler({}, FakeContext())["units"] > 0
    assert {"GetItem", "BatchGetItem"} <= actions
    assert actions <= allowed("CleanupFunction")

    actions.clear()
    queue_url = service_env["CLEANUP_QUEUE_URL"]
    while True:
        event = sqs_event(queue_url)
        if not event["Records"]:
            break
        assert cleanup_worker_handler.lambda_handler(event, FakeContext())["batchItemFailures"] == []
    assert {"Query", "DeleteItem", "UpdateItem"} <= actions
    assert actions <= allowed("CleanupWorkerFunction")
