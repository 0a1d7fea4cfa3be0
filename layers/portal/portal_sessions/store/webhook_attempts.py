"""Each webhook endpoint's recent delivery attempts, for an operator (`python -m portal_admin webhooks attempts`).

One item per endpoint and mode (`webhook_attempts#<mode>#<endpoint id>`) holds its last attempts as a list, newest
first: an attempt prepends itself (`list_append`, one UpdateItem, no read and no lock, so concurrent attempts at
the same endpoint never conflict), and when the list has grown `TRIM_SLACK` past `ATTEMPTS_KEPT` one more UpdateItem
removes its tail (the positions past `ATTEMPTS_KEPT` hold the oldest attempts whatever was prepended meanwhile). Listing
is one GetItem by key. The table's only key is `pk`, so the alternative, an item per attempt, needs a new index
keyed by endpoint: 2 write units an attempt (the item and its index entry) but a change of the table's indexes.

What it costs (a write's units are the item's size, before or after it, whichever is larger, in 1 KB steps): an
entry is at most about 100 bytes, so the item holds 15 to 19 of them in under 2 KB: 2 write units per attempt, plus
a trim of the same size every `TRIM_SLACK` attempts, 2.44 per attempt in all (measured on DynamoDB Local with
ReturnConsumedCapacity, 300 attempts of the largest entries); 20 kept would cost 3.5. An item per attempt beside an
index keyed by endpoint would cost 2 (the item and its index entry, each under 1 KB) but needs a new index on the
table. No key gets hot: each delivery environment records at most its share of 250 attempts a second per endpoint
(webhook_delivery.RecordBudget), about 610 write units a second on the endpoint's item at most. `purge_at` (the
table's TTL) is set on every write, so an endpoint's attempts go `ATTEMPT_RETENTION_SECONDS` after its last one;
reads drop older entries, since TTL deletion lags.

An entry holds the attempt's time, event, attempt number, HTTP status or failure kind (fixed words), duration and
next retry: never the URL, the payload, the answer's body or the signature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..runtime.errors import ConditionFailedError
from .items import mode_name
from .table import Table

ATTEMPTS_KEPT = 15
TRIM_SLACK = 4
ATTEMPT_RETENTION_SECONDS = 30 * 86400  # as long as events are kept
ATTEMPTS_PREFIX = "webhook_attempts#"


@dataclass(frozen=True)
class AttemptRecord:
    at: int  # when it was made (Unix seconds)
    event_id: str
    event_type: str
    attempt: int  # of its delivery, from 1
    status: int | None  # the HTTP status answered, if there was an answer
    failure: str | None  # None if delivered; else what failed (http_status, timeout, connection_refused, ...)
    duration_ms: int
    next_retry_at: int | None  # when the next attempt is due; None after the last one

    def to_json(self) -> str:
        """Stored compact, as a list (names would cost their bytes in every entry): the status, or the failure's
        kind when there was no answer; the next retry as a delay."""
        answer = self.status if self.status is not None else self.failure
        delay = None if self.next_retry_at is None else self.next_retry_at - self.at
        stored = [self.at, self.event_id, self.event_type, self.attempt, answer, self.duration_ms, delay]
        return json.dumps(stored, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AttemptRecord:
        at, event_id, event_type, attempt, answer, duration_ms, delay = json.loads(text)
        status = answer if isinstance(answer, int) else None
        failure = (
            answer if isinstance(answer, str) else None if status is None or 200 <= status < 300 else "http_status"
        )
        next_retry_at = None if delay is None else at + delay
        return cls(at, event_id, event_type, attempt, status, failure, duration_ms, next_retry_at)


def attempts_key(endpoint_id: str, livemode: bool) -> dict[str, Any]:
    return {"pk": {"S": f"{ATTEMPTS_PREFIX}{mode_name(livemode)}#{endpoint_id}"}}


class WebhookAttemptStore(Table):
    def __init__(self, table_name: str, client: Any = None, *, kept: int = ATTEMPTS_KEPT) -> None:
        super().__init__(table_name, client)
        self.kept = kept

    def record(self, endpoint_id: str, livemode: bool, attempt: AttemptRecord) -> None:
        """Add an attempt to its endpoint's recent ones (the oldest past `kept` dropped every TRIM_SLACK attempts)."""
        key = attempts_key(endpoint_id, livemode)
        response = self.call(
            "update_item",
            Key=key,
            UpdateExpression="SET attempts = list_append(:new, if_not_exists(attempts, :none)), purge_at = :purge",
            ExpressionAttributeValues={
                ":new": {"L": [{"S": attempt.to_json()}]},
                ":none": {"L": []},
                ":purge": {"N": str(attempt.at + ATTEMPT_RETENTION_SECONDS)},
            },
            ReturnValues="UPDATED_NEW",  # costs no read unit
        )
        held = len(response["Attributes"]["attempts"]["L"])
        if held >= self.kept + TRIM_SLACK:
            self._trim(key, held)

    def _trim(self, key: dict[str, Any], held: int) -> None:
        try:
            self.call(
                "update_item",
                Key=key,
                UpdateExpression="REMOVE " + ", ".join(f"attempts[{position}]" for position in range(self.kept, held)),
                # another attempt's trim may have come first: then the list is short again, and this one waits
                ConditionExpression="size(attempts) >= :held",
                ExpressionAttributeValues={":held": {"N": str(held)}},
            )
        except ConditionFailedError:
            pass

    def recent(self, endpoint_id: str, livemode: bool, *, now: int, limit: int) -> list[AttemptRecord]:
        """An endpoint's recent attempts in this mode, newest first (none for an endpoint of the other mode)."""
        item = self.call("get_item", Key=attempts_key(endpoint_id, livemode)).get("Item") or {}
        oldest = now - ATTEMPT_RETENTION_SECONDS
        records = [AttemptRecord.from_json(entry["S"]) for entry in item.get("attempts", {}).get("L", [])]
        # newest first as stored; sorted again since two environments' clocks may disagree (the sort is stable)
        kept = sorted((record for record in records if record.at > oldest), key=lambda r: r.at, reverse=True)
        return kept[: min(limit, self.kept)]
