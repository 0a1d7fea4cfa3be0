"""The event pipeline at its limits, on both engines with AWS's limits enforced (tests/conftest.py): the largest
valid configuration's events are stored, published and delivered, and events made after them still flow; a record
no retry can turn into an event is kept where an operator sees it, reported, and holds nothing behind it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import configurations_handler
import create_session_handler
import pytest
import redirect_handler
import session_events_handler
import webhook_deliveries_handler

from portal_admin.__main__ import main as admin
from portal_sessions.runtime.errors import InvalidRequestError
from portal_sessions.runtime.settings import clear_settings_cache
from portal_sessions.store.webhooks import EventQuery, EventStore
from tests.integration.test_webhook_deliveries import create_session, deliver, queued, register, sqs_event
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event
from tests.support.settings import LIVE_KEY, TEST_KEY
from tests.support.webhook_receiver import tls_for_loopback, webhook_receiver

WIDE = "\U0001d11e"  # four bytes in UTF-8, twelve as a JSON `\u` escape pair


def configuration_call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"content-type": "application/json", "authorization": f"Bearer {TEST_KEY}"}
    response = configurations_handler.lambda_handler(
        http_event(method, path, headers=headers, body=json.dumps(body, ensure_ascii=False)), FakeContext()
    )
    assert response["statusCode"] == 200, response["body"][:300]
    result: dict[str, Any] = json.loads(response["body"])
    return result


def metadata(keys: range, fill: str) -> dict[str, str]:
    """Metadata at Stripe's limits: keys of 40 characters, values of 500, each character four bytes."""
    return {f"{number:02d}".ljust(40, WIDE): fill * 500 for number in keys}


@pytest.fixture
def local_env(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("WEBHOOK_LOCAL_RECEIVERS", "true")
    clear_settings_cache()
    return service_env


def test_the_largest_valid_configurations_events_are_stored_published_and_delivered(
    local_env: dict[str, str], published_events: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tls_for_loopback(tmp_path) as (server_context, certificate), webhook_receiver() as receiver, \
            webhook_receiver(tls=server_context) as live_receiver:  # fmt: skip
        monkeypatch.setenv("SSL_CERT_FILE", certificate)  # a live endpoint is https, with a certificate it trusts
        register(receiver.url, ["*"])
        register(live_receiver.url, ["*"], LIVE_KEY)
        # Given a configuration brought to 50 keys of 500 four-byte characters over several updates (a request body
        # holds at most 64 KiB), then every value replaced, so an update's event carries two full sets
        made = configuration_call("POST", "/v1/billing_portal/configurations", {
            "features": {"invoice_history": {"enabled": True}},
            "business_profile": {"headline": WIDE * 60, "privacy_policy_url": "https://example.com/" + "p" * 2020,
                                 "terms_of_service_url": "https://example.com/" + "t" * 2020},
            "default_return_url": "https://example.com/" + "r" * 2020,
        })  # fmt: skip
        path = f"/v1/billing_portal/configurations/{made['id']}"
        for start in range(0, 50, 10):
            configuration_call("POST", path, {"metadata": metadata(range(start, start + 10), WIDE)})
        for start in range(0, 50, 10):
            configuration_call("POST", path, {"metadata": metadata(range(start, start + 10), "\U0001f600")})
        # and sessions of both modes made after it
        test_session = create_session()
        live_session = create_session(LIVE_KEY)

        # When the pipeline runs: the stream, dispatch, delivery
        on_the_bus = published_events()
        assert deliver(local_env)["batchItemFailures"] == []
        live = queued(local_env, "WEBHOOK_DELIVERY_QUEUE_URL")
        assert webhook_deliveries_handler.lambda_handler(sqs_event(live), FakeContext())["batchItemFailures"] == []

    # Then every event was published and the test mode ones delivered, the largest near the maximum
    published = {envelope["detail"]["id"]: envelope["detail"] for envelope in on_the_bus}
    assert len(published) == 1 + 10 + 2
    delivered = {json.loads(delivery.body)["id"] for delivery in receiver.received}
    assert delivered == {event_id for event_id, event in published.items() if not event["livemode"]}
    # and the live session's event, made after them, reached its live endpoint in the same run (no retry needed)
    (live_delivery,) = live_receiver.received
    assert json.loads(live_delivery.body)["data"]["object"]["id"] == live_session["id"]
    objects = {event["data"]["object"]["id"] for event in published.values()}
    assert {test_session["id"], live_session["id"], made["id"]} <= objects
    largest = max(len(json.dumps(event, ensure_ascii=False).encode()) for event in published.values())
    assert 200_000 < largest < 300_000  # under DynamoDB's 400 KB with room; it would be about 650 KB escaped
    updates = [event for event in published.values() if "previous_attributes" in event["data"]]
    assert max(len(event["data"]["previous_attributes"].get("metadata", {})) for event in updates) == 50


def failed_records(env: dict[str, str]) -> list[dict[str, Any]]:
    sqs = aws_client("sqs")
    messages = sqs.receive_message(QueueUrl=env["SESSION_EVENTS_FAILED_QUEUE_URL"], MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


def test_a_record_that_can_never_make_an_event_is_kept_reported_and_holds_nothing_behind_it(
    service_env: dict[str, str],
    session_events: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given two sessions, and a fault (injected) that makes the first one's record impossible to turn into an event
    first, second = create_session(), create_session()
    understood = session_events_handler.event_from_stream_record

    def broken_for_the_first(record: dict[str, Any]) -> dict[str, Any] | None:
        event = understood(record)
        if event is not None and event["data"]["object"]["id"] == first["id"]:
            raise KeyError("injected")
        return event

    monkeypatch.setattr(session_events_handler, "event_from_stream_record", broken_for_the_first)

    # When the stream's batch is handled
    response = session_events()

    # Then the batch is not failed, the second session's event is stored and queued, and the first record is kept
    # with its keys and the reason (not its images), counted and logged
    assert response["batchItemFailures"] == []
    (kept,) = failed_records(service_env)
    assert kept["reason"] == "not understood: KeyError"
    assert kept["failed_record"]["Keys"]["pk"]["S"].startswith("token#")
    assert "NewImage" not in json.dumps(kept) and first["id"] not in json.dumps(kept)
    stored, _more = EventStore(service_env["TABLE_NAME"]).list_page(
        False, EventQuery(), now=second["created"], limit=10
    )
    assert [event["data"]["object"]["id"] for event in stored] == [second["id"]]
    assert "StreamRecordsFailed" in capsys.readouterr().out


def test_an_event_the_store_refuses_as_invalid_is_kept_not_retried(
    service_env: dict[str, str], session_events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_session()

    def refuse(*_args: Any, **_kwargs: Any) -> bool:
        raise InvalidRequestError("This request has a value the session store cannot hold.")

    monkeypatch.setattr(EventStore, "put_new", refuse)

    assert session_events()["batchItemFailures"] == []
    (kept,) = failed_records(service_env)
    assert kept["reason"] == "the event store refused the event as invalid"


def test_an_operator_replays_failed_deliveries_and_refused_events(
    local_env: dict[str, str], published_events: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = aws_client("sqs")
    work, failed = local_env["TEST_WEBHOOK_DELIVERY_QUEUE_URL"], local_env["TEST_WEBHOOK_FAILED_QUEUE_URL"]
    with webhook_receiver() as receiver:
        register(receiver.url, ["*"])
        create_session()
        (envelope,) = published_events()
        event_id = envelope["detail"]["id"]
        (first,) = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=work)["Messages"]]
        sqs.purge_queue(QueueUrl=work)
        # Given a delivery failed after its last attempt, and the event refused by EventBridge (both kept)
        kept = [{**first, "attempt": 4, "last_failure": "answered 500"},
                {"event_id": event_id, "livemode": False, "kind": "event", "unpublished": "refused"}]  # fmt: skip
        for body in kept:
            sqs.send_message(QueueUrl=failed, MessageBody=json.dumps(body))
        capsys.readouterr()

        # When the operator replays the mode's failed queue onto its webhook queue
        assert admin(["--table", local_env["TABLE_NAME"], "webhooks", "replay", "--from", failed, "--to", work]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == "2 replayed"
        again = published_events()  # the event is dispatched again: published, its webhooks not queued twice
        assert deliver(local_env)["batchItemFailures"] == []

    # Then the delivery starts afresh and arrives, the event is on the bus again, and the failed queue is empty
    assert [json.loads(d.body)["id"] for d in receiver.received] == [event_id]
    assert [e["detail"]["id"] for e in again] == [event_id]
    assert sqs.receive_message(QueueUrl=failed).get("Messages", []) == []


def test_the_kept_records_are_listed_and_stay_kept(
    service_env: dict[str, str],
    session_events: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_session()

    def refuse(*_args: Any, **_kwargs: Any) -> bool:
        raise InvalidRequestError("This request has a value the session store cannot hold.")

    monkeypatch.setattr(EventStore, "put_new", refuse)
    session_events()
    capsys.readouterr()

    queue = service_env["SESSION_EVENTS_FAILED_QUEUE_URL"]
    assert admin(["events", "failed", "--queue", queue]) == 0
    printed = capsys.readouterr()

    (shown,) = [json.loads(line) for line in printed.out.splitlines() if line.startswith('{"failed_record"')]
    assert shown["reason"] == "the event store refused the event as invalid" and printed.err.strip() == "1 kept"
    attributes = aws_client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "1",
    )


def test_an_erasure_erases_the_owners_events_and_announces_nothing(
    local_env: dict[str, str], published_events: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a customer's session, created and visited, whose events were stored, published and delivered, and
    # another customer's
    with webhook_receiver() as receiver:
        register(receiver.url, ["*"])
        erased = create_session_of("cus_Erase")
        redirect_handler.lambda_handler(http_event("GET", urlsplit(erased["url"]).path), FakeContext())
        kept = create_session_of("cus_Keep")
        assert len(published_events()) == 3
        deliver(local_env)
        capsys.readouterr()

        # When the customer's data is erased
        assert admin(["--table", local_env["TABLE_NAME"], "sessions", "erase", "--mode", "test", "--customer",
                      "cus_Erase"]) == 0  # fmt: skip
        printed = capsys.readouterr().out.splitlines()[-1]
        after = published_events()  # the stream carries the erasure: mark, then delete
        deliver(local_env)

    # Then its events are gone and no event says anything of it; the other customer's stay
    assert printed == "1 test mode sessions of customer cus_Erase erased, and 2 of their events"
    assert after == []
    assert len(receiver.received) == 3  # the three events before, nothing since
    listed = EventStore(local_env["TABLE_NAME"]).list_page(False, EventQuery(), now=kept["created"], limit=10)[0]
    assert [event["data"]["object"]["id"] for event in listed] == [kept["id"]]
    assert "cus_Erase" not in json.dumps(listed)


def create_session_of(customer: str) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
    body = f"customer={customer}&return_url=https://example.com/{customer}"
    response = create_session_handler.lambda_handler(
        http_event("POST", "/v1/billing_portal/sessions", headers=headers, body=body), FakeContext()
    )
    assert response["statusCode"] == 200, response["body"]
    session: dict[str, Any] = json.loads(response["body"])
    return session


@pytest.mark.parametrize("crash", [True, False])
def test_a_crash_after_the_deliveries_are_sent_and_before_the_mark_sends_each_endpoint_the_event_at_most_twice(
    local_env: dict[str, str], session_events: Any, monkeypatch: pytest.MonkeyPatch, crash: bool
) -> None:
    # Given two endpoints, and (injected) the delivery function dying once right after it queued the deliveries
    mark_done = EventStore.mark_done
    crashes = [crash]

    def dying_once(self: EventStore, event_id: str, steps: list[str], *, purge_at: int) -> None:
        if "fanned_out" in steps and crashes and crashes.pop():
            raise RuntimeError("injected: the function died here")
        mark_done(self, event_id, steps, purge_at=purge_at)

    monkeypatch.setattr(EventStore, "mark_done", dying_once)
    with webhook_receiver() as first, webhook_receiver() as second:
        register(first.url, ["*"])
        register(second.url, ["*"])
        create_session()
        assert session_events()["batchItemFailures"] == []
        (message,) = queued(local_env)

        # When the event's message is handled, and handed over again while it fails (as SQS redelivers it)
        outcomes = []
        for _receive in range(3):
            failed = webhook_deliveries_handler.lambda_handler(sqs_event([message]), FakeContext())["batchItemFailures"]
            outcomes.append(bool(failed))
            if not failed:
                break
        assert deliver(local_env)["batchItemFailures"] == []

    # Then each endpoint got the event, twice with the crash (never more), once without, always with the same id
    assert outcomes == ([True, False] if crash else [False])
    for receiver in (first, second):
        ids = [json.loads(delivery.body)["id"] for delivery in receiver.received]
        assert len(set(ids)) == 1 and len(ids) == (2 if crash else 1)


def skipped_batch(env: dict[str, str]) -> dict[str, Any]:
    """The position of the table's stream records so far, as one batch, in the shape Lambda's on-failure destination
    gets it: never its records."""
    streams = aws_client("dynamodbstreams")
    stream_arn = aws_client("dynamodb").describe_table(TableName=env["TABLE_NAME"])["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
    records = streams.get_records(ShardIterator=iterator)["Records"]
    info = {"shardId": shard["ShardId"], "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"], "batchSize": len(records),
            "approximateArrivalOfFirstRecord": "2026-12-06T10:00:00Z",
            "approximateArrivalOfLastRecord": "2026-12-06T10:00:01Z", "streamArn": stream_arn}  # fmt: skip
    give_up_on(env, info)
    return info


def give_up_on(env: dict[str, str], info: dict[str, Any]) -> None:
    """What Lambda sends the mapping's on-failure destination after a batch's last retry."""
    message = {"requestContext": {"requestId": "c9b8fa9f-5a7f", "condition": "RetryAttemptsExhausted",
                                  "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:events",
                                  "approximateInvokeCount": 2161},
               "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
               "version": "1.0", "timestamp": "2026-12-06T16:00:02.000Z", "DDBStreamBatchInfo": info}  # fmt: skip
    aws_client("sqs").send_message(QueueUrl=env["SESSION_EVENTS_FAILED_QUEUE_URL"], MessageBody=json.dumps(message))


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_an_operator_lists_a_skipped_batchs_records_without_their_images_and_replays_them_once(
    service_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a test and a live session whose records' batch Lambda gave up on: its position is in the failed-records
    # queue, beside a record the function kept itself, and nothing was stored or queued for them
    test_session, live_session = create_session(), create_session(LIVE_KEY)
    info = skipped_batch(service_env)
    create_session()  # after the batch: its record is not the operator's to replay
    dead_letters = service_env["SESSION_EVENTS_FAILED_QUEUE_URL"]
    aws_client("sqs").send_message(QueueUrl=dead_letters, MessageBody='{"failed_record":{},"reason":"injected"}')
    capsys.readouterr()

    # When the operator lists what was skipped
    assert admin(["events", "skipped", "--queue", dead_letters]) == 0
    listed = capsys.readouterr()

    # Then each record of the batch is shown by position, kind, time and keys, never with what the items hold
    shown = [json.loads(line) for line in listed.out.splitlines()]
    assert shown[0]["SequenceNumber"] == info["startSequenceNumber"]
    assert shown[-1]["SequenceNumber"] == info["endSequenceNumber"] and len(shown) == info["batchSize"]
    sessions = [line for line in shown if line["Keys"]["pk"]["S"].startswith("token#")]
    assert [line["eventName"] for line in sessions] == ["INSERT", "INSERT"]
    assert all(line["ShardId"] == info["shardId"] and line["ApproximateCreationDateTime"] for line in shown)
    for private in ("cus_1", "https://example.com", test_session["id"], live_session["id"], "NewImage"):
        assert private not in listed.out
    assert listed.err.strip().endswith(f"1 batches, {info['batchSize']} records")

    # When the operator replays it, twice
    replaying = ["--table", service_env["TABLE_NAME"], "events", "skipped", "--queue", dead_letters, "--replay",
                 "--live-queue", service_env["WEBHOOK_DELIVERY_QUEUE_URL"],
                 "--test-queue", service_env["TEST_WEBHOOK_DELIVERY_QUEUE_URL"]]  # fmt: skip
    assert admin(replaying) == 0
    assert "2 queued" in capsys.readouterr().err
    give_up_on(service_env, info)  # the same batch, handed over again
    assert admin(replaying) == 0
    assert "2 already queued" in capsys.readouterr().err

    # Then each session's event was stored once and queued once on its own mode's queue, the replayed positions
    # are gone from the failed-records queue, and the function's own kept record stays there
    test_events, live_events = queued(service_env), queued(service_env, "WEBHOOK_DELIVERY_QUEUE_URL")
    assert [json.loads(m["Body"])["livemode"] for m in test_events + live_events] == [False, True]
    store = EventStore(service_env["TABLE_NAME"])
    for livemode, session in ((False, test_session), (True, live_session)):
        stored, _more = store.list_page(livemode, EventQuery(), now=session["created"], limit=10)
        assert [event["data"]["object"]["id"] for event in stored] == [session["id"]]
    assert [kept["reason"] for kept in failed_records(service_env)] == ["injected"]
