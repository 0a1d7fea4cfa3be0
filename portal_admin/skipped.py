"""The stream batches the events function's mapping gave up on, read back from the stream while it still has them.

After its last retry, Lambda sends a stream batch's position to the mapping's on-failure destination (the
SessionEventsDeadLetterQueue), never its records: `DDBStreamBatchInfo` names the stream, the shard and the first and
last sequence numbers. DynamoDB Streams keeps each record for 24 hours, so until then the batch can be read again
from its first sequence number (GetShardIterator AT_SEQUENCE_NUMBER, then GetRecords up to its last), listed, and fed
through the events function's own use case: an event's id comes from its record's, so what was stored or queued
before is not stored or queued again.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from portal_sessions.outbound.eventbus import event_from_stream_record
from portal_sessions.outbound.webhook_delivery import DeliveryQueue, store_and_queue
from portal_sessions.store.ports import EventRepository

# What DynamoDB Streams answers once a position is older than the stream's 24 hours (or the stream is gone).
_GONE = ("TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException")
EMPTY_PAGES_TRIED = 3  # GetRecords may answer an empty page before the records of an open shard


@dataclass(frozen=True)
class SkippedBatch:
    """A batch's position, as Lambda's on-failure destination holds it."""

    stream_arn: str
    shard_id: str
    first: str
    last: str
    size: int

    @classmethod
    def from_message(cls, body: str) -> SkippedBatch | None:
        """The position in a dead-letter message, or None for the queue's other messages (the records the function
        kept itself, with their keys and reason)."""
        try:
            info = json.loads(body).get("DDBStreamBatchInfo")
        except (ValueError, AttributeError):
            return None
        if not isinstance(info, dict):
            return None
        return cls(info["streamArn"], info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"],
                   int(info.get("batchSize", 0)))  # fmt: skip


class NoLongerInStreamError(Exception):
    """The batch's records have left the stream (kept 24 hours): only the items' current state in the table is left."""


def read_back(batch: SkippedBatch, streams: Any) -> list[dict[str, Any]]:
    """The batch's records, from its first sequence number to its last, as Lambda handed them to the function."""
    try:
        iterator: str | None = streams.get_shard_iterator(StreamArn=batch.stream_arn, ShardId=batch.shard_id,
                                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                                          SequenceNumber=batch.first)["ShardIterator"]  # fmt: skip
        records: list[dict[str, Any]] = []
        last, empty_pages = int(batch.last), 0
        while iterator and empty_pages < EMPTY_PAGES_TRIED:
            page = streams.get_records(ShardIterator=iterator)
            empty_pages = 0 if page["Records"] else empty_pages + 1
            for record in page["Records"]:
                if int(record["dynamodb"]["SequenceNumber"]) > last:
                    return records
                records.append(_as_lambda_gives_it(record, batch.stream_arn))
                if int(record["dynamodb"]["SequenceNumber"]) == last:
                    return records
            iterator = page.get("NextShardIterator")
        return records
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _GONE:
            raise NoLongerInStreamError(exc.response["Error"]["Code"]) from exc
        raise


def _as_lambda_gives_it(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime.datetime):  # boto3 parses it; Lambda's event has epoch seconds
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": change, "eventSourceARN": stream_arn}


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """What an operator is shown of a record: its position, kind, time and keys; never its images, which hold what
    the item held (a customer's id, a return URL)."""
    change = record["dynamodb"]
    created = change.get("ApproximateCreationDateTime")
    when = None
    if isinstance(created, int | float):
        when = datetime.datetime.fromtimestamp(created, datetime.UTC).isoformat().replace("+00:00", "Z")
    return {"SequenceNumber": change.get("SequenceNumber"), "eventName": record.get("eventName"),
            "ApproximateCreationDateTime": when, "Keys": change.get("Keys")}  # fmt: skip


def replay_records(
    records: list[dict[str, Any]], events: EventRepository, queue_for: Callable[[bool], DeliveryQueue]
) -> Counter[str]:
    """Each record through the stream consumer's use case: its event stored and queued once. How each went:
    `queued`, `already queued` (stored and queued before), `no event` (a change that announces nothing) or `not
    understood` (as the function would have kept it)."""
    outcomes: Counter[str] = Counter()
    for record in records:
        try:
            event = event_from_stream_record(record)
        except Exception:  # noqa: BLE001 - the function keeps such a record as failed; so is it counted here
            outcomes["not understood"] += 1
            continue
        if event is None:
            outcomes["no event"] += 1
        elif store_and_queue(event, events, queue_for(event["livemode"])):
            outcomes["queued"] += 1
        else:
            outcomes["already queued"] += 1
    return outcomes
