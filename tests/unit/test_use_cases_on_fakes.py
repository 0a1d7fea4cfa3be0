"""The cleanup and the webhook use cases on in-memory repositories (tests/support/fakes.py): what they read and write,
without DynamoDB."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from portal_sessions.domain.auth import Caller
from portal_sessions.domain.tokens import new_url_token, url_token_hash
from portal_sessions.domain.webhooks import (
    EndpointSecrets,
    parse_create_webhook_endpoint_params,
    parse_list_webhook_endpoints_params,
    parse_update_webhook_endpoint_params,
)
from portal_sessions.outbound.cleanup_queue import CleanupUnit
from portal_sessions.outbound.webhook_delivery import Delivery, EventMessage, dispatch, store_and_queue
from portal_sessions.runtime.errors import (
    PublishError,
    PublishRefusedError,
    ResourceMissingError,
    ServiceUnavailableError,
)
from portal_sessions.store.items import BUCKET_SECONDS, purge_bucket, purge_shard_of
from portal_sessions.store.ports import FANNED_OUT, PUBLISHED, QUEUED
from portal_sessions.use_cases.cleanup import clean_unit, plan_cleanup
from portal_sessions.use_cases.webhook_service import (
    create_webhook_endpoint,
    delete_webhook_endpoint,
    list_webhook_endpoints,
    retrieve_webhook_endpoint,
    update_webhook_endpoint,
)
from tests.support.fakes import FakeEventStore, FakePurgeStore, FakeWebhookEndpointStore

NOW = 1_767_225_600  # on an hour
CALLER = Caller(livemode=False, key_fingerprint="0123456789ab")


def test_cleanup_deletes_due_sessions_only_and_moves_the_watermark_past_finished_hours() -> None:
    # Given one shard, and sessions due an hour ago, due now-ish, and not due yet
    store = FakePurgeStore(purge_shards=1)
    past, current = purge_bucket(NOW) - 1, purge_bucket(NOW)
    store.add("a" * 64, past * BUCKET_SECONDS + 10)
    store.add("b" * 64, NOW - 5)
    store.add("c" * 64, NOW + 60)

    # When the cleanup plans from an hour back, and works every unit
    plan = plan_cleanup(store, now=NOW + 1, lookback_hours=1, shards=1)
    assert plan.units == [CleanupUnit(past, 0), CleanupUnit(current, 0)]
    deleted = sum(
        clean_unit(store, unit, now=NOW + 1, max_deletes=100, out_of_time=lambda: False, sleep=lambda _s: None).deleted
        for unit in plan.units
    )

    # Then the due sessions are gone, the other stays, and the finished hour is passed by the next plan
    assert deleted == 2
    assert list(store.purge_times) == ["c" * 64]
    assert store.done == {past: {0}}
    assert plan_cleanup(store, now=NOW + 2, lookback_hours=1, shards=1).watermark == current
    assert store.cleanup_watermark() == current


def test_a_purge_shard_is_drawn_from_the_token_hash() -> None:
    assert purge_shard_of("f" * 64, 32) == int("f" * 15, 16) % 32


def test_the_shards_share_a_few_thousand_sessions_fairly() -> None:
    # Given the token hashes of 2,000 new session URLs, and the template's default 32 shards
    hashes = [url_token_hash(new_url_token()) for _ in range(2000)]

    # When each is given its purge shard
    counts = Counter(purge_shard_of(token_hash, 32) for token_hash in hashes)

    # Then every shard is used, and none holds more than twice its fair share
    assert sorted(counts) == list(range(32))
    assert max(counts.values()) <= 2 * 2000 / 32


def test_webhook_endpoints_are_created_updated_listed_and_deleted() -> None:
    store = FakeWebhookEndpointStore()
    secrets = EndpointSecrets("master-key")
    raw = {"url": "https://example.com/hook", "enabled_events": ["billing_portal.session.created"]}

    created = create_webhook_endpoint(parse_create_webhook_endpoint_params(raw), CALLER, store, secrets, now=NOW)
    endpoint_id = created["id"]
    assert created["secret"].startswith("whsec_")
    assert "secret" not in retrieve_webhook_endpoint(endpoint_id, CALLER, store)
    assert secrets.open(endpoint_id, store.endpoints[endpoint_id].sealed_secret) == created["secret"]

    updated = update_webhook_endpoint(
        endpoint_id, parse_update_webhook_endpoint_params({"disabled": True}), CALLER, store
    )
    assert updated["status"] == "disabled"
    assert store.endpoints[endpoint_id].version == 2

    listed = list_webhook_endpoints(parse_list_webhook_endpoints_params({}), CALLER, store)
    assert [endpoint["id"] for endpoint in listed["data"]] == [endpoint_id]

    assert delete_webhook_endpoint(endpoint_id, CALLER, store)["deleted"] is True
    with pytest.raises(ResourceMissingError):
        retrieve_webhook_endpoint(endpoint_id, CALLER, store)


class RecordingQueue:
    """A mode's queue as the use cases see it (their Protocol): what they sent, in order."""

    def __init__(self) -> None:
        self.sent: list[Delivery] = []
        self.events: list[EventMessage] = []
        self.unpublished: list[tuple[EventMessage, str]] = []

    def send(self, deliveries: list[Delivery], delay_seconds: int = 0) -> None:
        self.sent.extend(deliveries)

    def send_event(self, message: EventMessage) -> None:
        self.events.append(message)

    def send_failed(self, delivery: Delivery) -> None:
        raise AssertionError("nothing fails here")

    def send_unpublished(self, message: EventMessage, reason: str) -> None:
        self.unpublished.append((message, reason))


class RecordingPublisher:
    def __init__(self, failure: Exception | None = None) -> None:
        self.published: list[dict[str, Any]] = []
        self.failure = failure

    def publish(self, event: dict[str, Any]) -> None:
        if self.failure is not None:
            raise self.failure
        self.published.append(event)


class CrashAfterError(Exception):
    """Injected: the function died between doing a step and marking it done."""


class CrashingMarks(FakeEventStore):
    """Marking `step` done fails once, as if the function died right after the step itself."""

    def __init__(self, step: str) -> None:
        super().__init__()
        self.crash_on = step

    def mark_done(self, event_id: str, steps: list[str], *, purge_at: int) -> None:
        if self.crash_on in steps:
            self.crash_on = ""
            raise CrashAfterError(steps)
        super().mark_done(event_id, steps, purge_at=purge_at)


EVENT = {"id": "evt_1", "livemode": False, "type": "billing_portal.session.created", "created": NOW}


def endpoints_of_both_modes() -> FakeWebhookEndpointStore:
    store = FakeWebhookEndpointStore()
    for endpoint_id, livemode, wanted in (("we_1", False, ["*"]), ("we_2", True, ["*"]),
                                          ("we_3", False, ["billing_portal.session.visited"]),
                                          ("we_4", False, ["billing_portal.session.created"])):  # fmt: skip
        endpoint = {"id": endpoint_id, "livemode": livemode, "enabled_events": wanted, "status": "enabled",
                    "created": NOW}  # fmt: skip
        store.put_new(endpoint, "sealed")
    return store


def test_an_event_is_stored_and_queued_once_however_often_its_record_is_retried() -> None:
    events, queue = FakeEventStore(), RecordingQueue()

    assert store_and_queue(EVENT, events, queue) is True
    assert store_and_queue(EVENT, events, queue) is False  # a retried stream record

    assert queue.events == [EventMessage("evt_1", False)]
    assert events.steps_done("evt_1") == {QUEUED}


def test_a_crash_between_queueing_and_marking_queues_the_event_twice_never_zero_times() -> None:
    events, queue = CrashingMarks(QUEUED), RecordingQueue()

    with pytest.raises(CrashAfterError):
        store_and_queue(EVENT, events, queue)
    assert store_and_queue(EVENT, events, queue) is True  # the record, retried
    assert store_and_queue(EVENT, events, queue) is False

    assert queue.events == [EventMessage("evt_1", False)] * 2


def test_dispatch_queues_one_delivery_per_subscribed_endpoint_of_the_mode_and_publishes_once() -> None:
    events, queue, publisher = FakeEventStore(), RecordingQueue(), RecordingPublisher()
    events.put_new(EVENT)
    message = EventMessage("evt_1", False)
    endpoints = endpoints_of_both_modes()

    first = dispatch(message, now=NOW, events=events, endpoints=endpoints, queue=queue, publisher=publisher)
    again = dispatch(message, now=NOW, events=events, endpoints=endpoints, queue=queue, publisher=publisher)

    assert (first, again) == ((2, "published"), (None, "done"))  # the message, delivered again, does nothing
    assert sorted(delivery.endpoint_id for delivery in queue.sent) == ["we_1", "we_4"]  # test mode's subscribers
    assert [event["id"] for event in publisher.published] == ["evt_1"]
    assert publisher.published[0]["pending_webhooks"] == 2
    stored = events.get("evt_1", now=NOW)
    assert stored is not None and stored["pending_webhooks"] == 2


def test_a_crash_between_fanning_out_and_marking_sends_each_endpoint_the_event_at_most_twice() -> None:
    events, queue, publisher = CrashingMarks(FANNED_OUT), RecordingQueue(), RecordingPublisher()
    events.put_new(EVENT)
    message = EventMessage("evt_1", False)
    endpoints = endpoints_of_both_modes()

    with pytest.raises(CrashAfterError):
        dispatch(message, now=NOW, events=events, endpoints=endpoints, queue=queue, publisher=publisher)
    for _redelivery in range(2):
        dispatch(message, now=NOW, events=events, endpoints=endpoints, queue=queue, publisher=publisher)

    assert Counter(delivery.endpoint_id for delivery in queue.sent) == {"we_1": 2, "we_4": 2}
    assert len(publisher.published) == 2  # both steps were done before the crash, and are done again: same event id


def test_without_a_crash_each_endpoint_gets_the_event_exactly_once() -> None:
    events, queue, publisher = FakeEventStore(), RecordingQueue(), RecordingPublisher()
    endpoints = endpoints_of_both_modes()

    for _retry in range(3):  # a stream retry, a batch retry, a redelivered message
        store_and_queue(EVENT, events, queue)
        for message in queue.events:
            dispatch(message, now=NOW, events=events, endpoints=endpoints, queue=queue, publisher=publisher)

    assert Counter(delivery.endpoint_id for delivery in queue.sent) == {"we_1": 1, "we_4": 1}


def test_an_event_eventbridge_refuses_is_kept_and_not_retried_and_its_webhooks_still_go() -> None:
    events, queue = FakeEventStore(), RecordingQueue()
    publisher = RecordingPublisher(PublishRefusedError("EventBridge refused the event: ValidationException"))
    events.put_new(EVENT)
    message = EventMessage("evt_1", False)

    result = dispatch(message, now=NOW, events=events, endpoints=endpoints_of_both_modes(), queue=queue,
                      publisher=publisher)  # fmt: skip

    assert result == (2, "refused")
    assert queue.unpublished == [(message, "EventBridge refused the event: ValidationException")]
    assert events.steps_done("evt_1") == {FANNED_OUT, PUBLISHED}  # given up for good: a retry would be refused too


def test_a_publishing_failure_a_retry_may_mend_is_retried_alone() -> None:
    events, queue = FakeEventStore(), RecordingQueue()
    publisher = RecordingPublisher(PublishError("EventBridge failed the event: ThrottlingException"))
    events.put_new(EVENT)
    message = EventMessage("evt_1", False)
    endpoints = endpoints_of_both_modes()

    with pytest.raises(PublishError):
        dispatch(message, now=NOW, events=events, endpoints=endpoints, queue=queue, publisher=publisher)
    publisher.failure = None
    assert dispatch(message, now=NOW, events=events, endpoints=endpoints, queue=queue, publisher=publisher) == (
        None,
        "published",
    )

    assert len(queue.sent) == 2  # the webhooks were queued on the first try, and not again


def test_endpoints_that_cannot_be_read_do_not_stop_publishing() -> None:
    class Unreadable(FakeWebhookEndpointStore):
        def all_of_mode(self, livemode: bool) -> list[dict[str, Any]]:
            raise ServiceUnavailableError("The session store is unavailable right now.")

    events, queue, publisher = FakeEventStore(), RecordingQueue(), RecordingPublisher()
    events.put_new(EVENT)

    with pytest.raises(ServiceUnavailableError):
        dispatch(EventMessage("evt_1", False), now=NOW, events=events, endpoints=Unreadable(), queue=queue,
                 publisher=publisher)  # fmt: skip

    assert [event["id"] for event in publisher.published] == ["evt_1"]
    assert events.steps_done("evt_1") == {PUBLISHED}  # the retry does the fan-out alone
