"""Upgrading a live stack's table to the sharded, keys-only indexes: one index per deploy, serving throughout."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import configurations_handler
import events_handler
import pytest
import redirect_handler
import webhook_endpoints_handler

from local_gateway.template import condition_values, table_definition, with_conditions
from portal_sessions.domain.tokens import new_url_token, url_token_hash
from portal_sessions.runtime import clock
from portal_sessions.store.webhooks import EventStore
from tests.integration.test_permissions import call
from tests.integration.test_session_lifecycle import T0, api
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import TEMPLATE


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    current = [T0]
    monkeypatch.setattr(clock, "now", lambda: current[0])
    return current


STEP = "SessionIndexesUpgradeStep"
LAST_STEP = 7


def definition(step: int) -> dict[str, Any]:
    return table_definition(TEMPLATE, parameters={STEP: str(step)})["create_table"]


def indexes(create_table: dict[str, Any]) -> dict[str, str]:
    return {index["IndexName"]: json.dumps(index, sort_keys=True) for index in create_table["GlobalSecondaryIndexes"]}


def test_each_step_changes_exactly_one_index_and_the_last_is_the_default() -> None:
    steps = [definition(step) for step in range(LAST_STEP + 1)]

    assert set(indexes(steps[0])) == {"ByPurgeBucket", "ByList", "BySessionId"}  # the layout before
    for before, after in zip(steps, steps[1:], strict=False):
        changed = set(indexes(before).items()) ^ set(indexes(after).items())
        assert len(changed) == 1, changed
    assert steps[LAST_STEP] == table_definition(TEMPLATE)["create_table"]
    assert set(indexes(steps[5])) == {"ByPurgeShard", "ByList", "SessionsByCustomer", "SessionsByAccount"}
    assert set(indexes(steps[6])) == {"ByPurgeShard", "ByList", "ListKeys", "SessionsByCustomer", "SessionsByAccount"}
    assert set(indexes(steps[7])) == {"ByPurgeShard", "ListKeys", "SessionsByCustomer", "SessionsByAccount"}
    allowed = TEMPLATE["Parameters"][STEP]["AllowedValues"]
    assert [int(value) for value in allowed] == list(range(1, LAST_STEP + 1))


def list_index_at(step: int) -> str:
    """The list index the functions read at this step (their `LIST_INDEX`, as the template sets it)."""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    return str(with_conditions(variables["LIST_INDEX"], condition_values(TEMPLATE, {STEP: str(step)})))


def throttle_alarm_list_index_at(step: int) -> set[str]:
    alarm = with_conditions(
        TEMPLATE["Resources"]["DynamoDbThrottlesAlarm"], condition_values(TEMPLATE, {STEP: str(step)})
    )
    return {
        dimension["Value"]
        for query in alarm["Properties"]["Metrics"]
        if "MetricStat" in query
        for dimension in query["MetricStat"]["Metric"]["Dimensions"]
        if dimension["Name"] == "GlobalSecondaryIndexName" and dimension["Value"] in ("ListKeys", "ByList")
    }


@pytest.mark.parametrize("step", range(1, LAST_STEP + 1))
def test_the_code_and_the_throttles_alarm_follow_the_list_index_the_step_has(step: int) -> None:
    assert list_index_at(step) in indexes(definition(step))
    assert throttle_alarm_list_index_at(step) == {list_index_at(step)}


def legacy_session_item(token: str) -> dict[str, Any]:
    """A session as the layout before stored it (random 24-character id, purge_bucket, listed through ByList)."""
    expires_at = T0 + 300
    return {
        "pk": {"S": "token#" + url_token_hash(token)},
        "session_id": {"S": "bps_LegacySession0000000001"},
        "livemode": {"BOOL": False},
        "configuration": {"S": "bpc_DefaultTestConfiguration"},
        "created": {"N": str(T0)},
        "expires_at": {"N": str(expires_at)},
        "purge_at": {"N": str(expires_at)},
        "purge_bucket": {"N": str(expires_at // 3600)},
        "list_key": {"S": "sessions#test#legacy"},
        "list_sort": {"S": f"{T0:012d}#bps_LegacySession0000000001"},
        "customer": {"S": "cus_Legacy"},
        "return_url": {"S": "https://example.com"},
    }


def settled_indexes(client: Any, table: str) -> list[dict[str, Any]]:
    """The table's indexes once the update is done: DynamoDB (and DynamoDB Local, unlike moto) builds or deletes an
    index in the background and refuses the next index update until then, as CloudFormation waits between updates."""
    deadline = time.monotonic() + 120
    while True:
        described = client.describe_table(TableName=table)["Table"]
        live = described.get("GlobalSecondaryIndexes", [])
        if described["TableStatus"] == "ACTIVE" and all(index["IndexStatus"] == "ACTIVE" for index in live):
            return list(live)
        assert time.monotonic() < deadline, f"the index update did not settle: {live}"
        time.sleep(0.2)  # bounded polling, as a waiter would


def ids(response: dict[str, Any]) -> list[str]:
    return [item["id"] for item in json.loads(response["body"])["data"]]


def lists() -> dict[str, list[str]]:
    """What each list shows: configurations (whole, and paged one at a time both ways), webhook endpoints, events."""
    base = "/v1/billing_portal/configurations"
    configurations = ids(call(configurations_handler.lambda_handler, "GET", base))
    older = ids(
        call(configurations_handler.lambda_handler, "GET", f"{base}?limit=1&starting_after={configurations[0]}")
    )
    newer = ids(
        call(configurations_handler.lambda_handler, "GET", f"{base}?limit=1&ending_before={configurations[-1]}")
    )
    active = ids(call(configurations_handler.lambda_handler, "GET", f"{base}?active=false"))
    endpoints = ids(call(webhook_endpoints_handler.lambda_handler, "GET", "/v1/webhook_endpoints"))
    listed_events = ids(call(events_handler.lambda_handler, "GET", "/v1/events?limit=1"))
    listed_events += ids(call(events_handler.lambda_handler, "GET", f"/v1/events?starting_after={listed_events[0]}"))
    return {"configurations": configurations, "older": older, "newer": newer, "inactive": active,
            "endpoints": endpoints, "events": listed_events}  # fmt: skip


def test_a_live_table_walks_the_steps_and_keeps_serving(
    service_env: dict, now: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the table as deployed before, holding a session made then, and lists of each kind
    client = aws_client("dynamodb")
    table = service_env["TABLE_NAME"]
    client.delete_table(TableName=table)
    client.create_table(TableName=table, **definition(0))
    legacy_token = new_url_token()
    client.put_item(TableName=table, Item=legacy_session_item(legacy_token))
    monkeypatch.setenv("LIST_INDEX", list_index_at(0))
    base = "/v1/billing_portal/configurations"
    first = json_body(
        call(configurations_handler.lambda_handler, "POST", base, "features[invoice_history][enabled]=true")
    )
    now[0] = T0 + 1  # newer than the first
    features = "features[invoice_history][enabled]=true"
    second = json_body(call(configurations_handler.lambda_handler, "POST", base, features))
    call(configurations_handler.lambda_handler, "POST", f"{base}/{second['id']}", "active=false")
    now[0] = T0
    endpoint = json.loads(call(webhook_endpoints_handler.lambda_handler, "POST", "/v1/webhook_endpoints",
                              "url=https://hooks.example.com/h&enabled_events[0]=*")["body"])  # fmt: skip
    events = EventStore(table)
    for number in range(2):
        event = {"id": f"evt_Upgrade{number}", "object": "event", "created": T0 - 10 + number, "livemode": False}
        events.put_new(event | {"type": "billing_portal.session.created", "data": {"object": {}}})
    expected = lists()
    assert expected["configurations"][:2] == [second["id"], first["id"]]  # and the mode's default, made first
    assert expected["older"] == expected["configurations"][1:2]
    assert expected["newer"] == expected["configurations"][-2:-1]
    assert expected["inactive"] == [second["id"]]
    assert expected["endpoints"] == [endpoint["id"]]
    assert expected["events"] == ["evt_Upgrade1", "evt_Upgrade0"]

    # When each step is deployed in turn (one index created or deleted per update, as CloudFormation does)
    for step in range(1, LAST_STEP + 1):
        before, after = indexes(definition(step - 1)), indexes(definition(step))
        [name] = set(before) ^ set(after)
        update = {"Create": json.loads(after[name])} if name in after else {"Delete": {"IndexName": name}}
        client.update_table(
            TableName=table,
            AttributeDefinitions=definition(step)["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[update],
        )
        live = settled_indexes(client, table)
        assert {index["IndexName"] for index in live} == set(after)
        monkeypatch.setenv("LIST_INDEX", list_index_at(step))

        # Then every list shows what it did, through the list index this step has
        assert lists() == expected, step

        # And the link made before the upgrade keeps working at every step
        response = redirect_handler.lambda_handler(http_event("GET", f"/p/session/{legacy_token}"), FakeContext())
        assert response["statusCode"] == 302  # its first visit at step 1, revisits after

    # And its visit gave it the whole session lifetime, past the purge time its old layout had set at its link's expiry
    [stored] = [
        item for item in client.scan(TableName=table)["Items"] if item["pk"] == legacy_session_item(legacy_token)["pk"]
    ]
    assert int(stored["expires_at"]["N"]) == T0 + 3600
    assert int(stored["purge_at"]["N"]) >= T0 + 3600
    now[0] = T0 + 3599
    response = redirect_handler.lambda_handler(http_event("GET", f"/p/session/{legacy_token}"), FakeContext())
    assert response["statusCode"] == 302
    now[0] = T0 + 3600
    response = redirect_handler.lambda_handler(http_event("GET", f"/p/session/{legacy_token}"), FakeContext())
    assert response["statusCode"] == 410
    now[0] = T0

    # And at the end the new layout serves the whole lifecycle
    body = urlencode({"customer": "cus_New", "return_url": "https://example.com"})
    created = json_body(api("POST", "/v1/billing_portal/sessions", body=body))
    visit = redirect_handler.lambda_handler(http_event("GET", urlsplit(created["url"]).path), FakeContext())
    assert visit["statusCode"] == 302
    assert json_body(api("GET", f"/v1/billing_portal/sessions/{created['id']}"))["status"] == "visited"
    listed = json_body(api("GET", "/v1/billing_portal/sessions", query="customer=cus_New"))
    assert [session["id"] for session in listed["data"]] == [created["id"]]


@pytest.mark.parametrize("step", range(LAST_STEP + 1))
def test_every_step_is_a_table_dynamodb_accepts(aws: None, step: int) -> None:
    client = aws_client("dynamodb")
    client.create_table(TableName=f"step-{step}", **definition(step))
    assert client.describe_table(TableName=f"step-{step}")["Table"]["TableStatus"] == "ACTIVE"
