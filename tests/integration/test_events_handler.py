"""/v1/events through the handler, on moto: the events the table's changes made, kept 30 days, listed newest first
across the list's shards, filtered by type and time, test and live apart."""

from __future__ import annotations

import json
from typing import Any

import create_session_handler
import events_handler
import pytest

from portal_sessions.runtime.settings import clear_settings_cache
from portal_sessions.store.webhooks import DEFAULT_EVENT_LIST_SHARDS, event_shard
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event
from tests.support.settings import LIVE_KEY, TEST_KEY

FORM = "application/x-www-form-urlencoded"


def call(path: str, key: str = TEST_KEY) -> tuple[int, Any]:
    path, _, query = path.partition("?")
    event = http_event("GET", path, headers={"authorization": f"Bearer {key}"})
    event["rawQueryString"] = query
    response = events_handler.lambda_handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def make_events(count: int, published_events: Any, key: str = TEST_KEY) -> list[dict[str, Any]]:
    for number in range(count):
        headers = {"content-type": FORM, "authorization": f"Bearer {key}"}
        body = f"customer=cus_{number}&return_url=https://example.com"
        response = create_session_handler.lambda_handler(
            http_event("POST", "/v1/billing_portal/sessions", headers=headers, body=body), FakeContext()
        )
        assert response["statusCode"] == 200
    return [envelope["detail"] for envelope in published_events()]


def test_an_event_on_the_bus_is_retrievable_by_its_id(service_env: dict, published_events: Any) -> None:
    (published,) = make_events(1, published_events)

    status, event = call(f"/v1/events/{published['id']}")

    assert status == 200
    assert event == {**published, "pending_webhooks": 0}
    assert call(f"/v1/events/{published['id']}", key=LIVE_KEY)[0] == 404  # the other mode's world
    status, missing = call("/v1/events/evt_NoSuchEvent")
    assert status == 404 and missing["error"]["code"] == "resource_missing"


def test_the_list_pages_newest_first_across_its_shards(service_env: dict, published_events: Any) -> None:
    made = make_events(12, published_events)
    assert len({event_shard(event["id"]) for event in made}) > 1  # the events are spread over several list keys
    newest_first = sorted(made, key=lambda event: (event["created"], event["id"]), reverse=True)

    pages, cursor = [], ""
    while True:
        status, page = call(f"/v1/events?limit=5{cursor}")
        assert status == 200 and page["object"] == "list" and page["url"] == "/v1/events"
        pages.append(page)
        if not page["has_more"]:
            break
        cursor = f"&starting_after={page['data'][-1]['id']}"
    _, back = call(f"/v1/events?limit=5&ending_before={pages[1]['data'][0]['id']}")

    assert [event["id"] for page in pages for event in page["data"]] == [event["id"] for event in newest_first]
    assert [len(page["data"]) for page in pages] == [5, 5, 2]
    assert [event["id"] for event in back["data"]] == [event["id"] for event in pages[0]["data"]]
    assert DEFAULT_EVENT_LIST_SHARDS > 1


def test_events_stored_under_fewer_shards_are_all_listed_once_the_number_is_raised(
    service_env: dict, published_events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given events stored while the stack had 3 list shards per mode
    monkeypatch.setenv("EVENT_LIST_SHARDS", "3")
    clear_settings_cache()
    made = make_events(9, published_events)
    items = aws_client("dynamodb").scan(
        TableName=service_env["TABLE_NAME"],
        FilterExpression="begins_with(list_key, :events)",
        ExpressionAttributeValues={":events": {"S": "events#"}},
    )["Items"]
    assert {item["list_key"]["S"].rsplit("#", 1)[1] for item in items} <= {"0", "1", "2"}

    # When the stack is updated to 64 (the readers' number with it)
    monkeypatch.setenv("EVENT_LIST_SHARDS", "64")
    clear_settings_cache()

    # Then every event is still listed, newest first
    status, page = call("/v1/events?limit=20")
    assert status == 200
    newest_first = sorted(made, key=lambda event: (event["created"], event["id"]), reverse=True)
    assert [event["id"] for event in page["data"]] == [event["id"] for event in newest_first]


def test_filters_by_type_and_created(service_env: dict, published_events: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    made = make_events(3, published_events)
    created = min(event["created"] for event in made)  # the bus gives them in no promised order

    assert len(call("/v1/events?type=billing_portal.session.created")[1]["data"]) == 3
    assert len(call("/v1/events?type=billing_portal.session.*")[1]["data"]) == 3
    assert call("/v1/events?type=billing_portal.configuration.updated")[1]["data"] == []
    both = "types[0]=billing_portal.session.expired&types[1]=billing_portal.session.created"
    assert len(call(f"/v1/events?{both}")[1]["data"]) == 3
    assert len(call(f"/v1/events?created[gte]={created}")[1]["data"]) == 3
    assert call(f"/v1/events?created[gt]={max(event['created'] for event in made) + 10}")[1]["data"] == []
    assert call(f"/v1/events?created[lt]={created}")[1]["data"] == []
    status, error = call("/v1/events?type=a&types[0]=b")
    assert status == 400 and error["error"]["code"] == "parameters_exclusive"


def test_modes_are_separate_and_events_age_out_after_30_days(
    service_env: dict, published_events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (live,) = make_events(1, published_events, key=LIVE_KEY)
    assert call("/v1/events")[1]["data"] == []
    assert [event["id"] for event in call("/v1/events", key=LIVE_KEY)[1]["data"]] == [live["id"]]

    monkeypatch.setattr("portal_sessions.runtime.clock.now", lambda: live["created"] + 30 * 86400 + 1)

    assert call("/v1/events", key=LIVE_KEY)[1]["data"] == []
    assert call(f"/v1/events/{live['id']}", key=LIVE_KEY)[0] == 404


def test_an_id_too_long_for_a_key_names_no_event(service_env: dict) -> None:
    # 2,000 four-byte letters: past DynamoDB's 2,048-byte partition key (never to be asked of the store)
    status, error = call(f"/v1/events/{'𠀀' * 2000}")

    assert status == 404
    assert error["error"]["code"] == "resource_missing"


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_a_list_cursor_too_long_for_a_key_is_refused(service_env: dict, cursor: str) -> None:
    status, error = call(f"/v1/events?{cursor}={'a' * 3000}")

    assert status == 400
    assert error["error"]["param"] == cursor
