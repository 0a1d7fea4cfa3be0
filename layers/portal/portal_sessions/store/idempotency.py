"""Idempotency records on the sessions table: claimed before an operation runs, completed with its response.

The layout is the one Powertools' idempotency utility writes (`pk` = `idempotency#` + the SHA-256 of the key's scope,
`status`, `data`, `validation`, `in_progress_expiration`, and `purge_at` as the record's expiry), so a record written
by the utility before this module owned them reads the same. A record expires through the table's TTL after 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..errors import ConditionFailedError
from .table import Table

KEY_PREFIX = "idempotency#"
IN_PROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"


def content_hash(value: Any) -> str:
    """The SHA-256 of a JSON value, serialised as the idempotency utility does (sorted keys, default separators)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IdempotencyRecord:
    """A record found holding a key: `response` (the stored, sealed response) once completed."""

    request_hash: str
    completed: bool
    response: dict[str, Any] | None


@dataclass(frozen=True)
class RecordCompletion:
    """What completes a claimed record: its key, the response to store (sealed) and when the record expires."""

    record_key: str
    response: dict[str, Any]
    expires_at: int


class IdempotencyRecordStore(Table):
    def claim(
        self, record_key: str, request_hash: str, *, expires_at: int, now_ms: int, in_progress_until_ms: int
    ) -> IdempotencyRecord | None:
        """Claim the key for this request with one conditional PutItem: None when claimed, else the record holding it.

        A record past its expiry (TTL's deletion lags) or an in-progress claim whose holder ran out of time is
        taken over, as the idempotency utility does.
        """
        try:
            self.call(
                "put_item",
                Item={
                    "pk": {"S": record_key},
                    "status": {"S": IN_PROGRESS},
                    "validation": {"S": request_hash},
                    "purge_at": {"N": str(expires_at)},
                    "in_progress_expiration": {"N": str(in_progress_until_ms)},
                },
                ConditionExpression=(
                    "attribute_not_exists(pk) OR purge_at < :now OR (#status = :in_progress AND "
                    "attribute_exists(in_progress_expiration) AND in_progress_expiration < :now_ms)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":now": {"N": str(now_ms // 1000)},
                    ":now_ms": {"N": str(now_ms)},
                    ":in_progress": {"S": IN_PROGRESS},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailedError as held:
            item = held.item or {}
            completed = item.get("status", {}).get("S") == COMPLETED
            data = item.get("data", {}).get("S")
            return IdempotencyRecord(
                request_hash=item.get("validation", {}).get("S", ""),
                completed=completed,
                response=json.loads(data) if completed and data else None,
            )
        return None

    def complete(self, completion: RecordCompletion) -> None:
        """Complete a claimed record in an UpdateItem of its own (operations that write nothing in a transaction)."""
        update = completion_update(self.table_name, completion)["Update"]
        self.request("update_item", **update)

    def release(self, record_key: str) -> None:
        """Give the key up after its operation failed, so a retry runs it again."""
        self.call("delete_item", Key={"pk": {"S": record_key}})


def completion_update(table_name: str, completion: RecordCompletion) -> dict[str, Any]:
    """The TransactWriteItems `Update` that completes a record: the session's create puts it in its own transaction."""
    return {
        "Update": {
            "TableName": table_name,
            "Key": {"pk": {"S": completion.record_key}},
            "UpdateExpression": "SET #data = :data, purge_at = :expiry, #status = :completed",
            "ExpressionAttributeNames": {"#data": "data", "#status": "status"},
            "ExpressionAttributeValues": {
                ":data": {"S": json.dumps(completion.response, sort_keys=True)},
                ":expiry": {"N": str(completion.expires_at)},
                ":completed": {"S": COMPLETED},
            },
        }
    }
