"""Session lifecycle extensions (retrieve, list, expire) and the events they publish, on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import create_session_handler
import pytest
import redirect_handler
import session_events_handler
import sessions_handler
import webhook_deliveries_handler
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from local_gateway.streams import StreamReader
from portal_sessions.runtime import clock
from portal_sessions.runtime.errors import ServiceUnavailableError
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import CLOCK_START, LIVE_KEY, TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
T0 = CLOCK_START


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    current = [T0]
    monkeypatch.setattr(clock, "now", lambda: current[0])
    return current


def api(method: str, path: str, *, key: str = TEST_KEY, body: str = "", query: str = "", **headers: str) -> Any:
    all_headers = {"authorization": f"Bearer {key}", "content-type": "application/x-www-form-urlencoded", **headers}
    event = http_event(method, path, headers=all_headers, body=body)
    event["rawQueryString"] = query
    handler = create_session_handler if path == "/v1/billing_portal/sessions" and method == "POST" else sessions_handler
    return handler.lambda_handler(event, FakeContext())


def create(customer: str = "cus_1", key: str = TEST_KEY, **headers: str) -> dict[str, Any]:
    body = urlencode({"customer": customer, "return_url": "https://example.com"})
    response = api("POST", "/v1/billing_portal/sessions", key=key, body=body, **headers)
    assert response["statusCode"] == 200, response["body"]
    return json_body(response)


def visit(url: str) -> dict[str, Any]:
    return redirect_handler.lambda_handler(http_event("GET", urlsplit(url).path), FakeContext())


def test_created_sessions_show_their_lifecycle_fields(service_env: dict, now: list[int]) -> None:
    session = create()

    assert (session["status"], session["expires_at"], session["visited_at"]) == ("open", T0 + 300, None)


def test_retrieve_shows_the_session_without_its_url(service_env: dict, now: list[int]) -> None:
    # Given a created and visited session
    created = create()
    now[0] = T0 + 5
    visit(created["url"])

    # When
    response = api("GET", f"/v1/billing_portal/sessions/{created['id']}")

    # Then it is the same session, now visited, and its URL cannot be shown again
    assert response["statusCode"] == 200
    retrieved = json_body(response)
    assert retrieved["id"] == created["id"]
    assert retrieved["url"] is None
    assert (retrieved["status"], retrieved["visited_at"], retrieved["expires_at"]) == ("visited", T0 + 5, T0 + 3605)


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY])
def test_retrieve_of_an_unknown_or_other_mode_session_is_404(service_env: dict, now: list[int], key: str) -> None:
    # Given a test-mode session
    created = create()
    session_id = created["id"] if key == LIVE_KEY else "bps_Unknown"

    # When it is looked up with a live key, or an unknown id is looked up
    response = api("GET", f"/v1/billing_portal/sessions/{session_id}", key=key)

    # Then
    assert response["statusCode"] == 404
    assert json_body(response)["error"]["code"] == "resource_missing"


def test_list_is_per_customer_newest_first_and_paginates(service_env: dict, now: list[int]) -> None:
    # Given five sessions of one customer (a second apart) and one of another
    ids = []
    for second in range(5):
        now[0] = T0 + second
        ids.append(create("cus_A")["id"])
    create("cus_B")

    # When the customer's sessions are listed two at a time
    first = json_body(api("GET", "/v1/billing_portal/sessions", query="customer=cus_A&limit=2"))
    second = json_body(
        api("GET", "/v1/billing_portal/sessions", query=f"customer=cus_A&limit=2&starting_after={ids[3]}")
    )
    back = json_body(api("GET", "/v1/billing_portal/sessions", query=f"customer=cus_A&limit=2&ending_before={ids[2]}"))

    # Then pages follow each other, newest first, with Stripe's list object
    assert (first["object"], first["url"]) == ("list", "/v1/billing_portal/sessions")
    assert [s["id"] for s in first["data"]] == [ids[4], ids[3]] and first["has_more"] is True
    assert [s["id"] for s in second["data"]] == [ids[2], ids[1]] and second["has_more"] is True
    assert [s["id"] for s in back["data"]] == [ids[4], ids[3]]
    assert all(s["url"] is None and s["customer"] == "cus_A" for s in first["data"] + second["data"])


def test_list_needs_a_customer_and_never_shows_the_other_mode(service_env: dict, now: list[int]) -> None:
    create("cus_A")

    assert api("GET", "/v1/billing_portal/sessions")["statusCode"] == 400
    live = json_body(api("GET", "/v1/billing_portal/sessions", key=LIVE_KEY, query="customer=cus_A"))
    assert live["data"] == []


def test_expire_ends_the_session_and_its_url_answers_410(service_env: dict, now: list[int]) -> None:
    # Given
    created = create()

    # When
    now[0] = T0 + 10
    response = api("POST", f"/v1/billing_portal/sessions/{created['id']}/expire")

    # Then
    assert response["statusCode"] == 200
    expired = json_body(response)
    assert (expired["status"], expired["expires_at"]) == ("expired", T0 + 10)
    assert visit(created["url"])["statusCode"] == 410

    # And it cannot be expired twice
    again = api("POST", f"/v1/billing_portal/sessions/{created['id']}/expire")
    assert again["statusCode"] == 400


def test_events_are_published_once_each_as_stripe_events(
    service_env: dict, now: list[int], published_events: Any
) -> None:
    # Given a session created (and retried with its Idempotency-Key), visited twice, then expired
    created = create(**{"idempotency-key": "once"})
    create(**{"idempotency-key": "once"})
    visit(created["url"])
    visit(created["url"])
    api("POST", f"/v1/billing_portal/sessions/{created['id']}/expire")

    # When the bus's deliveries are read
    delivered = published_events()

    # Then one event of each type (in no promised order: they are published apart), Stripe-shaped, never carrying
    # the URL
    delivered.sort(key=lambda entry: entry["detail"]["created"])
    assert sorted(entry["detail-type"] for entry in delivered) == [
        "billing_portal.session.created",
        "billing_portal.session.expired",
        "billing_portal.session.visited",
    ]
    for entry in delivered:
        event = entry["detail"]
        assert event["id"].startswith("evt_") and event["object"] == "event"
        assert event["type"] == entry["detail-type"]
        assert event["livemode"] is False and isinstance(event["created"], int)
        assert event["data"]["object"]["id"] == created["id"]
        assert event["data"]["object"]["url"] is None
        assert event["request"]["id"].startswith("req_")
    (created_event,) = [entry["detail"] for entry in delivered if entry["detail-type"].endswith(".created")]
    assert created_event["request"]["idempotency_key"] == "once"
    assert created["url"].rsplit("/", 1)[1] not in json.dumps(delivered)


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_a_failing_bus_never_fails_the_request_nor_holds_the_stream_and_its_event_is_retried(
    service_env: dict, now: list[int]
) -> None:
    # Given the bus is gone
    reader = StreamReader(service_env["TABLE_NAME"], from_start=True)
    events = aws_client("events")
    events.delete_event_bus(Name=service_env["EVENT_BUS_NAME"])

    # When a session is created
    session = create()

    # Then it was created anyway, once: a request writes only DynamoDB
    assert session["status"] == "open"
    listed = json_body(api("GET", "/v1/billing_portal/sessions", query="customer=cus_1"))
    assert [s["id"] for s in listed["data"]] == [session["id"]]

    # And the stream's consumer goes on (it stores and queues, nothing more), while the event's message fails and
    # comes back
    records = [record for record in reader.read() if record["dynamodb"]["Keys"]["pk"]["S"].startswith("token#")]
    assert len(records) == 1
    assert session_events_handler.lambda_handler({"Records": records}, FakeContext())["batchItemFailures"] == []
    sqs = aws_client("sqs")
    (message,) = sqs.receive_message(QueueUrl=service_env["TEST_WEBHOOK_DELIVERY_QUEUE_URL"])["Messages"]
    batch = {"Records": [{"messageId": message["MessageId"], "body": message["Body"]}]}
    failed = webhook_deliveries_handler.lambda_handler(batch, FakeContext())["batchItemFailures"]
    assert failed == [{"itemIdentifier": message["MessageId"]}]

    # When the bus is back, the message, received again, is published
    events.create_event_bus(Name=service_env["EVENT_BUS_NAME"])
    assert webhook_deliveries_handler.lambda_handler(batch, FakeContext())["batchItemFailures"] == []


def test_retrieve_refuses_to_expand_what_cannot_be(service_env: dict, now: list[int]) -> None:
    created = create()

    response = api("GET", f"/v1/billing_portal/sessions/{created['id']}", query="expand[]=customer")

    assert response["statusCode"] == 400
    assert json_body(response)["error"]["param"] == "expand"


def test_after_a_record_fails_the_rest_of_its_batch_waits(service_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch where a session is created, then visited, and the `created` event cannot be stored now
    sample = json.loads((ROOT / "events" / "session_events_stream.json").read_text())
    tried: list[str] = []

    def flaky_store(event: dict[str, Any], *_args: Any) -> bool:
        tried.append(event["type"])
        raise ServiceUnavailableError("The session store is unavailable right now. Please retry shortly.")

    monkeypatch.setattr(session_events_handler, "store_and_queue", flaky_store)

    # When the batch comes in, every record fails and the batch is retried whole...
    with pytest.raises(BatchProcessingError):
        session_events_handler.lambda_handler(sample, FakeContext())

    # ...and `visited` was not even tried, so it can never be stored before `created`
    assert tried == ["billing_portal.session.created"]
