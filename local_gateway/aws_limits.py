"""What AWS refuses that moto lets through, refused here too, so `make run` and the suite meet AWS's limits.

SQS messages and EventBridge entries may carry up to 1 MB since 2026-01-29 (AWS Compute Blog, "More room to build:
serverless services now support payloads up to 1 MB"); a PutEvents call takes at most 10 entries, an SQS batch at most
10 messages and 1 MiB in all. The checks hook into botocore's public event system (`before-parameter-build`), on the
boto3 session every client of the process is made from.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

MAX_ENTRIES = 10
EVENTBRIDGE_REQUEST_BYTES = 1024 * 1024
SQS_MESSAGE_BYTES = 1024 * 1024


def _refuse(operation: str, code: str, message: str) -> None:
    raise ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _utf8(text: Any) -> int:
    return len(str(text or "").encode("utf-8"))


def put_events_entry_size(entry: dict[str, Any]) -> int:
    """EventBridge's own count (its guide's "Calculating PutEvents event entry size")."""
    size = 14 if entry.get("Time") is not None else 0
    size += _utf8(entry.get("Source")) + _utf8(entry.get("DetailType")) + _utf8(entry.get("Detail"))
    return size + sum(_utf8(resource) for resource in entry.get("Resources") or [])


def check_put_events(params: dict[str, Any], **_kwargs: Any) -> None:
    entries = params.get("Entries") or []
    if len(entries) > MAX_ENTRIES:
        _refuse("PutEvents", "ValidationException", f"1 validation error: Entries has more than {MAX_ENTRIES} items")
    if sum(put_events_entry_size(entry) for entry in entries) > EVENTBRIDGE_REQUEST_BYTES:
        _refuse("PutEvents", "ValidationException", "Total size of the entries in the request is over the limit.")


def _message_size(message: dict[str, Any]) -> int:
    size = _utf8(message.get("MessageBody"))
    for name, attribute in (message.get("MessageAttributes") or {}).items():
        size += _utf8(name) + _utf8(attribute.get("DataType")) + _utf8(attribute.get("StringValue"))
        size += len(attribute.get("BinaryValue") or b"")
    return size


def check_send_message(params: dict[str, Any], **_kwargs: Any) -> None:
    if _message_size(params) > SQS_MESSAGE_BYTES:
        _refuse("SendMessage", "InvalidParameterValue", f"One or more parameters are invalid. Reason: Message must be "
                f"shorter than {SQS_MESSAGE_BYTES} bytes.")  # fmt: skip


def check_send_message_batch(params: dict[str, Any], **_kwargs: Any) -> None:
    entries = params.get("Entries") or []
    if len(entries) > MAX_ENTRIES:
        _refuse("SendMessageBatch", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                f"Maximum number of entries per request are {MAX_ENTRIES}.")  # fmt: skip
    if sum(_message_size(entry) for entry in entries) > SQS_MESSAGE_BYTES:
        _refuse("SendMessageBatch", "AWS.SimpleQueueService.BatchRequestTooLong",
                f"Batch requests cannot be longer than {SQS_MESSAGE_BYTES} bytes.")  # fmt: skip


_CHECKS = {
    "before-parameter-build.eventbridge.PutEvents": check_put_events,
    "before-parameter-build.sqs.SendMessage": check_send_message,
    "before-parameter-build.sqs.SendMessageBatch": check_send_message_batch,
}


def enforce_aws_limits() -> None:
    """Refuse, in every client made from now on from boto3's default session, what AWS would refuse."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    for event_name, check in _CHECKS.items():
        session.events.register(event_name, check, unique_id=f"portal-aws-limits:{event_name}")
