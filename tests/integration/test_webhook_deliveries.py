"""Webhook deliveries on moto, with a real receiver on loopback: every event a call makes reaches the endpoints that
want it, signed so the official SDK verifies it; retries with back-off (a test clock), failures kept, and no
delivery to an address that is not allowed."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import configurations_handler
import create_session_handler
import events_handler
import pytest
import stripe
import webhook_deliveries_handler
import webhook_endpoints_handler

from portal_sessions.domain.webhooks import endpoint_secrets, new_signing_secret
from portal_sessions.outbound.webhook_delivery import AttemptRecorder, Delivery, RecordBudget, attempt
from portal_sessions.runtime.errors import ConditionFailedError
from portal_sessions.runtime.settings import clear_settings_cache
from portal_sessions.store.cached_endpoints import CachedEndpointReads
from portal_sessions.store.ports import AttemptLog
from portal_sessions.store.table import dynamodb_client
from portal_sessions.store.webhook_attempts import WebhookAttemptStore
from portal_sessions.store.webhooks import EventStore, WebhookEndpointStore
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event
from tests.support.settings import LIVE_KEY, TEST_KEY
from tests.support.webhook_receiver import Receiver, stalling_receiver, webhook_receiver

PORTAL_EVENTS = ["billing_portal.session.created", "billing_portal.configuration.created",
                 "billing_portal.configuration.updated"]  # fmt: skip


@pytest.fixture
def local_env(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The local runner's switch: endpoints on loopback (the test's receiver) are allowed."""
    monkeypatch.setenv("WEBHOOK_LOCAL_RECEIVERS", "true")
    clear_settings_cache()
    yield service_env
    clear_settings_cache()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def api(handler: Any, method: str, path: str, body: str = "", key: str = TEST_KEY) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {key}"}
    response = handler.lambda_handler(http_event(method, path, headers=headers, body=body), FakeContext())
    assert response["statusCode"] == 200, response["body"]
    result: dict[str, Any] = json.loads(response["body"])
    return result


def register(url: str, events: list[str], key: str = TEST_KEY) -> dict[str, Any]:
    body = f"url={url}&" + "&".join(f"enabled_events[{n}]={name}" for n, name in enumerate(events))
    return api(webhook_endpoints_handler, "POST", "/v1/webhook_endpoints", body, key)


def create_session(key: str = TEST_KEY) -> dict[str, Any]:
    return api(create_session_handler, "POST", "/v1/billing_portal/sessions",
               "customer=cus_1&return_url=https://example.com", key)  # fmt: skip


def create_configuration() -> dict[str, Any]:
    return api(configurations_handler, "POST", "/v1/billing_portal/configurations",
               "features[invoice_history][enabled]=true")  # fmt: skip


def queued(env: dict[str, str], queue: str = "TEST_WEBHOOK_DELIVERY_QUEUE_URL") -> list[dict[str, Any]]:
    """Messages on a queue (those not delayed), taken off it."""
    sqs = aws_client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=env[queue], MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            sqs.delete_message(QueueUrl=env[queue], ReceiptHandle=message["ReceiptHandle"])
        messages += batch


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The messages as Lambda's SQS event source hands them to the function."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook-work",
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


def deliver(env: dict[str, str]) -> dict[str, Any]:
    response: dict[str, Any] = webhook_deliveries_handler.lambda_handler(sqs_event(queued(env)), FakeContext())
    return response


def test_each_event_is_delivered_signed_as_stripe_signs(
    local_env: dict[str, str], receiver: Receiver, published_events: Any
) -> None:
    # Given an endpoint for Stripe's three portal events
    endpoint = register(receiver.url, PORTAL_EVENTS)
    secret = endpoint["secret"]

    # When a session and a configuration are created and the configuration is updated
    session = create_session()
    configuration = create_configuration()
    api(configurations_handler, "POST", f"/v1/billing_portal/configurations/{configuration['id']}", "name=Renamed")
    on_the_bus = published_events()
    assert deliver(local_env)["batchItemFailures"] == []

    # Then each arrives once, verified by the official SDK with the endpoint's secret
    assert len(receiver.received) == 3
    events = [
        stripe.Webhook.construct_event(delivery.body, delivery.headers["stripe-signature"], secret)
        for delivery in receiver.received
    ]
    assert sorted(event.type for event in events) == sorted(PORTAL_EVENTS)
    by_type = {event.type: event for event in events}
    assert by_type["billing_portal.session.created"].data.object.id == session["id"]
    assert by_type["billing_portal.configuration.created"].data.object.id == configuration["id"]
    updated = by_type["billing_portal.configuration.updated"]
    assert updated.data.object.name == "Renamed" and updated.data.previous_attributes.to_dict() == {"name": None}
    assert all(delivery.headers["content-type"].startswith("application/json") for delivery in receiver.received)
    # with the same ids as the events on EventBridge (which the SDK reads from `detail`)
    bus_ids = {envelope["detail"]["id"] for envelope in on_the_bus}
    assert {event.id for event in events} == bus_ids
    assert [envelope["detail"]["pending_webhooks"] for envelope in on_the_bus] == [1, 1, 1]
    # and a wrong secret fails verification
    with pytest.raises(stripe.SignatureVerificationError):
        delivery = receiver.received[0]
        stripe.Webhook.construct_event(delivery.body, delivery.headers["stripe-signature"], new_signing_secret())
    # and once delivered, no webhook is pending
    store = EventStore(local_env["TABLE_NAME"])
    assert [store.get(event.id, now=int(time.time()))["pending_webhooks"] for event in events] == [0, 0, 0]


def test_extensions_go_only_to_endpoints_that_name_them_and_other_modes_get_nothing(
    local_env: dict[str, str], receiver: Receiver, published_events: Any
) -> None:
    register(receiver.url, ["billing_portal.session.created"])
    with webhook_receiver() as everything:
        register(everything.url, ["*"])
        session = create_session()
        create_session(LIVE_KEY)  # a live event: no test endpoint gets it
        api(__import__("sessions_handler"), "POST", f"/v1/billing_portal/sessions/{session['id']}/expire")
        published_events()
        deliver(local_env)

        assert [json.loads(d.body)["type"] for d in receiver.received] == ["billing_portal.session.created"]
        assert sorted(json.loads(d.body)["type"] for d in everything.received) == [
            "billing_portal.session.created", "billing_portal.session.expired"
        ]  # fmt: skip


def test_a_disabled_endpoint_gets_nothing(local_env: dict[str, str], receiver: Receiver, published_events: Any) -> None:
    endpoint = register(receiver.url, ["*"])
    api(webhook_endpoints_handler, "POST", f"/v1/webhook_endpoints/{endpoint['id']}", "disabled=true")

    create_session()
    published_events()

    assert queued(local_env) == []  # nothing was even queued for it
    assert receiver.received == []


def test_an_endpoint_disabled_after_its_delivery_was_queued_gets_nothing(
    local_env: dict[str, str], receiver: Receiver, published_events: Any
) -> None:
    endpoint = register(receiver.url, ["*"])
    create_session()
    published_events()

    api(webhook_endpoints_handler, "POST", f"/v1/webhook_endpoints/{endpoint['id']}", "disabled=true")
    deliver(local_env)

    assert receiver.received == []


class RecordingQueue:
    """The delivery queue as the use case sees it (its own Protocol): what it was asked to send, and when."""

    def __init__(self) -> None:
        self.sent: list[tuple[Delivery, int]] = []
        self.failed: list[Delivery] = []

    def send(self, deliveries: list[Delivery], delay_seconds: int = 0) -> None:
        self.sent += [(delivery, delay_seconds) for delivery in deliveries]

    def send_failed(self, delivery: Delivery) -> None:
        self.failed.append(delivery)


def first_delivery(env: dict[str, str], published_events: Any) -> Delivery:
    create_session()
    published_events()
    (message,) = queued(env)
    return Delivery.from_json(message["Body"])


def attempt_at(
    delivery: Delivery,
    now: int,
    env: dict[str, str],
    queue: RecordingQueue,
    local: bool = True,
    counts: Counter[str] | None = None,
    attempts: AttemptLog | None = None,
) -> str:
    """One attempt, as the delivery function makes it: recorded in the endpoint's recent attempts (`attempts`, the
    table's store unless given; what the recorder counts goes in `counts`)."""
    log = attempts if attempts is not None else WebhookAttemptStore(env["TABLE_NAME"])
    return attempt(
        delivery,
        now=now,
        events=EventStore(env["TABLE_NAME"]),
        endpoints=WebhookEndpointStore(env["TABLE_NAME"]),
        secrets=endpoint_secrets(env["WEBHOOK_SECRETS_KEY_ID"]),
        queue=queue,
        local_receivers=local,
        recorder=AttemptRecorder(log, RecordBudget(max_environments=1), counts if counts is not None else Counter()),
    )


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    local_env: dict[str, str], published_events: Any
) -> None:
    with webhook_receiver(statuses=[500, 500, 200]) as receiver:
        secret = register(receiver.url, ["*"])["secret"]
        delivery, queue, clock = first_delivery(local_env, published_events), RecordingQueue(), int(time.time())

        # First attempt: 500, so a second is queued, due a minute later
        assert attempt_at(delivery, clock, local_env, queue) == "retrying"
        second, delay = queue.sent[-1]
        assert (second.attempt, second.due_at, delay) == (2, clock + 60, 60)
        # Arriving early (SQS delays at most 15 minutes), it waits again, and nothing is sent
        assert attempt_at(second, clock + 30, local_env, queue) == "waiting"
        assert queue.sent[-1] == (second, 30) and len(receiver.received) == 1
        # Second attempt: 500 again; the third is due 15 minutes later
        assert attempt_at(second, clock + 60, local_env, queue) == "retrying"
        third, delay = queue.sent[-1]
        assert (third.attempt, third.due_at, delay) == (3, clock + 60 + 900, 900)
        # Third attempt: delivered
        assert attempt_at(third, third.due_at, local_env, queue) == "delivered"

        assert len(receiver.received) == 3
        ids = {stripe.Webhook.construct_event(d.body, d.headers["stripe-signature"], secret).id
               for d in receiver.received}  # fmt: skip
        assert ids == {delivery.event_id}  # the same event each time, signed afresh
        assert len({d.headers["stripe-signature"] for d in receiver.received}) == 3
        assert EventStore(local_env["TABLE_NAME"]).get(delivery.event_id, now=clock)["pending_webhooks"] == 0


def test_after_the_last_attempt_the_delivery_is_kept_as_failed(
    local_env: dict[str, str],
    published_events: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with webhook_receiver(statuses=[500] * 10) as receiver:
        secret = register(receiver.url, ["*"])["secret"]
        delivery, queue, clock = first_delivery(local_env, published_events), RecordingQueue(), int(time.time())
        outcomes = []
        for _attempt in range(4):  # test mode: the first attempt and three retries
            outcomes.append(attempt_at(delivery, clock, local_env, queue))
            if queue.sent:
                delivery, _delay = queue.sent.pop()
                clock = delivery.due_at

        # every attempt at the endpoint failed for the whole schedule: it is disabled, as Stripe would
        assert outcomes == ["retrying", "retrying", "retrying", "disabled"]
        assert len(receiver.received) == 4
        (failed,) = queue.failed
        assert (failed.attempt, failed.last_failure) == (4, "answered 500")
        endpoint_id = failed.endpoint_id
        assert api(webhook_endpoints_handler, "GET", f"/v1/webhook_endpoints/{endpoint_id}")["status"] == "disabled"
        api(webhook_endpoints_handler, "POST", f"/v1/webhook_endpoints/{endpoint_id}", "disabled=false")

        # Through the function, on the test clock: the failed delivery goes to the failed-deliveries queue, logged and
        # metered
        monkeypatch.setattr("portal_sessions.runtime.clock.now", lambda: clock)
        response = webhook_deliveries_handler.lambda_handler(
            sqs_event([{"MessageId": "m1", "ReceiptHandle": "r1", "Body": delivery.to_json(), "MD5OfBody": "x"}]),
            FakeContext(),
        )
        assert response["batchItemFailures"] == []
        (kept,) = queued(local_env, "TEST_WEBHOOK_FAILED_QUEUE_URL")
        assert json.loads(kept["Body"])["event_id"] == delivery.event_id
        assert "WebhookDeliveriesFailed" in capsys.readouterr().out
        (logged,) = [record for record in caplog.records if record.levelname == "ERROR"]
        assert logged.getMessage() == "webhook delivery failed after its last attempt"
        assert logged.event_id == delivery.event_id  # type: ignore[attr-defined]
        assert secret.removeprefix("whsec_") not in caplog.text


def test_the_address_is_checked_again_at_delivery_and_never_connected_to(
    local_env: dict[str, str], receiver: Receiver, published_events: Any
) -> None:
    # An endpoint on loopback, allowed when saved under the local switch; deployed, the switch is off
    register(receiver.url, ["*"])
    delivery, queue = first_delivery(local_env, published_events), RecordingQueue()

    outcome = attempt_at(delivery, int(time.time()), local_env, queue, local=False)

    assert outcome == "retrying" and receiver.received == []
    assert "private, loopback or link-local" in (queue.sent[-1][0].last_failure or "")


def test_a_live_endpoint_must_use_https_even_under_the_local_switch(local_env: dict[str, str]) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {LIVE_KEY}"}
    body = "url=http://127.0.0.1:9/webhook&enabled_events[0]=*"
    response = webhook_endpoints_handler.lambda_handler(
        http_event("POST", "/v1/webhook_endpoints", headers=headers, body=body), FakeContext()
    )

    assert response["statusCode"] == 400 and json.loads(response["body"])["error"]["code"] == "url_invalid"


def test_slow_receivers_delay_no_other_endpoint_and_a_delivered_event_is_not_sent_again(
    local_env: dict[str, str],
    receiver: Receiver,
    published_events: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a healthy endpoint subscribed beside one that drips its answer and one that sends `100 Continue` for ever
    monkeypatch.setenv("WEBHOOK_ATTEMPT_SECONDS", "1")
    clear_settings_cache()
    with stalling_receiver("drip") as drip, stalling_receiver("continue") as interim:
        for url in (receiver.url, drip.url, interim.url):
            register(url, ["billing_portal.session.created"])
        made = {create_session()["id"] for _session in range(3)}
        published_events()

        # When the nine deliveries are taken in one batch
        capsys.readouterr()
        started = time.monotonic()
        response = deliver(local_env)
        took = time.monotonic() - started

        # Then the healthy endpoint got every event, once, while the slow ones were given up on at their deadline
        assert response["batchItemFailures"] == []
        assert sorted(json.loads(d.body)["data"]["object"]["id"] for d in receiver.received) == sorted(made)
        assert took <= 1 + 1.5  # the attempts ran at once: one deadline, not nine
        # counted by the handler's own thread, once per name for the batch (the threads add to no shared metric)
        (emitted,) = [
            json.loads(line) for line in capsys.readouterr().out.splitlines() if '"WebhooksDelivered"' in line
        ]
        assert (emitted["WebhooksDelivered"], emitted["WebhookAttemptsFailed"]) == ([3.0], [6.0])
        waiting = aws_client("sqs").get_queue_attributes(
            QueueUrl=local_env["TEST_WEBHOOK_DELIVERY_QUEUE_URL"], AttributeNames=["All"]
        )["Attributes"]
        # the slow endpoints' next attempts (delayed until due), and nothing for the healthy one
        assert (waiting["ApproximateNumberOfMessages"], waiting["ApproximateNumberOfMessagesDelayed"]) == ("0", "6")


def test_an_endpoint_that_succeeded_during_the_schedule_is_not_disabled_when_one_delivery_fails_for_good(
    local_env: dict[str, str], published_events: Any
) -> None:
    # Given a receiver that fails one delivery's every attempt, but takes another delivery in between
    with webhook_receiver(statuses=[500, 200, 500, 500, 500]) as receiver:
        register(receiver.url, ["*"])
        delivery, queue, clock = first_delivery(local_env, published_events), RecordingQueue(), int(time.time())
        events = EventStore(local_env["TABLE_NAME"])
        other = replace(delivery, event_id="evt_AnotherEventSameEndpoint")
        events.put_new({**(events.get(delivery.event_id, now=clock) or {}), "id": other.event_id})

        # When
        outcomes = [attempt_at(delivery, clock, local_env, queue), attempt_at(other, clock + 1, local_env, queue)]
        for _retry in range(3):
            retry, _delay = queue.sent.pop()
            outcomes.append(attempt_at(retry, retry.due_at, local_env, queue))

        # Then that delivery failed for good, but the endpoint stays enabled: not every attempt at it failed
        assert outcomes == ["retrying", "delivered", "retrying", "retrying", "failed"]
        endpoint = WebhookEndpointStore(local_env["TABLE_NAME"]).get(delivery.endpoint_id)
        assert endpoint is not None and endpoint.endpoint["status"] == "enabled"
        assert len(receiver.received) == 5


def resend(event_id: str, body: str, key: str = TEST_KEY) -> tuple[int, dict[str, Any]]:
    """`stripe events resend <id> --webhook-endpoint <we_>` as stripe-cli sends it (POST /v1/events/{id}/retry)."""
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {key}"}
    response = events_handler.lambda_handler(
        http_event("POST", f"/v1/events/{event_id}/retry", headers=headers, body=body), FakeContext()
    )
    return response["statusCode"], json.loads(response["body"])


def test_an_event_is_resent_to_one_endpoint_with_its_own_id_as_the_stripe_cli_asks(
    local_env: dict[str, str], receiver: Receiver, published_events: Any
) -> None:
    # Given an event delivered once
    endpoint = register(receiver.url, ["billing_portal.session.created"])
    create_session()
    (envelope,) = published_events()
    deliver(local_env)
    event_id = envelope["detail"]["id"]

    # When it is resent to the endpoint
    status, shown = resend(event_id, f"webhook_endpoint={endpoint['id']}")
    deliver(local_env)

    # Then the endpoint gets it again, the same event (same id), signed afresh
    assert status == 200 and shown["id"] == event_id and shown["object"] == "event"
    first, again = receiver.received
    assert json.loads(again.body)["id"] == json.loads(first.body)["id"] == event_id
    stripe.Webhook.construct_event(again.body, again.headers["stripe-signature"], endpoint["secret"])


def test_a_resend_names_an_enabled_endpoint_of_the_events_mode_that_listens_for_it(
    local_env: dict[str, str], receiver: Receiver, published_events: Any
) -> None:
    listening = register(receiver.url, ["billing_portal.session.created"])
    deaf = register(receiver.url, ["billing_portal.session.expired"])
    live = register("https://hooks.example.com/live", ["*"], key=LIVE_KEY)
    create_session()
    (envelope,) = published_events()
    assert len(queued(local_env)) == 1  # its first delivery, taken off the queue
    event_id = envelope["detail"]["id"]
    api(webhook_endpoints_handler, "POST", f"/v1/webhook_endpoints/{listening['id']}", "disabled=true")

    refusals = {
        "none": resend(event_id, "for_stripecli=true"),
        "other mode": resend(event_id, f"webhook_endpoint={live['id']}"),
        "disabled": resend(event_id, f"webhook_endpoint={listening['id']}"),
        "not listening": resend(event_id, f"webhook_endpoint={deaf['id']}"),
        "connect": resend(event_id, f"webhook_endpoint={deaf['id']}&account=acct_1"),
        "live key": resend(event_id, f"webhook_endpoint={live['id']}", key=LIVE_KEY),
    }

    assert {name: status for name, (status, _body) in refusals.items()} == {
        "none": 400, "other mode": 400, "disabled": 400, "not listening": 400, "connect": 400, "live key": 404,
    }  # fmt: skip
    assert refusals["none"][1]["error"]["param"] == "webhook_endpoint"
    assert refusals["other mode"][1]["error"]["code"] == "resource_missing"
    assert "is disabled" in refusals["disabled"][1]["error"]["message"]
    assert "does not listen" in refusals["not listening"][1]["error"]["message"]
    assert refusals["live key"][1]["error"]["code"] == "resource_missing"  # a test event is not live mode's
    assert queued(local_env) == [] and queued(local_env, "WEBHOOK_DELIVERY_QUEUE_URL") == []  # nothing was queued


class EndpointReads:
    """The delivery side's reads of endpoints, as DynamoDB receives them: list queries and item reads."""

    def __init__(self) -> None:
        self.list_queries = 0
        self.item_reads = 0

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "Query" and str(params["ExpressionAttributeValues"]).find("webhook_endpoints#") >= 0:
            self.list_queries += 1
        if model.name == "GetItem" and params["Key"]["pk"]["S"].startswith("webhook_endpoint#"):
            self.item_reads += 1


@pytest.fixture
def endpoint_reads() -> Iterator[EndpointReads]:
    reads = EndpointReads()
    events = dynamodb_client().meta.events
    events.register("provide-client-params.dynamodb", reads, unique_id="endpoint-reads")
    yield reads
    events.unregister("provide-client-params.dynamodb", unique_id="endpoint-reads")


@pytest.mark.parametrize(("cache_seconds", "reads_expected"), [("60", 1), ("0", 3)])
def test_an_environment_reads_its_endpoints_once_per_cache_age_not_once_per_event_and_attempt(
    local_env: dict[str, str],
    receiver: Receiver,
    published_events: Any,
    endpoint_reads: EndpointReads,
    monkeypatch: pytest.MonkeyPatch,
    cache_seconds: str,
    reads_expected: int,
) -> None:
    # Given the template's setting (at full load one endpoint's item would be read for every event and attempt)
    monkeypatch.setenv("WEBHOOK_ENDPOINT_CACHE_SECONDS", cache_seconds)
    clear_settings_cache()
    register(receiver.url, ["billing_portal.session.created"])
    endpoint_reads.list_queries = endpoint_reads.item_reads = 0  # the API's own reads (the endpoint limit) aside

    # When three events are dispatched and delivered by one environment
    for _ in range(3):
        create_session()
        published_events()
        assert deliver(local_env)["batchItemFailures"] == []

    # Then each arrived, and the mode's endpoints and the endpoint itself were read once (kept), or each time (0)
    assert len(receiver.received) == 3
    assert (endpoint_reads.list_queries, endpoint_reads.item_reads) == (reads_expected, reads_expected)


def test_kept_endpoints_follow_their_changes_within_the_cache_age_and_the_attempts_own_writes_at_once(
    local_env: dict[str, str], receiver: Receiver
) -> None:
    now = [1000.0]
    store = WebhookEndpointStore(local_env["TABLE_NAME"])
    reads = CachedEndpointReads(store, max_age=2, clock=lambda: now[0])
    endpoint = register(receiver.url, ["*"])
    assert [kept["id"] for kept in reads.all_of_mode(False)] == [endpoint["id"]]
    first = reads.get(endpoint["id"])
    assert first is not None and first.endpoint["status"] == "enabled"

    # a change made through the API is not seen within the cache age, and is seen after it
    api(webhook_endpoints_handler, "POST", f"/v1/webhook_endpoints/{endpoint['id']}", "disabled=true")
    second = register(receiver.url, ["*"])
    now[0] += 1.9
    assert reads.get(endpoint["id"]) == first
    assert [kept["id"] for kept in reads.all_of_mode(False)] == [endpoint["id"]]
    now[0] += 0.2
    changed = reads.get(endpoint["id"])
    assert changed is not None and changed.endpoint["status"] == "disabled"
    assert {kept["id"] for kept in reads.all_of_mode(False)} == {endpoint["id"], second["id"]}

    # an attempt's failing mark is kept at once (no environment writes it again for each attempt) ...
    assert (kept := reads.get(second["id"])) is not None and kept.failing_since is None
    reads.mark_failing(second["id"], since=500)
    assert (kept := reads.get(second["id"])) is not None and kept.failing_since == 500
    assert (read := store.get(second["id"])) is not None and read.failing_since == 500
    reads.clear_failing(second["id"])
    assert (kept := reads.get(second["id"])) is not None and kept.failing_since is None
    # ... and disabling drops what was kept, even when someone changed the endpoint first
    api(webhook_endpoints_handler, "POST", f"/v1/webhook_endpoints/{second['id']}", "description=changed")
    with pytest.raises(ConditionFailedError):
        reads.disable(kept)
    again = reads.get(second["id"])
    assert again is not None and again.endpoint["description"] == "changed"
