"""The local runner and the suite refuse what AWS refuses and moto takes (local_gateway/aws_limits.py): a PutEvents
call of more than 10 entries or over 1 MB, an SQS message or batch over 1 MiB, a batch of more than 10. Every client
made from boto3's default session checks them (tests/conftest.py turns them on, as `make run` does)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_gateway.aws_limits import EVENTBRIDGE_REQUEST_BYTES, SQS_MESSAGE_BYTES, put_events_entry_size
from tests.support.aws import aws_client

MIB = 1024 * 1024


def entry(detail_bytes: int) -> dict[str, Any]:
    return {"Source": "s", "DetailType": "d", "Detail": json.dumps({"x": "a" * (detail_bytes - 10)})}


def test_put_events_over_aws_limits_is_refused_and_at_them_taken(service_env: dict[str, str]) -> None:
    events = aws_client("events")
    bus = service_env["EVENT_BUS_NAME"]
    at_limit = entry(EVENTBRIDGE_REQUEST_BYTES - 2)
    assert put_events_entry_size(at_limit) <= EVENTBRIDGE_REQUEST_BYTES

    assert events.put_events(Entries=[{**at_limit, "EventBusName": bus}])["FailedEntryCount"] == 0
    with pytest.raises(ClientError, match="over the limit"):
        events.put_events(Entries=[{**entry(EVENTBRIDGE_REQUEST_BYTES + 1), "EventBusName": bus}])
    with pytest.raises(ClientError, match="over the limit"):  # the limit is the call's, all entries together
        events.put_events(Entries=[{**entry(MIB // 2 + 1), "EventBusName": bus}] * 2)
    with pytest.raises(ClientError):
        events.put_events(Entries=[{**entry(100), "EventBusName": bus}] * 11)


@pytest.mark.usefixtures("queues")  # it sends to the functions' queues
def test_sqs_messages_and_batches_over_aws_limits_are_refused(service_env: dict[str, str]) -> None:
    sqs = aws_client("sqs")
    queue = service_env["TEST_WEBHOOK_DELIVERY_QUEUE_URL"]

    sqs.send_message(QueueUrl=queue, MessageBody="a" * SQS_MESSAGE_BYTES)  # 1 MiB: taken, as AWS does since 2026
    with pytest.raises(ClientError, match="shorter than"):
        sqs.send_message(QueueUrl=queue, MessageBody="a" * (SQS_MESSAGE_BYTES + 1))
    with pytest.raises(ClientError, match="BatchRequestTooLong|cannot be longer"):
        sqs.send_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(n), "MessageBody": "a" * (MIB // 2 + 1)} for n in range(2)])  # fmt: skip
    with pytest.raises(ClientError, match="TooManyEntries|Maximum number"):
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": "a"} for n in range(11)])
