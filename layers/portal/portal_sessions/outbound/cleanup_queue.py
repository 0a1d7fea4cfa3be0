"""The queue of cleanup units between the schedule and the workers (SQS)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef
else:
    SQSClient = SendMessageBatchRequestEntryTypeDef = Any

SEND_BATCH_LIMIT = 10  # SendMessageBatch's maximum


@dataclass(frozen=True)
class CleanupUnit:
    """One unit of work, as a message carries it: a purge bucket's shard."""

    bucket: int
    shard: int


@cache
def sqs_client() -> SQSClient:
    import boto3

    return boto3.client("sqs")


def clear_client_cache() -> None:
    """Forget the cached client: the next `sqs_client()` is built from the settings in force then (tests: a new mock
    of AWS)."""
    sqs_client.cache_clear()


def unit_message(unit: CleanupUnit) -> str:
    return json.dumps({"bucket": unit.bucket, "shard": unit.shard})


def unit_from_message(body: str) -> CleanupUnit:
    fields = json.loads(body)
    return CleanupUnit(bucket=int(fields["bucket"]), shard=int(fields["shard"]))


def queue_units(queue_url: str, units: list[CleanupUnit]) -> None:
    """Send the units in batches of 10; one SQS refuses fails the run (the schedule retries; units are idempotent)."""
    for start in range(0, len(units), SEND_BATCH_LIMIT):
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "MessageBody": unit_message(unit)}
            for index, unit in enumerate(units[start : start + SEND_BATCH_LIMIT])
        ]
        failed = sqs_client().send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        if failed:
            raise RuntimeError(f"{len(failed)} cleanup units were not queued")
