"""Cleanup at scale: the cleanup function run against a table of live and expired sessions in moto (in process).

Items are written with BatchWriteItem in the exact shape SessionStore writes (`_session_item`). What the benchmark
counts with botocore's event hooks on the function's own client: the items each Query returns (`Count`, and
`ScannedCount`, what DynamoDB reads and bills before any filter), the calls by operation and the time spent in them.

moto's Query is not DynamoDB's: it sorts and walks the whole table in Python on every call (about 25 s per query at
110,000 items), where DynamoDB reads only the key range asked for. To keep the run bounded, this benchmark gives moto's
`Table.all_items` a faster sort key with the same order (the table's key is one string attribute, so ordering by the
raw string is what moto's own comparison does); results are unchanged, and the process checks the table's item
count before and after. Times are therefore client + moto, not DynamoDB's; items read and calls are exact.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from collections import Counter
from typing import Any

from .common import (
    BENCH_TABLE,
    FUNCTIONS_DIR,
    LAYER_DIR,
    ROOT,
    fmt,
    fmt_int,
    function_environment,
    offline_aws_environment,
    section_main,
    table,
    verdict,
)

GOAL_READ_RATIO = 1.1
LOOKBACK_HOURS = 6  # the backlog: expired sessions spread over the last 6 hours (say, cleanup paused that long)
FULL = {"live": 100_000, "expired": 10_000}
QUICK = {"live": 10_000, "expired": 1_000}
LIVE_MARGIN_SECONDS = 900
SCHEDULED_EVENT = {
    "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "1970-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/ExampleRule"],
    "detail": {},
}


def _speed_up_moto_sort() -> bool:
    """Same order as moto's `Table.all_items` for a table keyed by one string attribute, without DynamoType compares."""
    from moto.dynamodb.models.table import Table

    original = Table.all_items

    def all_items(self: Any) -> Any:
        if self.range_key_attr:
            return original(self)
        items = list(self.items.values())
        if any(item.hash_key.type != "S" for item in items):
            return original(self)
        return sorted(items, key=lambda item: item.hash_key.value)

    Table.all_items = all_items  # type: ignore[method-assign]
    return True


class CallMeter:
    """Calls by operation, time inside them, and what the queries returned, from the client's own event hooks."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}
        self.query_items = 0
        self.query_scanned = 0
        self.got_items = 0
        self.deletes_sent = 0
        self._started = 0.0
        client.meta.events.register("before-parameter-build.dynamodb", self._arguments)
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _arguments(self, params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        if model.name == "BatchWriteItem":
            self.deletes_sent += sum(len(requests) for requests in params.get("RequestItems", {}).values())

    def _before(self, model: Any, **_kwargs: Any) -> None:
        self.calls[model.name] += 1
        self._started = time.perf_counter()

    def _after(self, parsed: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        self.seconds[model.name] = self.seconds.get(model.name, 0.0) + time.perf_counter() - self._started
        if model.name == "Query":
            self.query_items += parsed.get("Count", 0)
            self.query_scanned += parsed.get("ScannedCount", 0)
        elif model.name == "GetItem":
            self.got_items += 1 if "Item" in parsed else 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "call_seconds": dict(self.seconds),
            "query_items": self.query_items,
            "query_scanned": self.query_scanned,
            "got_items": self.got_items,
            "deletes_sent": self.deletes_sent,
        }

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()
        self.query_items = self.query_scanned = self.got_items = self.deletes_sent = 0


def _sessions(live: int, expired: int, now: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Items as SessionStore writes them: unvisited, visited and recoverable sessions, live or expired."""
    from portal_sessions.session import PortalSession
    from portal_sessions.store import BUCKET_SECONDS, _session_item
    from portal_sessions.tokens import new_url_token, url_token_hash

    randomness = random.Random(7)
    oldest = (now // BUCKET_SECONDS - LOOKBACK_HOURS) * BUCKET_SECONDS
    kinds: Counter[str] = Counter()
    items = []
    for index in range(live + expired):
        is_live = index < live
        kind = randomness.choices(["unvisited", "visited", "recoverable"], weights=[6, 3, 1])[0]
        purge_hold = None
        recovery_until = None
        if is_live and kind == "recoverable":  # half of them past their link's life, kept for recovery by login
            recovery_until = now + randomness.randint(3600, 30 * 86400)
            purge_hold = recovery_until
            expires_at = now + randomness.randint(-3000, 300)
        elif is_live:  # still live when the cleanup runs, however long writing the table takes
            expires_at = now + LIVE_MARGIN_SECONDS + randomness.randint(1, 300 if kind == "unvisited" else 3600)
        else:
            kind = "visited" if kind == "visited" else "unvisited"
            expires_at = randomness.randint(oldest, now - 1)
        kinds[("live " if is_live else "expired ") + kind] += 1
        visited_at = expires_at - 3600 if kind == "visited" else None
        session = PortalSession(
            id=f"bps_Bench{index:019d}",
            livemode=False,
            customer=f"cus_Bench{index % 5000:05d}",
            customer_account=None,
            configuration="bpc_DefaultTestConfiguration",
            flow=None,
            locale=None,
            on_behalf_of=None,
            return_url="https://example.com/account",
            created=(visited_at or expires_at - 300) - 5,
            expires_at=expires_at,
            visited_at=visited_at,
            after_expiration={"type": "customer_login", "customer_login": {"expires_at": recovery_until}}
            if recovery_until
            else None,
            recovery_until=recovery_until,
        )
        items.append(_session_item(session, url_token_hash(new_url_token()), purge_hold))
    randomness.shuffle(items)
    return items, dict(kinds)


def measure(quick: bool) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    os.environ.clear()
    os.environ.update(offline_aws_environment())
    os.environ.update(function_environment("CleanupFunction"))
    os.environ["CLEANUP_LOOKBACK_HOURS"] = str(LOOKBACK_HOURS)
    for path in (str(FUNCTIONS_DIR / "cleanup"), str(LAYER_DIR), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    real_stdout = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the function's JSON logs
    try:
        return _measure(sizes)
    finally:
        sys.stdout.close()
        sys.stdout = real_stdout


def _measure(sizes: dict[str, int]) -> dict[str, Any]:
    import boto3
    from botocore.config import Config
    from moto import mock_aws

    patched = _speed_up_moto_sort()
    with mock_aws():
        import cleanup_handler

        from local_gateway.runtime import LambdaContext
        from local_gateway.template import load_template, table_definition
        from portal_sessions.store import BUCKET_SECONDS, dynamodb_client

        assert os.environ["TABLE_NAME"] == BENCH_TABLE
        definition = table_definition(load_template())
        seeder = boto3.client("dynamodb", config=Config(parameter_validation=False))
        seeder.create_table(TableName=BENCH_TABLE, **definition["create_table"])
        now = int(time.time())
        started = time.perf_counter()
        items, kinds = _sessions(sizes["live"], sizes["expired"], now)
        built = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(0, len(items), 25):
            batch: list[Any] = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            while batch:
                response = seeder.batch_write_item(RequestItems={BENCH_TABLE: batch})
                batch = response.get("UnprocessedItems", {}).get(BENCH_TABLE, [])
        seeded = time.perf_counter() - started
        count_before = seeder.describe_table(TableName=BENCH_TABLE)["Table"]["ItemCount"]

        meter = CallMeter(dynamodb_client())
        context = LambdaContext(function_name="cleanup-benchmark", aws_request_id=str(uuid.uuid4()))
        runs = []
        for _run in range(2):  # the second run finds nothing left and must read nothing
            meter.reset()
            started = time.perf_counter()
            result = cleanup_handler.lambda_handler(SCHEDULED_EVENT, context)
            runs.append({"deleted": result["deleted"], "seconds": time.perf_counter() - started, **meter.snapshot()})
        count_after = seeder.describe_table(TableName=BENCH_TABLE)["Table"]["ItemCount"]
        left = 0
        current = now // BUCKET_SECONDS
        for bucket in range(current - LOOKBACK_HOURS - 1, current + 1):
            left += seeder.query(
                TableName=BENCH_TABLE,
                IndexName="ByPurgeBucket",
                KeyConditionExpression="purge_bucket = :bucket AND purge_at <= :now",
                ExpressionAttributeValues={":bucket": {"N": str(bucket)}, ":now": {"N": str(now)}},
                Select="COUNT",
            )["Count"]
    return {
        "sizes": sizes,
        "kinds": kinds,
        "lookback_hours": LOOKBACK_HOURS,
        "build_seconds": built,
        "seed_seconds": seeded,
        "count_before": count_before,
        "count_after": count_after,
        "expired_left": left,
        "runs": runs,
        "moto_sort_patched": patched,
    }


def render(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    expired, live = sizes["expired"], sizes["live"]
    first, second = result["runs"]
    ratio = (first["query_scanned"] + first["got_items"]) / expired
    scan_ratio = (live + expired) / expired
    rows = []
    for name, run in (("first run (backlog)", first), ("second run (nothing left)", second)):
        per_thousand = run["seconds"] / run["deleted"] * 1000 if run["deleted"] else None
        batch_per_thousand = (
            run["call_seconds"].get("BatchWriteItem", 0) / run["deleted"] * 1000 if run["deleted"] else None
        )  # fmt: skip
        rows.append(
            [
                name,
                fmt_int(run["deleted"]),
                fmt_int(run["query_items"]),
                fmt_int(run["query_scanned"] + run["got_items"]),
                f"{(run['query_scanned'] + run['got_items']) / expired:.4f}",
                ", ".join(f"{operation} {count}" for operation, count in sorted(run["calls"].items())),
                fmt(run["seconds"], 1),
                fmt(per_thousand, 2) if per_thousand is not None else "–",
                fmt(batch_per_thousand, 2) if batch_per_thousand is not None else "–",
                fmt(run["call_seconds"].get("Query", 0), 1),
            ]
        )
    kinds = ", ".join(f"{fmt_int(count)} {kind}" for kind, count in sorted(result["kinds"].items()))
    return "\n".join(
        [
            f"{fmt_int(live)} live and {fmt_int(expired)} expired sessions ({kinds}; expired ones spread over the "
            f"last {result['lookback_hours']} hours, cleanup's look-back set to match with "
            "`CLEANUP_LOOKBACK_HOURS`; recoverable ones held by `purge_hold`), written with BatchWriteItem in "
            f"{fmt(result['seed_seconds'], 0)} s, then the cleanup function invoked twice.",
            "",
            table(
                [
                    "run",
                    "deleted",
                    "items returned by Query",
                    "items read (Query ScannedCount + GetItem)",
                    "read ÷ expired",
                    "DynamoDB calls",
                    "s",
                    "s per 1,000 deletions",
                    "of which BatchWriteItem",
                    "s in Query (moto)",
                ],
                rows,
            ),
            "",
            f"Goal: items read ÷ expired ≤ {GOAL_READ_RATIO}: {ratio:.3f}, {verdict(ratio <= GOAL_READ_RATIO)} "
            f"(a Scan would read {scan_ratio:.0f}×). Check: {fmt_int(result['count_before'])} items before, "
            f"{fmt_int(result['count_after'])} after (the survivors plus the cleanup watermark), "
            f"{result['expired_left']} expired left; the BatchWriteItem calls carried {fmt_int(first['deletes_sent'])} "
            "deletions. Times are moto's in-process ones, with its Query sort sped up as described in "
            "benchmarks/cleanup.py: on DynamoDB, expect a BatchWriteItem round trip (tens of ms) "
            "per 25 deletions, run one after another.",
        ]
    )


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    first = result["runs"][0]
    expired = result["sizes"]["expired"]
    ratio = (first["query_scanned"] + first["got_items"]) / expired
    live = result["sizes"]["live"]
    return [
        (
            f"Cleanup, items read ÷ expired ({fmt_int(live)} live, {fmt_int(expired)} expired)",
            f"{ratio:.4f} (deleted {fmt_int(first['deleted'])})",
            f"≤ {GOAL_READ_RATIO}",
            ratio <= GOAL_READ_RATIO and first["deleted"] == expired and result["expired_left"] == 0,
        )
    ]


if __name__ == "__main__":
    section_main(measure)
