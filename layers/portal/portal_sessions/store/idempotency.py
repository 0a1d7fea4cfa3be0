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

from ..runtime.errors import ClaimLostError, ConditionFailedError, TransactionConditionFailedError
from .table import Table

KEY_PREFIX = "idempotency#"
IN_PROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"


def content_hash(value: Any) -> str:
    """The SHA-256 of a JSON value, serialised as the idempotency utility does (sorted keys, default separators)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IdempotencyRecord:
    """A record found holding a key: its request's hash and, once completed, the stored (sealed) response as text."""

    request_hash: str | None  # None: DynamoDB returned no record (it went between the claim and its answer)
    completed: bool
    response: str | None


@dataclass(frozen=True)
class Claim:
    """A key held for one run: the record's key, and the in-progress deadline that tells this claim from a later
    one that took the key over after it lapsed."""

    record_key: str
    in_progress_until_ms: int


@dataclass(frozen=True)
class RecordCompletion:
    """What completes a claimed record: the claim, the response to store (sealed) and when the record expires."""

    claim: Claim
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
            return IdempotencyRecord(
                request_hash=item["validation"]["S"] if "validation" in item else None,
                completed=completed,
                response=item.get("data", {}).get("S") if completed else None,
            )
        return None

    def complete(self, completion: RecordCompletion) -> None:
        """Complete this claim's record in an UpdateItem of its own (operations that write nothing in a transaction);
        ConditionFailedError if the claim lapsed and another took the key, or the record went."""
        update = completion_update(self.table_name, completion)["Update"]
        self.request("update_item", **update)

    def release(self, claim: Claim) -> None:
        """Give the key up after its operation failed, so a retry runs it again: only while this claim still holds it
        in progress (a write whose answer was lost may have completed it; a later claim may have taken it over)."""
        try:
            self.call(
                "delete_item",
                Key={"pk": {"S": claim.record_key}},
                **_held_by(claim),
            )
        except ConditionFailedError:
            pass


def _held_by(claim: Claim) -> dict[str, Any]:
    """The condition that the record is still this claim's, in progress."""
    return {
        "ConditionExpression": "#status = :in_progress AND in_progress_expiration = :claimed",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {
            ":in_progress": {"S": IN_PROGRESS},
            ":claimed": {"N": str(claim.in_progress_until_ms)},
        },
    }


def completion_update(table_name: str, completion: RecordCompletion) -> dict[str, Any]:
    """The `Update` that completes a record, if this claim still holds it: create puts it in the session's own
    transaction, which then stores nothing when the claim was lost."""
    held = _held_by(completion.claim)
    return {
        "Update": {
            "TableName": table_name,
            "Key": {"pk": {"S": completion.claim.record_key}},
            "UpdateExpression": "SET #data = :data, purge_at = :expiry, #status = :completed",
            "ConditionExpression": held["ConditionExpression"],
            "ExpressionAttributeNames": {"#data": "data", **held["ExpressionAttributeNames"]},
            "ExpressionAttributeValues": {
                ":data": {"S": json.dumps(completion.response, sort_keys=True)},
                ":expiry": {"N": str(completion.expires_at)},
                ":completed": {"S": COMPLETED},
                **held["ExpressionAttributeValues"],
            },
        }
    }


def put_new_item(table: Table, item: dict[str, Any], completion: RecordCompletion | None, request_token: str) -> None:
    """Put an item under a key that must be new, with its idempotency record's completion in the same transaction
    when it has one (so the record cannot be left in progress to lapse while the item exists: exactly once).

    botocore retries a write whose answer was lost. AWS answers the retried transaction as it answered the first
    (`request_token` names it, for 10 minutes); engines that do not find the item the first attempt stored: that
    very item is this write's success. Another item under the key is a ConditionFailedError (with that item); the
    claim taken over by another request is a ClaimLostError, and nothing was written.
    """
    put = {
        "TableName": table.table_name,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(pk)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if completion is None:
        try:
            table.request("put_item", **put)
        except ConditionFailedError as taken:
            if taken.item != item:
                raise
        return
    try:
        table.request(
            "transact_write_items",
            TransactItems=[{"Put": put}, completion_update(table.table_name, completion)],
            ClientRequestToken=request_token,
        )
    except TransactionConditionFailedError as failed:
        if 0 in failed.items:
            if failed.items[0] == item:  # the first attempt stored it, and completed the record with it
                return
            raise ConditionFailedError(failed.items[0]) from None
        raise ClaimLostError() from None
