"""SQS for the local runner: what Lambda's SQS event source mapping does with the webhook delivery queue.

A poller receives the messages that are due (moto honours DelaySeconds), invokes the function the template
subscribes to the queue with them as a Lambda SQS event, and deletes those the function did not report as failed.
Each mapping has as many pollers as its MaximumConcurrency, each with an execution environment of its own: a mapping
whose environments are all busy (a flood of test deliveries to failing endpoints) leaves its messages in its queue
and delays no other mapping, as on AWS.
It long-polls, as Lambda does: a message due at once is received as soon as it is sent (a delayed one within a second
of being due, as moto checks), and an idle queue costs no requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3

from .runtime import FunctionRuntime
from .template import queue_mappings

WAIT_SECONDS = 20  # the longest SQS lets a receive wait for a message
RETRY_SECONDS = 0.5  # after a failed receive or delivery


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": message.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": message.get("Attributes", {}).get("SentTimestamp", "0"),
                },
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


class QueuePoller(threading.Thread):
    """Hands each batch of due messages to `deliver` (a function's invoke), until stopped."""

    def __init__(
        self, queue_url: str, deliver: Callable[[dict[str, Any]], Any], batch_size: int = 5, name: str = "queue-poller"
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._sqs = boto3.client("sqs")
        self._queue_url, self._deliver, self._batch_size = queue_url, deliver, batch_size
        self._queue_arn = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._stopped = threading.Event()

    def poll_once(self) -> int:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            AttributeNames=["All"],
            WaitTimeSeconds=WAIT_SECONDS,
        ).get("Messages", [])
        if not messages:
            return 0
        response = self._deliver(lambda_sqs_event(messages, self._queue_arn)) or {}
        failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:  # failed ones come back after their visibility timeout
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.poll_once()  # returns once a message is due, or after WAIT_SECONDS without one
            except Exception as exc:  # noqa: BLE001 - the local server keeps serving; say what went wrong
                print(f"queue poller: {type(exc).__name__}: {exc}", flush=True)
                self._stopped.wait(RETRY_SECONDS)

    def stop(self) -> None:
        self._stopped.set()


def queue_pollers(template: dict[str, Any], refs: dict[str, str], runtime: FunctionRuntime) -> list[QueuePoller]:
    """For each SQS mapping of the template, one poller per environment it may use at once (MaximumConcurrency)."""
    pollers = []
    for mapping in queue_mappings(template, refs):
        for slot in range(mapping.maximum_concurrency):
            pollers.append(QueuePoller(refs[mapping.queue], runtime.environment(mapping.function), mapping.batch_size,
                                       name=f"{mapping.queue}-{slot + 1}"))  # fmt: skip
    return pollers
