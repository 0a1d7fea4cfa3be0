"""Manage API keys: `python -m portal_admin keys create|list|revoke`; erase one customer's (or customer account's)
sessions at once, for a data-protection request: `python -m portal_admin sessions erase --mode live --customer cus_…`;
see the stream records that made no event (`events failed --queue URL`, the stack's SessionEventsDeadLetterQueueUrl)
and put a mode's failed webhook deliveries and refused events back on its queue (`webhooks replay --from FAILED_URL
--to QUEUE_URL`, the stack's outputs); list a webhook endpoint's recent delivery attempts, newest first
(`webhooks attempts we_… --mode live [--limit N] [--json]`).

Keys are stored as SHA-256 digests in the sessions table (`--table`, or TABLE_NAME); the secret is printed once,
at creation, and never again. A revoked key gets 401 on its next request. Restricted keys (`rk_…`) may only create
portal sessions. AWS credentials, region and endpoint come from the usual AWS settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from portal_sessions.domain.auth import ManagedKey, key_hash, mask_key, new_api_key
from portal_sessions.domain.tokens import new_object_id
from portal_sessions.store.api_keys import ApiKeyStore
from portal_sessions.store.sessions import SessionStore
from portal_sessions.store.webhook_attempts import ATTEMPTS_KEPT, AttemptRecord, WebhookAttemptStore
from portal_sessions.store.webhooks import DEFAULT_EVENT_LIST_SHARDS, EventStore
from portal_sessions.use_cases.erasure import erase_owner


def create(store: ApiKeyStore, *, mode: str, name: str, restricted: bool) -> int:
    api_key = new_api_key(livemode=mode == "live", restricted=restricted)
    key = ManagedKey(
        key_id=new_object_id("key"),
        name=name,
        livemode=mode == "live",
        restricted=restricted,
        created=int(time.time()),
        masked=mask_key(api_key),
    )
    store.put_new(key, key_hash(api_key))
    print(f"{key.key_id}  {name}  ({'restricted, ' if restricted else ''}{mode} mode)")
    print(api_key)
    print("Store this key now: it is not kept and cannot be shown again.", file=sys.stderr)
    return 0


def list_keys(store: ApiKeyStore) -> int:
    for _digest, key in store.all():
        state = "revoked" if key.revoked_at else "active"
        kind = "restricted" if key.restricted else "secret"
        mode = "live" if key.livemode else "test"
        print(f"{key.key_id}\t{key.masked}\t{mode}\t{kind}\t{state}\t{key.name}")
    return 0


def revoke(store: ApiKeyStore, key_id: str) -> int:
    for digest, key in store.all():
        if key.key_id == key_id:
            if key.revoked_at is None:
                store.revoke(digest, key, int(time.time()))
            print(f"{key_id} revoked")
            return 0
    print(f"no key {key_id}", file=sys.stderr)
    return 1


def erase(table: str, *, mode: str, customer: str | None, customer_account: str | None) -> int:
    sessions, events = erase_owner(SessionStore(table), EventStore(table), livemode=mode == "live", customer=customer,
                                   customer_account=customer_account)  # fmt: skip
    whose = f"customer {customer}" if customer is not None else f"customer account {customer_account}"
    print(f"{sessions} {mode} mode sessions of {whose} erased, and {events} of their events")
    return 0


def failed_records(queue_url: str, *, limit: int) -> int:
    """Print what the failed-records queue holds, leaving it there (each message is received and made visible again)."""
    from portal_sessions.outbound.webhook_delivery import sqs_client

    sqs, shown = sqs_client(), 0
    while shown < limit:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, limit - shown),
                                       VisibilityTimeout=30).get("Messages", [])  # fmt: skip
        if not messages:
            break
        for message in messages:
            print(message["Body"])
            shown += 1
    print(f"{shown} kept", file=sys.stderr)
    return 0


def skipped_batches(
    queue_url: str, table: str | None, *, to_queues: tuple[str, str] | None, list_shards: int, limit: int
) -> int:
    """Read back the stream batches Lambda gave up on (their positions are in the failed-records queue) while the
    stream still has them, and list their records or, with `to_queues` (live's and test's webhook queue URLs), store
    and queue their events as the events function does; a replayed batch's position is then deleted, the rest are
    left in the queue."""
    import boto3

    from portal_sessions.outbound.webhook_delivery import SqsDeliveryQueue, sqs_client
    from portal_sessions.store.webhooks import EventStore

    from .skipped import NoLongerInStreamError, SkippedBatch, read_back, replay_records, summary

    sqs, streams = sqs_client(), boto3.client("dynamodbstreams")
    seen: list[dict[str, Any]] = []  # every message received, made visible again at the end unless replayed
    done: list[str] = []  # receipt handles of the replayed batches
    outcomes: Counter[str] = Counter()
    events = EventStore(table or "", list_shards=list_shards)
    queues = {True: SqsDeliveryQueue(to_queues[0]), False: SqsDeliveryQueue(to_queues[1])} if to_queues else {}
    while len(seen) < limit:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, limit - len(seen)),
                                       VisibilityTimeout=60).get("Messages", [])  # fmt: skip
        if not messages:
            break
        seen += messages
        for message in messages:
            batch = SkippedBatch.from_message(message["Body"])
            if batch is None:
                continue  # a record the function kept itself: `events failed` shows those
            outcomes["batches"] += 1
            where = f"shard {batch.shard_id}, sequence numbers {batch.first} to {batch.last}"
            try:
                records = read_back(batch, streams)
            except NoLongerInStreamError as exc:
                outcomes["batches no longer in the stream"] += 1
                print(f"{where}: no longer in the stream ({exc}); the items' current state is in the table",
                      file=sys.stderr)  # fmt: skip
                continue
            if to_queues is None:
                for record in records:
                    print(json.dumps({"ShardId": batch.shard_id, **summary(record)}, separators=(",", ":")))
                outcomes["records"] += len(records)
                continue
            replayed = replay_records(records, events, lambda livemode: queues[livemode])
            outcomes.update(replayed)
            outcomes["records"] += len(records)
            complete = records and records[-1]["dynamodb"]["SequenceNumber"] == batch.last
            if complete and not replayed["not understood"]:
                done.append(message["ReceiptHandle"])
            else:
                print(f"{where}: kept ({len(records)} records read back, {replayed['not understood']} not understood)",
                      file=sys.stderr)  # fmt: skip
    for message in seen:
        if message["ReceiptHandle"] in done:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        else:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    print(", ".join(f"{count} {name}" for name, count in outcomes.items()) or "0 batches", file=sys.stderr)
    return 0


def replay(failed_url: str, queue_url: str, table: str, *, limit: int) -> int:
    """Move up to `limit` messages of a failed queue back to the webhook queue (a failed delivery with a fresh retry
    schedule; a refused event to be published again), each deleted from the failed queue only once it is sent."""
    from portal_sessions.outbound.webhook_delivery import replay_of, sqs_client
    from portal_sessions.store.ports import PUBLISHED
    from portal_sessions.store.webhooks import EventStore

    sqs, events, moved = sqs_client(), EventStore(table), 0
    while moved < limit:
        messages = sqs.receive_message(QueueUrl=failed_url, MaxNumberOfMessages=min(10, limit - moved),
                                       VisibilityTimeout=60).get("Messages", [])  # fmt: skip
        if not messages:
            break
        for message in messages:
            again, republish = replay_of(message["Body"])
            if republish:
                events.unmark(again.event_id, PUBLISHED)
            sqs.send_message(QueueUrl=queue_url, MessageBody=again.to_json())
            sqs.delete_message(QueueUrl=failed_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    print(f"{moved} replayed")
    return 0


def _time(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _attempt_line(attempt: AttemptRecord) -> str:
    outcome = "delivered" if attempt.failure is None else "failed"
    answer = str(attempt.status) if attempt.status is not None else attempt.failure
    retry = f"next retry {_time(attempt.next_retry_at)}" if attempt.next_retry_at is not None else (
        "last attempt" if attempt.failure is not None else "")  # fmt: skip
    fields = [_time(attempt.at), attempt.event_id, attempt.event_type, f"attempt {attempt.attempt}",
              f"{outcome} ({answer})", f"{attempt.duration_ms} ms", retry]  # fmt: skip
    return "  ".join(field for field in fields if field)


def attempts(table: str, endpoint_id: str, *, mode: str, limit: int, as_json: bool) -> int:
    """Print an endpoint's recent attempts in a mode, newest first (none for an endpoint of the other mode)."""
    found = WebhookAttemptStore(table).recent(endpoint_id, mode == "live", now=int(time.time()), limit=limit)
    if as_json:
        print(json.dumps([asdict(attempt) for attempt in found], indent=2))
        return 0
    if not found:
        print(f"no recent attempts at {endpoint_id} in {mode} mode")
        return 0
    print(f"{len(found)} recent attempts at {endpoint_id} in {mode} mode, newest first:")
    for attempt in found:
        print(_attempt_line(attempt))
    return 0


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= ATTEMPTS_KEPT:
        raise argparse.ArgumentTypeError(f"from 1 to {ATTEMPTS_KEPT} (the attempts kept per endpoint)")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal_admin", description=__doc__)
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"), help="the sessions table (or TABLE_NAME)")
    groups = parser.add_subparsers(dest="group", required=True)
    keys = groups.add_parser("keys", help="API keys").add_subparsers(dest="command", required=True)
    creating = keys.add_parser("create", help="make a key and print it once")
    creating.add_argument("--mode", choices=("test", "live"), required=True)
    creating.add_argument("--name", required=True)
    creating.add_argument("--restricted", action="store_true", help="an rk_ key that may only create sessions")
    keys.add_parser("list", help="every key, masked")
    revoking = keys.add_parser("revoke", help="revoke a key by its id (key_…)")
    revoking.add_argument("key_id")
    sessions = groups.add_parser("sessions", help="sessions").add_subparsers(dest="command", required=True)
    erasing = sessions.add_parser("erase", help="delete every session of one customer or customer account, now")
    erasing.add_argument("--mode", choices=("test", "live"), required=True)
    owner = erasing.add_mutually_exclusive_group(required=True)
    owner.add_argument("--customer")
    owner.add_argument("--customer-account")
    events = groups.add_parser("events", help="events").add_subparsers(dest="command", required=True)
    failed = events.add_parser("failed", help="stream records that made no event, and why (kept in their queue)")
    failed.add_argument("--queue", required=True, help="the stack's SessionEventsDeadLetterQueueUrl")
    failed.add_argument("--limit", type=int, default=100)
    skipped = events.add_parser("skipped", help="the stream batches Lambda gave up on, read back from the stream")
    skipped.add_argument("--queue", required=True, help="the stack's SessionEventsDeadLetterQueueUrl")
    skipped.add_argument("--replay", action="store_true", help="store and queue their events (needs the table)")
    skipped.add_argument("--live-queue", help="with --replay: the stack's WebhookDeliveryQueueUrl")
    skipped.add_argument("--test-queue", help="with --replay: the stack's TestWebhookDeliveryQueueUrl")
    skipped.add_argument("--event-list-shards", type=int, default=int(os.environ.get("EVENT_LIST_SHARDS") or
                         DEFAULT_EVENT_LIST_SHARDS), help="with --replay: the stack's EventListShards")  # fmt: skip
    skipped.add_argument("--limit", type=int, default=100, help="messages of the queue to look at")
    webhooks = groups.add_parser("webhooks", help="webhooks").add_subparsers(dest="command", required=True)
    replaying = webhooks.add_parser("replay", help="put a mode's failed deliveries and refused events back")
    replaying.add_argument("--from", dest="failed_queue", required=True, help="the mode's failed queue URL")
    replaying.add_argument("--to", dest="queue", required=True, help="the same mode's webhook queue URL")
    replaying.add_argument("--limit", type=int, default=1000)
    listing = webhooks.add_parser("attempts", help="an endpoint's recent delivery attempts, newest first")
    listing.add_argument("endpoint_id", help="the endpoint's id (we_…)")
    listing.add_argument("--mode", choices=("test", "live"), required=True, help="the endpoint's mode")
    listing.add_argument("--limit", type=_limit, default=ATTEMPTS_KEPT)
    listing.add_argument("--json", dest="as_json", action="store_true", help="as a JSON list")
    args = parser.parse_args(argv)
    if args.group == "events" and args.command == "skipped":
        to_queues = None
        if args.replay:
            if not (args.table and args.live_queue and args.test_queue):
                parser.error("--replay needs the table (--table or TABLE_NAME), --live-queue and --test-queue")
            to_queues = (args.live_queue, args.test_queue)
        return skipped_batches(args.queue, args.table, to_queues=to_queues, list_shards=args.event_list_shards,
                               limit=args.limit)  # fmt: skip
    if args.group == "events":
        return failed_records(args.queue, limit=args.limit)
    if not args.table:
        parser.error("the table is needed: --table NAME or TABLE_NAME")
    if args.group == "webhooks" and args.command == "attempts":
        return attempts(args.table, args.endpoint_id, mode=args.mode, limit=args.limit, as_json=args.as_json)
    if args.group == "webhooks":
        return replay(args.failed_queue, args.queue, args.table, limit=args.limit)
    if args.group == "sessions":
        return erase(args.table, mode=args.mode, customer=args.customer, customer_account=args.customer_account)
    store = ApiKeyStore(args.table)
    if args.command == "create":
        return create(store, mode=args.mode, name=args.name, restricted=args.restricted)
    if args.command == "list":
        return list_keys(store)
    return revoke(store, args.key_id)


if __name__ == "__main__":
    sys.exit(main())
