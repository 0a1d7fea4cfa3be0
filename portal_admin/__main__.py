"""Manage API keys: `python -m portal_admin keys create|list|revoke`; erase one customer's (or customer account's)
sessions at once, for a data-protection request: `python -m portal_admin sessions erase --mode live --customer cus_…`;
see the stream records that made no event (`events failed --queue URL`, the stack's SessionEventsDeadLetterQueueUrl)
and put a mode's failed webhook deliveries and refused events back on its queue (`webhooks replay --from FAILED_URL
--to QUEUE_URL`, the stack's outputs).

Keys are stored as SHA-256 digests in the sessions table (`--table`, or TABLE_NAME); the secret is printed once,
at creation, and never again. A revoked key gets 401 on its next request. Restricted keys (`rk_…`) may only create
portal sessions. AWS credentials, region and endpoint come from the usual AWS settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from portal_sessions.domain.auth import ManagedKey, key_hash, mask_key, new_api_key
from portal_sessions.domain.tokens import new_object_id
from portal_sessions.store.api_keys import ApiKeyStore
from portal_sessions.store.sessions import SessionStore
from portal_sessions.store.webhooks import EventStore
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
    webhooks = groups.add_parser("webhooks", help="webhooks").add_subparsers(dest="command", required=True)
    replaying = webhooks.add_parser("replay", help="put a mode's failed deliveries and refused events back")
    replaying.add_argument("--from", dest="failed_queue", required=True, help="the mode's failed queue URL")
    replaying.add_argument("--to", dest="queue", required=True, help="the same mode's webhook queue URL")
    replaying.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.group == "events":
        return failed_records(args.queue, limit=args.limit)
    if not args.table:
        parser.error("the table is needed: --table NAME or TABLE_NAME")
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
