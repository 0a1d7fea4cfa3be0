"""The cleanup and the webhook use cases on in-memory repositories (tests/support/fakes.py): what they read and write,
without DynamoDB."""

from __future__ import annotations

from collections import Counter

import pytest

from portal_sessions.auth import Caller
from portal_sessions.cleanup import CleanupUnit, clean_unit, plan_cleanup
from portal_sessions.errors import ResourceMissingError
from portal_sessions.store.items import BUCKET_SECONDS, purge_bucket, purge_shard_of
from portal_sessions.tokens import new_url_token, url_token_hash
from portal_sessions.webhook_delivery import Delivery, fan_out
from portal_sessions.webhook_service import (
    create_webhook_endpoint,
    delete_webhook_endpoint,
    list_webhook_endpoints,
    retrieve_webhook_endpoint,
    update_webhook_endpoint,
)
from portal_sessions.webhooks import (
    EndpointSecrets,
    parse_create_webhook_endpoint_params,
    parse_list_webhook_endpoints_params,
    parse_update_webhook_endpoint_params,
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
    def __init__(self) -> None:
        self.sent: list[Delivery] = []

    def send(self, deliveries: list[Delivery], delay_seconds: int = 0) -> None:
        self.sent.extend(deliveries)

    def send_failed(self, delivery: Delivery) -> None:
        raise AssertionError("nothing fails here")


def test_fan_out_stores_an_event_once_and_queues_a_delivery_per_subscribed_endpoint() -> None:
    events = FakeEventStore()
    queue = RecordingQueue()
    event = {"id": "evt_1", "livemode": False, "type": "billing_portal.session.created", "created": NOW}
    endpoints = [
        {"id": "we_1", "livemode": False, "enabled_events": ["*"], "status": "enabled"},
        {"id": "we_2", "livemode": True, "enabled_events": ["*"], "status": "enabled"},
    ]

    fan_out(event, endpoints, events, queue)
    fan_out(event, endpoints, events, queue)  # a retried stream record

    stored = events.get("evt_1", now=NOW)
    assert stored is not None and stored["pending_webhooks"] == 1  # stored once: only the test mode endpoint gets it
    assert [delivery.endpoint_id for delivery in queue.sent] == [
        "we_1",
        "we_1",
    ]  # queued again: a receiver may get an event twice, as from Stripe
