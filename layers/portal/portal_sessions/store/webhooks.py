"""DynamoDB storage of webhook endpoints and of events (kept 30 days), on the sessions table.

Endpoints: keyed by id, listed per mode through the `ByList` index (a mode has few endpoints, written rarely).
Events: keyed by id; listed through `ByList` too, but spread over `EVENT_LIST_SHARDS` list keys per mode (chosen by
the event's id), so that no index partition takes every event of a mode at full load; a list page reads each shard
and merges them, newest first. Their `purge_at` (the table's TTL) removes them after the retention period, and reads
ignore anything older, since TTL deletion lags.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from dataclasses import dataclass
from typing import Any

from ..errors import ConditionFailedError
from .idempotency import RecordCompletion, put_new_item
from .items import list_sort_of, mode_name
from .table import LIST_INDEX, Table

EVENT_RETENTION_SECONDS = 30 * 86400
EVENT_LIST_SHARDS = 8
_ENDPOINT_PREFIX = "webhook_endpoint#"
_EVENT_PREFIX = "event#"


@dataclass(frozen=True)
class StoredEndpoint:
    endpoint: dict[str, Any]  # as the API shows it, without the secret
    sealed_secret: str
    version: int

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
    )


# Events


@dataclass(frozen=True)
class EventQuery:
    """Which events a list page wants: types (None: any), and a `created` range (inclusive bounds)."""

    types: tuple[str, ...] | None = None
    created_from: int | None = None
    created_to: int | None = None


def event_shard(event_id: str) -> int:
    return hashlib.sha256(event_id.encode("utf-8")).digest()[0] % EVENT_LIST_SHARDS


def _event_list_key(livemode: bool, shard: int) -> str:
    return f"events#{mode_name(livemode)}#{shard}"


class EventStore(Table):
    def put_new(self, event: dict[str, Any], pending_webhooks: int) -> bool:
        """Store an event once; False if it was stored before (a retried stream record makes the same id)."""
        shown = {**event, "pending_webhooks": pending_webhooks}
        item = {
            "pk": {"S": _EVENT_PREFIX + event["id"]},
            "list_key": {"S": _event_list_key(event["livemode"], event_shard(event["id"]))},
            "list_sort": {"S": list_sort_of(event["created"], event["id"])},
            "event_type": {"S": event["type"]},
            "livemode": {"BOOL": event["livemode"]},
            "purge_at": {"N": str(event["created"] + EVENT_RETENTION_SECONDS)},  # the table's TTL attribute
            "pending_webhooks": {"N": str(pending_webhooks)},
            "body": {"S": json.dumps(shown, separators=(",", ":"))},
        }
        try:
            self.call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ConditionFailedError:
            return False
        return True

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
        pages = [
            self._shard_page(_event_list_key(livemode, shard), low, high, query.types, limit + 1, newest=before is None)
            for shard in range(EVENT_LIST_SHARDS)
        ]
        cursor = after if after is not None else before
        key = (lambda item: item[0]) if before is not None else (lambda item: _Descending(item[0]))
        merged = [item for item in heapq.merge(*pages, key=key) if item[0] != cursor]
        page = merged[:limit]
        if before is not None:
            page = page[::-1]
        return [event for _sort, event in page], len(merged) > limit

    def _shard_page(
        self, list_key: str, low: str, high: str, types: tuple[str, ...] | None, wanted: int, *, newest: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        values: dict[str, Any] = {":list": {"S": list_key}, ":low": {"S": low}, ":high": {"S": high}}
        request: dict[str, Any] = {
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": "list_key = :list AND list_sort BETWEEN :low AND :high",
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest,
        }
        if types:
            names = [f":type{position}" for position in range(len(types))]
            values.update({name: {"S": value} for name, value in zip(names, types, strict=True)})
            request["FilterExpression"] = f"event_type IN ({', '.join(names)})"
        found: list[tuple[str, dict[str, Any]]] = []
        while len(found) < wanted + 1:  # one more than wanted: the cursor itself may be among them
            request["Limit"] = wanted + 1 - len(found)
            response = self.call("query", **request)
            found.extend((item["list_sort"]["S"], _event_from_item(item)) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found


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
