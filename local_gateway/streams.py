"""DynamoDB Streams for the local runner: what Lambda's event source mapping does with the sessions table's stream.

A reader takes the records GetRecords returns from the embedded store and hands them over in the shape of a Lambda
DynamoDB event; a poller does that in the background for `run`, invoking each function the template subscribes to
the stream. The template's filter criteria are not applied: the events function ignores what they would filter out.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from typing import Any

import boto3

POLL_SECONDS = 0.25  # Lambda reads a stream's shards four times a second
IDLE_POLL_SECONDS = 1.0  # once nothing has come for IDLE_AFTER_READS reads: an idle server should leave the CPU alone
IDLE_AFTER_READS = 20


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it: with its source ARN, and its time in epoch seconds."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime.datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": change, "eventSourceARN": stream_arn}


class NoStreamError(Exception):
    """The table has no stream (made before the template gave it one)."""


class StreamReader:
    """Reads a table's stream from where it was when the reader was made (or from its start, `from_start`).

    Each read asks for an iterator after the last sequence number seen rather than keeping the previous read's
    iterator: moto replaces a table's stream when it rolls back a failed transaction, and a position by sequence
    number stays valid across that (as it does in DynamoDB Streams).
    """

    def __init__(self, table_name: str, *, from_start: bool = False) -> None:
        table = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]
        if "LatestStreamArn" not in table:
            raise NoStreamError(f"table {table_name} has no stream: create it from template.yaml to get events")
        self.stream_arn: str = table["LatestStreamArn"]
        self._streams = boto3.client("dynamodbstreams")
        self._last_seen: dict[str, str] = {}  # shard id: the last sequence number read from it
        if not from_start:
            self.read()  # what is there already is skipped

    def read(self) -> list[dict[str, Any]]:
        """The records written since the last read, as a Lambda DynamoDB event's Records."""
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        records: list[dict[str, Any]] = []
        for shard in shards:
            position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
            if shard["ShardId"] in self._last_seen:
                position = {
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "SequenceNumber": self._last_seen[shard["ShardId"]],
                }
            iterator = self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard["ShardId"], **position)
            found = self._streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
            if found:
                self._last_seen[shard["ShardId"]] = found[-1]["dynamodb"]["SequenceNumber"]
            records += [lambda_record(record, self.stream_arn) for record in found]
        return records


class StreamPoller(threading.Thread):
    """Invokes `deliver` with each new batch of stream records, until stopped."""

    def __init__(self, reader: StreamReader, deliver: Callable[[dict[str, Any]], Any]) -> None:
        super().__init__(name="stream-poller", daemon=True)
        self._reader, self._deliver = reader, deliver
        self._stopped = threading.Event()

    def run(self) -> None:
        empty_reads = 0
        while not self._stopped.is_set():
            delivered = False
            try:
                records = self._reader.read()
                if records:
                    self._deliver({"Records": records})
                    delivered = True
            except Exception as exc:  # noqa: BLE001 - the local server keeps serving; say what went wrong
                print(f"stream poller: {type(exc).__name__}: {exc}", flush=True)
            if delivered:  # a backlog is read on at once, as Lambda does
                empty_reads = 0
                continue
            empty_reads += 1  # a failure waits like an empty read
            self._stopped.wait(IDLE_POLL_SECONDS if empty_reads > IDLE_AFTER_READS else POLL_SECONDS)

    def stop(self) -> None:
        self._stopped.set()
