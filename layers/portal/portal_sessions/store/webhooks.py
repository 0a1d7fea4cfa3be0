"""DynamoDB storage of webhook endpoints and of events (kept 30 days), on the sessions table.

Both are listed through the list index, which holds their keys only (and an event's type, for the type filter):
a page's keys come from it and its items are read back by key.
Endpoints: keyed by id, listed per mode (a mode has few endpoints, written rarely).
Events: keyed by id; spread over `list_shards` list keys per mode (chosen by the event's id, `EventListShards` in
the template), so that no index partition takes more than DynamoDB's 1,000 write units a second at full load; a list
page reads every shard and merges them, newest first. Raising the number on a live stack is safe (an event's shard
is its id's hash modulo the number, so every event written before lies in a shard below the new number, which readers
still query); lowering it hides the events in the shards dropped until they age out. Their `purge_at` (the table's
TTL) removes them after the retention period, and reads ignore anything older, since TTL deletion lags.

Each event has a small progress item beside it (`event#<id>#progress`) that marks the steps done once (queued for
dispatch, fanned out to endpoints, published): a step is done, then marked, so a crash between the two repeats the
step (a duplicate with the same event id) and never skips it. The marks live apart from the event so that marking
costs one write unit, whatever the event's size.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..runtime.errors import ConditionFailedError
from .idempotency import RecordCompletion, put_new_item
from .items import list_sort_of, mode_name
from .ports import FANNED_OUT, PUBLISHED, QUEUED
from .table import Table

EVENT_RETENTION_SECONDS = 30 * 86400
# Enough list keys for 20,000 events a second (10,000 creates and 10,000 first visits) at one write unit each on the
# index (it holds keys and the type, whatever the event's size), each key well under DynamoDB's 1,000 a second:
# 20,000 / 64 = 313 (625 during an upgrade from `ByList`, which projects the 1-2 KB event whole).
DEFAULT_EVENT_LIST_SHARDS = 64
_ENDPOINT_PREFIX = "webhook_endpoint#"
_EVENT_PREFIX = "event#"


@dataclass(frozen=True)
class StoredEndpoint:
    endpoint: dict[str, Any]  # as the API shows it, without the secret
    sealed_secret: str
    version: int
    failing_since: int | None = None  # when its deliveries began to fail, none having succeeded since

    @property
    def list_sort(self) -> str:
        return list_sort_of(self.endpoint["created"], self.endpoint["id"])


class WebhookEndpointStore(Table):
    def get(self, endpoint_id: str) -> StoredEndpoint | None:
        response = self.call("get_item", Key={"pk": {"S": _ENDPOINT_PREFIX + endpoint_id}}, ConsistentRead=True)
        item = response.get("Item")
        return _endpoint_from_item(item) if item else None

    def put_new(self, endpoint: dict[str, Any], sealed_secret: str, completion: RecordCompletion | None = None) -> None:
        """Store a new endpoint, completing its create's idempotency record in the same write if given;
        ConditionFailedError if its id exists, ClaimLostError if the record's claim was lost (see put_new_item)."""
        put_new_item(self, _endpoint_item(endpoint, sealed_secret, version=1), completion, endpoint["id"])

    def replace(self, stored: StoredEndpoint, endpoint: dict[str, Any]) -> None:
        """Write an updated endpoint if nobody else did since it was read (else ConditionFailedError)."""
        self.call(
            "put_item",
            Item=_endpoint_item(endpoint, stored.sealed_secret, version=stored.version + 1),
            ConditionExpression="version = :expected",
            ExpressionAttributeValues={":expected": {"N": str(stored.version)}},
        )

    def mark_failing(self, endpoint_id: str, since: int) -> None:
        """Note that the endpoint's deliveries fail, from `since` (kept if already noted)."""
        try:
            self.call(
                "update_item",
                Key={"pk": {"S": _ENDPOINT_PREFIX + endpoint_id}},
                UpdateExpression="SET failing_since = :since",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(failing_since)",
                ExpressionAttributeValues={":since": {"N": str(since)}},
            )
        except ConditionFailedError:
            pass  # noted already, or the endpoint is gone

    def clear_failing(self, endpoint_id: str) -> None:
        """A delivery succeeded: the endpoint is no longer failing."""
        try:
            self.call(
                "update_item",
                Key={"pk": {"S": _ENDPOINT_PREFIX + endpoint_id}},
                UpdateExpression="REMOVE failing_since",
                ConditionExpression="attribute_exists(failing_since)",
            )
        except ConditionFailedError:
            pass

    def disable(self, stored: StoredEndpoint) -> None:
        """Disable an endpoint if nobody changed it since it was read (else ConditionFailedError)."""
        disabled = {**stored.endpoint, "status": "disabled"}
        self.call(
            "update_item",
            Key={"pk": {"S": _ENDPOINT_PREFIX + stored.endpoint["id"]}},
            UpdateExpression="SET #status = :disabled, body = :body, version = :next",
            ConditionExpression="version = :expected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":disabled": {"S": "disabled"},
                ":body": {"S": json.dumps(disabled, separators=(",", ":"))},
                ":next": {"N": str(stored.version + 1)},
                ":expected": {"N": str(stored.version)},
            },
        )

    def delete(self, endpoint_id: str) -> None:
        """Delete an endpoint; ConditionFailedError if there is none."""
        self.call(
            "delete_item",
            Key={"pk": {"S": _ENDPOINT_PREFIX + endpoint_id}},
            ConditionExpression="attribute_exists(pk)",
        )

    def list_page(
        self, livemode: bool, *, limit: int, after: str | None = None, before: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        items, has_more = self.list_items(_endpoint_list_key(livemode), limit=limit, after=after, before=before)
        return [json.loads(item["body"]["S"]) for item in items], has_more

    def all_of_mode(self, livemode: bool) -> list[dict[str, Any]]:
        """Every endpoint of a mode (what an event fans out to)."""
        endpoints: list[dict[str, Any]] = []
        after = None
        while True:
            page, has_more = self.list_page(livemode, limit=100, after=after)
            endpoints.extend(page)
            if not has_more:
                return endpoints
            after = list_sort_of(page[-1]["created"], page[-1]["id"])


def _endpoint_list_key(livemode: bool) -> str:
    return "webhook_endpoints#" + mode_name(livemode)


def _endpoint_item(endpoint: dict[str, Any], sealed_secret: str, version: int) -> dict[str, Any]:
    return {
        "pk": {"S": _ENDPOINT_PREFIX + endpoint["id"]},
        "list_key": {"S": _endpoint_list_key(endpoint["livemode"])},
        "list_sort": {"S": list_sort_of(endpoint["created"], endpoint["id"])},
        "livemode": {"BOOL": endpoint["livemode"]},
        "status": {"S": endpoint["status"]},
        "sealed_secret": {"S": sealed_secret},
        "version": {"N": str(version)},
        "body": {"S": json.dumps(endpoint, separators=(",", ":"))},
    }


def _endpoint_from_item(item: dict[str, Any]) -> StoredEndpoint:
    return StoredEndpoint(
        endpoint=json.loads(item["body"]["S"]),
        sealed_secret=item["sealed_secret"]["S"],
        version=int(item["version"]["N"]),
        failing_since=int(item["failing_since"]["N"]) if "failing_since" in item else None,
    )


# Events


@dataclass(frozen=True)
class EventQuery:
    """Which events a list page wants: types (None: any), and a `created` range (inclusive bounds)."""

    types: tuple[str, ...] | None = None
    created_from: int | None = None
    created_to: int | None = None


def event_shard(event_id: str, shards: int = DEFAULT_EVENT_LIST_SHARDS) -> int:
    return int.from_bytes(hashlib.sha256(event_id.encode("utf-8")).digest()[:4], "big") % shards


def event_json(event: dict[str, Any]) -> str:
    """An event as stored, published and delivered: compact, and non-ASCII text as UTF-8 rather than `\\u` escapes
    (which take up to three times the bytes and would push the largest valid events past DynamoDB's item limit)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def _event_list_key(livemode: bool, shard: int) -> str:
    return f"events#{mode_name(livemode)}#{shard}"


class EventStore(Table):
    def __init__(self, table_name: str, client: Any = None, *, list_shards: int = DEFAULT_EVENT_LIST_SHARDS) -> None:
        super().__init__(table_name, client)
        self.list_shards = list_shards

    def put_new(self, event: dict[str, Any], pending_webhooks: int = 0) -> bool:
        """Store an event once; False if it was stored before (a retried stream record makes the same id)."""
        shown = {**event, "pending_webhooks": pending_webhooks}
        item = {
            "pk": {"S": _EVENT_PREFIX + event["id"]},
            "list_key": {"S": _event_list_key(event["livemode"], event_shard(event["id"], self.list_shards))},
            "list_sort": {"S": list_sort_of(event["created"], event["id"])},
            "event_type": {"S": event["type"]},
            "livemode": {"BOOL": event["livemode"]},
            "purge_at": {"N": str(event["created"] + EVENT_RETENTION_SECONDS)},  # the table's TTL attribute
            "pending_webhooks": {"N": str(pending_webhooks)},
            "body": {"S": event_json(shown)},
        }
        try:
            self.call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ConditionFailedError:
            return False
        return True

    def steps_done(self, event_id: str) -> frozenset[str]:
        """The steps marked done for an event (QUEUED, FANNED_OUT, PUBLISHED)."""
        response = self.call("get_item", Key={"pk": {"S": _progress_key(event_id)}}, ConsistentRead=True)
        item = response.get("Item") or {}
        return frozenset(step for step in (QUEUED, FANNED_OUT, PUBLISHED) if step in item)

    def mark_done(self, event_id: str, steps: list[str], *, purge_at: int) -> None:
        """Mark steps done, in one write of one write unit (marking one again changes nothing)."""
        names = {f"#step{position}": step for position, step in enumerate(steps)}
        self.call(
            "update_item",
            Key={"pk": {"S": _progress_key(event_id)}},
            UpdateExpression="SET "
            + ", ".join(f"{name} = :done" for name in names)
            + ", purge_at = if_not_exists(purge_at, :purge)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":done": {"BOOL": True}, ":purge": {"N": str(purge_at)}},
        )

    def delete(self, event_ids: list[str]) -> int:
        """Delete these events and their progress items, now; how many events there were."""
        deleted = 0
        for event_id in event_ids:
            response = self.call("delete_item", Key={"pk": {"S": _EVENT_PREFIX + event_id}}, ReturnValues="ALL_OLD")
            deleted += 1 if response.get("Attributes") else 0
            self.call("delete_item", Key={"pk": {"S": _progress_key(event_id)}})
        return deleted

    def unmark(self, event_id: str, step: str) -> None:
        """Forget that a step was done, so it is done again (an operator's replay)."""
        self.call(
            "update_item",
            Key={"pk": {"S": _progress_key(event_id)}},
            UpdateExpression="REMOVE #step",
            ExpressionAttributeNames={"#step": step},
        )

    def set_pending_webhooks(self, event_id: str, count: int) -> None:
        """How many endpoints the event was fanned out to (each settles one when it is delivered or fails for good)."""
        try:
            self.call(
                "update_item",
                Key={"pk": {"S": _EVENT_PREFIX + event_id}},
                UpdateExpression="SET pending_webhooks = :count",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":count": {"N": str(count)}},
            )
        except ConditionFailedError:
            pass  # the event aged out

    def get(self, event_id: str, *, now: int) -> dict[str, Any] | None:
        response = self.call("get_item", Key={"pk": {"S": _EVENT_PREFIX + event_id}}, ConsistentRead=True)
        item = response.get("Item")
        if not item:
            return None
        event = _event_from_item(item)
        return event if event["created"] > now - EVENT_RETENTION_SECONDS else None

    def webhook_settled(self, event_id: str) -> None:
        """One endpoint is done with the event (delivered, or failed for good): one fewer pending webhook."""
        try:
            self.call(
                "update_item",
                Key={"pk": {"S": _EVENT_PREFIX + event_id}},
                UpdateExpression="ADD pending_webhooks :minus",
                ConditionExpression="attribute_exists(pk) AND pending_webhooks > :zero",
                ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
            )
        except ConditionFailedError:
            pass  # already settled (a repeated delivery), or the event aged out

    def list_page(
        self,
        livemode: bool,
        query: EventQuery,
        *,
        now: int,
        limit: int,
        after: str | None = None,
        before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first: `limit` events older than `after` or newer than `before`; and whether more exist."""
        oldest = now - EVENT_RETENTION_SECONDS + 1
        low = list_sort_of(max(oldest, query.created_from or 0), "")
        high = list_sort_of(query.created_to, "~") if query.created_to is not None else "~"
        if after is not None:
            high = min(high, after)
        if before is not None:
            low = max(low, before)
        if low > high:
            return [], False

        def shard_page(shard: int) -> list[tuple[str, dict[str, Any]]]:
            return self._shard_page(_event_list_key(livemode, shard), low, high, query.types, limit + 1,
                                    newest=before is None)  # fmt: skip

        self.client  # noqa: B018 - made once here: a cached client is shared by the threads below, never made by two
        with ThreadPoolExecutor(max_workers=min(_SHARD_READERS, self.list_shards)) as readers:
            pages = list(readers.map(shard_page, range(self.list_shards)))
        cursor = after if after is not None else before
        key = (lambda item: item[0]) if before is not None else (lambda item: _Descending(item[0]))
        merged = [item for item in heapq.merge(*pages, key=key) if item[0] != cursor]
        page = merged[:limit]
        if before is not None:
            page = page[::-1]
        items = self.items_in_order([key for _sort, key in page])
        return [_event_from_item(item) for item in items], len(merged) > limit

    def _shard_page(
        self, list_key: str, low: str, high: str, types: tuple[str, ...] | None, wanted: int, *, newest: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        """The keys of one shard's events in the range, newest (or oldest) first, as (list_sort, pk)."""
        values: dict[str, Any] = {":list": {"S": list_key}, ":low": {"S": low}, ":high": {"S": high}}
        request: dict[str, Any] = {
            "IndexName": self.list_index,
            "KeyConditionExpression": "list_key = :list AND list_sort BETWEEN :low AND :high",
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest,
            "ProjectionExpression": "pk, list_sort",
        }
        if types:
            names = [f":type{position}" for position in range(len(types))]
            values.update({name: {"S": value} for name, value in zip(names, types, strict=True)})
            request["FilterExpression"] = f"event_type IN ({', '.join(names)})"
        found: list[tuple[str, dict[str, Any]]] = []
        while len(found) < wanted + 1:  # one more than wanted: the cursor itself may be among them
            request["Limit"] = wanted + 1 - len(found)
            response = self.call("query", **request)
            found.extend((item["list_sort"]["S"], item["pk"]) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found


_SHARD_READERS = 16  # concurrent queries of one list page: a page of 64 shards costs about four round trips


def _progress_key(event_id: str) -> str:
    return f"{_EVENT_PREFIX}{event_id}#progress"


class _Descending:
    """Orders sort keys newest first for heapq.merge."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return self.value > other.value


def event_sort_key(event: dict[str, Any]) -> str:
    return list_sort_of(event["created"], event["id"])


def _event_from_item(item: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(item["body"]["S"])
    event["pending_webhooks"] = int(item["pending_webhooks"]["N"])
    return event
