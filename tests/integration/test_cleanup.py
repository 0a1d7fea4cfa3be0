"""Cleanup against moto: the schedule queues one unit per (purge bucket, shard), workers delete exactly the purged
sessions (each only while still due), the watermark passes a bucket only once all its shards are done; never a Scan.
Runs that overlap (two workers on one unit, a late schedule beside the next) are in test_concurrency.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import cleanup_handler
import cleanup_worker_handler
import pytest

from portal_sessions.domain.tokens import url_token_hash
from portal_sessions.outbound.cleanup_queue import CleanupUnit
from portal_sessions.runtime import clock
from portal_sessions.store.items import BUCKET_SECONDS, purge_bucket, purge_shard_key, purge_shard_of
from portal_sessions.store.sessions import SessionStore
from portal_sessions.store.table import dynamodb_client
from portal_sessions.use_cases.cleanup import clean_unit, plan_cleanup
from tests.support.aws import aws_client
from tests.support.events import FakeContext
from tests.support.settings import CLOCK_START
from tests.support.table import insert_session, item_for_token, session_items

NOW = CLOCK_START - CLOCK_START % BUCKET_SECONDS + 1800  # the middle of an hour
SHARDS = 4


@pytest.fixture
def dynamodb_calls(service_env: dict) -> Iterator[list[str]]:
    """The DynamoDB operations the service makes, recorded with botocore's event hooks."""
    calls: list[str] = []
    dynamodb_client().meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    yield calls


def populate(table: str) -> tuple[set[str], set[str]]:
    """Purged sessions in several past hours and in the current hour, and kept ones; returns both id sets."""
    purged, kept = set(), set()
    for purge_at in (NOW - 3 * BUCKET_SECONDS, NOW - BUCKET_SECONDS - 5, NOW - 60, NOW - 1, NOW):
        token, session = insert_session(
            table, created=purge_at - 900, expires_at=purge_at - 600, purge_at=purge_at, purge_shards=SHARDS
        )
        purged.add(session.id)
    for purge_at in (NOW + 1, NOW + 600, NOW + 2 * BUCKET_SECONDS):
        # expired already, kept for the retention window (410 and `expired` until then)
        _, session = insert_session(
            table, created=NOW - 900, expires_at=NOW - 600, purge_at=purge_at, purge_shards=SHARDS
        )
        kept.add(session.id)
    return purged, kept


def remaining_ids(table: str) -> set[str]:
    return {item["session_id"]["S"] for item in session_items(table)}


def run_queue(store: SessionStore, queue_url: str, now: int, max_deletes: int = 1000) -> int:
    """Drain the queue as the workers would: each message one unit; continuations go back on the queue."""
    sqs = aws_client("sqs")
    deleted = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return deleted
        for message in messages:
            fields = json.loads(message["Body"])
            unit = CleanupUnit(fields["bucket"], fields["shard"])
            outcome = clean_unit(store, unit, now=now, max_deletes=max_deletes, out_of_time=lambda: False)
            deleted += outcome.deleted
            if not outcome.finished:
                sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def cleanup(table: str, queue_url: str, now: int, max_deletes: int = 1000) -> int:
    store = SessionStore(table, purge_shards=SHARDS)
    from portal_sessions.outbound.cleanup_queue import queue_units

    queue_units(queue_url, plan_cleanup(store, now=now, lookback_hours=24, shards=SHARDS).units)
    return run_queue(store, queue_url, now, max_deletes)


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_cleanup_deletes_exactly_the_purged_sessions(service_env: dict, dynamodb_calls: list[str]) -> None:
    # Given
    table = service_env["TABLE_NAME"]
    purged, kept = populate(table)
    dynamodb_calls.clear()

    # When
    deleted = cleanup(table, service_env["CLEANUP_QUEUE_URL"], NOW)

    # Then
    assert deleted == len(purged)
    assert remaining_ids(table) == kept
    assert "Scan" not in dynamodb_calls and "BatchWriteItem" not in dynamodb_calls  # deletes are conditional


def test_the_schedule_queues_one_unit_per_bucket_and_shard_from_the_lookback(service_env: dict) -> None:
    store = SessionStore(service_env["TABLE_NAME"], purge_shards=SHARDS)

    plan = plan_cleanup(store, now=NOW, lookback_hours=3, shards=SHARDS)

    current = purge_bucket(NOW)
    assert sorted((unit.bucket, unit.shard) for unit in plan.units) == [
        (bucket, shard) for bucket in range(current - 3, current + 1) for shard in range(SHARDS)
    ]


def test_the_watermark_passes_a_bucket_only_when_every_shard_of_it_is_done(service_env: dict) -> None:
    # Given the past buckets' units all worked but one shard of the oldest
    table = service_env["TABLE_NAME"]
    store = SessionStore(table, purge_shards=SHARDS)
    populate(table)
    plan = plan_cleanup(store, now=NOW, lookback_hours=3, shards=SHARDS)
    oldest = purge_bucket(NOW) - 3
    for unit in plan.units:
        if unit != CleanupUnit(oldest, 2):
            clean_unit(store, unit, now=NOW, max_deletes=1000, out_of_time=lambda: False)

    # When the schedule runs again
    replan = plan_cleanup(store, now=NOW, lookback_hours=3, shards=SHARDS)

    # Then the watermark stays at that bucket, and only the missing shard and the current hour are queued again
    assert replan.watermark == oldest
    assert sorted((unit.bucket, unit.shard) for unit in replan.units) == [(oldest, 2)] + [
        (purge_bucket(NOW), shard) for shard in range(SHARDS)
    ]

    # And once that shard is done, the watermark moves to the current hour
    clean_unit(store, CleanupUnit(oldest, 2), now=NOW, max_deletes=1000, out_of_time=lambda: False)
    assert plan_cleanup(store, now=NOW, lookback_hours=3, shards=SHARDS).watermark == purge_bucket(NOW)


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_a_schedule_that_missed_more_than_its_lookback_resumes_from_the_watermark(service_env: dict) -> None:
    # Given a watermark 30 hours back (the schedule stopped for a day and more) and a purged session left there
    table = service_env["TABLE_NAME"]
    store = SessionStore(table, purge_shards=SHARDS)
    behind = purge_bucket(NOW) - 30
    store.advance_cleanup_watermark(behind)
    insert_session(table, created=NOW - 31 * 3600, expires_at=NOW - 31 * 3600 + 300,
                   purge_at=behind * BUCKET_SECONDS + 60, purge_shards=SHARDS)  # fmt: skip

    # When it runs again, with its 24-hour lookback
    deleted = cleanup(table, service_env["CLEANUP_QUEUE_URL"], NOW)

    # Then it planned from the watermark, not from the lookback, and that hour's session is gone
    assert deleted == 1 and remaining_ids(table) == set()
    # And the next schedule moves the watermark over the hours now done
    assert plan_cleanup(store, now=NOW, lookback_hours=24, shards=SHARDS).watermark == purge_bucket(NOW)


def test_done_marks_of_shards_beyond_the_count_do_not_move_the_watermark(service_env: dict) -> None:
    # Given the oldest past bucket with all its shards done but one, and done marks for shards that do not exist
    # (what forged queue messages for shards 4..7 would leave behind)
    store = SessionStore(service_env["TABLE_NAME"], purge_shards=SHARDS)
    oldest = purge_bucket(NOW) - 3
    for shard in [0, 1, 3, *range(SHARDS, 2 * SHARDS)]:
        store.mark_shard_done(oldest, shard, NOW)

    # When the schedule runs
    plan = plan_cleanup(store, now=NOW, lookback_hours=3, shards=SHARDS)

    # Then the watermark stays at that bucket, and its missing shard is queued
    assert plan.watermark == oldest
    assert CleanupUnit(oldest, 2) in plan.units


@pytest.mark.parametrize("shard", [SHARDS, SHARDS + 28, -1])
def test_a_unit_for_a_shard_beyond_the_count_is_refused_and_marks_nothing(service_env: dict, shard: int) -> None:
    store = SessionStore(service_env["TABLE_NAME"], purge_shards=SHARDS)
    bucket = purge_bucket(NOW) - 2

    with pytest.raises(ValueError, match="shard"):
        clean_unit(store, CleanupUnit(bucket, shard), now=NOW, max_deletes=1000, out_of_time=lambda: False)

    assert store.done_shards([bucket]) == {}


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_a_second_run_reads_only_from_the_watermark_and_deletes_nothing(
    service_env: dict, dynamodb_calls: list[str]
) -> None:
    # Given a completed cleanup
    table = service_env["TABLE_NAME"]
    _, kept = populate(table)
    cleanup(table, service_env["CLEANUP_QUEUE_URL"], NOW)
    dynamodb_calls.clear()

    # When it runs again before anything else is due
    deleted = cleanup(table, service_env["CLEANUP_QUEUE_URL"], NOW)

    # Then it is idempotent, and it queried only the current hour's shards, not the 24 hours before
    assert deleted == 0
    assert remaining_ids(table) == kept
    assert dynamodb_calls.count("Query") == SHARDS


def test_a_unit_stopped_at_its_budget_continues_where_it_left_off(service_env: dict) -> None:
    # Given many purged sessions in one past hour
    table = service_env["TABLE_NAME"]
    store = SessionStore(table, purge_shards=1)
    ids = {
        insert_session(table, created=NOW - 9000, expires_at=NOW - 8000, purge_at=NOW - 7200 + n, purge_shards=1)[1].id
        for n in range(7)
    }
    unit = CleanupUnit(purge_bucket(NOW - 7200), 0)

    # When a unit's invocation may delete only 3
    first = clean_unit(store, unit, now=NOW, max_deletes=3, out_of_time=lambda: False)

    # Then it stops unfinished (and does not record its shard done), and running it again finishes the job
    assert first.finished is False and first.deleted >= 3
    assert store.done_shards([unit.bucket]) == {}
    rest = clean_unit(store, unit, now=NOW, max_deletes=1000, out_of_time=lambda: False)
    assert rest.finished is True and first.deleted + rest.deleted == len(ids)
    assert remaining_ids(table) == set()
    assert store.done_shards([unit.bucket]) == {unit.bucket: {0}}


def test_the_purge_query_reads_only_the_sessions_due_and_cleanup_tries_no_other(
    service_env: dict, dynamodb_calls: list[str]
) -> None:
    # Given, under one purge index key (the current hour, one shard), sessions due and sessions kept for a while yet
    table = service_env["TABLE_NAME"]
    store = SessionStore(table, purge_shards=1)
    due: dict[str, str] = {}  # token: its item's key
    kept: dict[str, str] = {}
    for purge_at in (NOW - 1800, NOW - 1, NOW, NOW + 1, NOW + 600):
        token, _ = insert_session(table, created=NOW - 4000, expires_at=NOW - 3000, purge_at=purge_at, purge_shards=1)
        (due if purge_at <= NOW else kept)[token] = (item_for_token(table, token) or {})["pk"]["S"]
    assert len({purge_bucket(NOW - 1800), purge_bucket(NOW + 600)}) == 1

    # When the purge index is read for that key, and then cleanup works that unit
    read = [key["pk"]["S"] for page in store.due_keys(purge_bucket(NOW), 0, NOW) for key in page]
    dynamodb_calls.clear()
    outcome = clean_unit(store, CleanupUnit(purge_bucket(NOW), 0), now=NOW, max_deletes=1000, out_of_time=lambda: False)

    # Then the query itself returned the due keys alone (the delete's own condition would keep the others, but each
    # key read that is not due costs a delete that fails), and cleanup tried to delete those alone
    assert sorted(read) == sorted(due.values())
    assert outcome.deleted == len(due)
    assert dynamodb_calls.count("DeleteItem") == len(due)
    assert {token for token in due | kept if item_for_token(table, token) is not None} == set(kept)


def test_a_session_no_longer_due_when_deleted_is_kept(service_env: dict) -> None:
    # Given cleanup has read a key from the (eventually consistent) index as due
    table = service_env["TABLE_NAME"]
    store = SessionStore(table, purge_shards=1)
    token, session = insert_session(table, created=NOW - 4000, expires_at=NOW - 100, purge_at=NOW - 10, purge_shards=1)
    [keys] = list(store.due_keys(purge_bucket(NOW - 10), 0, NOW))
    assert len(keys) == 1

    # When, before the delete lands, a write keeps the session longer (as the old code's visit did)
    aws_client("dynamodb").update_item(
        TableName=table,
        Key=keys[0],
        UpdateExpression="SET purge_at = :later, expires_at = :later",
        ExpressionAttributeValues={":later": {"N": str(NOW + 3600)}},
    )
    deleted = store.delete_due(keys, NOW)

    # Then the delete's condition (`purge_at <= now`) keeps it, and it still answers
    assert deleted == 0
    assert item_for_token(table, token) is not None


def test_a_session_visited_just_before_its_purge_is_never_deleted_while_live(service_env: dict) -> None:
    # Given a session whose purge time is the latest it can live (no retention: the closest call)
    from portal_sessions.use_cases.links import visit_session

    table = service_env["TABLE_NAME"]
    token, session = insert_session(table, created=NOW - 295, expires_at=NOW + 5, purge_shards=1)

    # When it is visited at the last moment, and cleanup runs at every second of its new life
    visit = visit_session(
        token, SessionStore(table), now=NOW + 4, session_ttl_seconds=3600, retention_seconds=7 * 86400
    )
    store = SessionStore(table, purge_shards=1)
    for now in (NOW + 4, NOW + 1800, NOW + 3600 + 3):
        for shard_keys in store.due_keys(purge_bucket(now), 0, now):
            store.delete_due(shard_keys, now)

        # Then it is there while live
        assert item_for_token(table, token) is not None
    assert visit.first is True


def sqs_event(queue_url: str) -> dict[str, Any]:
    """The queued messages as Lambda's SQS event source hands them to the worker."""
    messages = aws_client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    records = [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cleanup-units",
            "awsRegion": "us-east-1",
        }
        for message in messages
    ]
    for message in messages:
        aws_client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return {"Records": records}


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_the_handlers_queue_units_on_the_schedule_and_work_them_from_the_queue(
    service_env: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given (the template's default shard count)
    table = service_env["TABLE_NAME"]
    monkeypatch.setenv("PURGE_SHARDS", "32")
    monkeypatch.setenv("CLEANUP_LOOKBACK_HOURS", "1")
    monkeypatch.setattr(clock, "now", lambda: NOW)
    _, session = insert_session(table, created=NOW - 4000, expires_at=NOW - 3700, purge_at=NOW - 3600)
    _, kept = insert_session(table, created=NOW - 100, expires_at=NOW + 200)
    scheduled = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}

    # When the schedule runs, then the workers take the queue
    planned = cleanup_handler.lambda_handler(scheduled, FakeContext())
    deleted = 0
    failures = []
    queue_url = service_env["CLEANUP_QUEUE_URL"]
    while (event := sqs_event(queue_url))["Records"]:
        failures += cleanup_worker_handler.lambda_handler(event, FakeContext())["batchItemFailures"]
    deleted = sum(record.deleted for record in caplog.records if record.getMessage() == "cleanup unit worked")

    # Then two hours of 32 shards were queued, and exactly the purged session is gone
    assert planned["units"] == 2 * 32
    assert failures == []
    assert deleted == 1
    assert remaining_ids(table) == {kept.id}


def test_sessions_are_written_under_the_purge_key_of_their_hour_and_token(service_env: dict) -> None:
    # Given sessions created in the same second, written by the store (the template's default 32 shards)
    table = service_env["TABLE_NAME"]
    tokens = [insert_session(table, created=NOW, expires_at=NOW + 300, purge_shards=32)[0] for _ in range(40)]

    # When the purge index keys they were written under are read back
    written = {token: (item_for_token(table, token) or {})["purge_shard"]["S"] for token in tokens}

    # Then each is its purge hour and the shard of its token's hash (how evenly those spread: tests/unit)
    bucket = purge_bucket(NOW + 3900)
    assert written == {token: purge_shard_key(bucket, purge_shard_of(url_token_hash(token), 32)) for token in tokens}
    assert len(set(written.values())) > 1


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_the_worker_refuses_a_message_for_a_shard_beyond_the_count(
    service_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given, with the template's 32 shards, a message for shard 40 of a past hour beside one for its shard 0
    monkeypatch.setenv("PURGE_SHARDS", "32")
    queue_url = service_env["CLEANUP_QUEUE_URL"]
    bucket = purge_bucket(NOW) - 2
    for shard in (40, 0):
        aws_client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps({"bucket": bucket, "shard": shard}))

    # When the worker takes them
    monkeypatch.setattr(clock, "now", lambda: NOW)
    event = sqs_event(queue_url)
    failures = cleanup_worker_handler.lambda_handler(event, FakeContext())["batchItemFailures"]

    # Then the forged one fails (the queue's redrive takes it to the dead-letter queue) and only shard 0 is done
    forged = next(record["messageId"] for record in event["Records"] if json.loads(record["body"])["shard"] == 40)
    assert failures == [{"itemIdentifier": forged}]
    assert SessionStore(service_env["TABLE_NAME"]).done_shards([bucket]) == {bucket: {0}}
