"""The local runner's SQS mappings behave as Lambda's: each has as many environments as its MaximumConcurrency, of
its own, so a mapping whose environments are all busy delays no other mapping of the same function (test mode's
webhook deliveries never hold live mode's), and takes no more than its maximum at once."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from local_gateway.queues import queue_pollers
from local_gateway.runtime import FunctionRuntime
from tests.support.aws import aws_client

MARKERS = '''
"""What the probe's environments share: the test's markers (one module of this process, as the layer is)."""
import threading

lock = threading.Lock()
busy = 0  # test mode invocations under way
most_busy = 0
all_test_environments_busy = threading.Event()
release = threading.Event()
live_handled = threading.Event()
'''

HANDLER = '''
"""Holds a test mode message until the test releases it; notes a live one at once."""
import json

import probe_markers as markers


def lambda_handler(event, context):
    for record in event["Records"]:
        if json.loads(record["body"])["livemode"]:
            markers.live_handled.set()
            continue
        with markers.lock:
            markers.busy += 1
            markers.most_busy = max(markers.most_busy, markers.busy)
            if markers.busy == 2:
                markers.all_test_environments_busy.set()
        markers.release.wait(60)
        with markers.lock:
            markers.busy -= 1
    return {"batchItemFailures": []}
'''

TEST_MAXIMUM = 2


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[Any]:
    """A function folder holding the probe's handler and its markers, importable as Lambda's code folder is."""
    (tmp_path / "probe_markers.py").write_text(textwrap.dedent(MARKERS))
    (tmp_path / "probe_handler.py").write_text(textwrap.dedent(HANDLER))
    sys.path.insert(0, str(tmp_path))
    import probe_markers

    yield tmp_path, probe_markers
    probe_markers.release.set()  # whatever the outcome, no environment stays held
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.startswith(("probe_markers", "probe_handler"))]:
        del sys.modules[name]


def a_template(code_dir: Path) -> dict[str, Any]:
    """One function subscribed to two queues, as the delivery function is to live's and test's."""

    def mapping(queue: str, maximum: int) -> dict[str, Any]:
        return {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": [queue, "Arn"]}, "BatchSize": 1,
                                              "ScalingConfig": {"MaximumConcurrency": maximum}}}  # fmt: skip

    events = {"Live": mapping("LiveQueue", 2), "Test": mapping("TestQueue", TEST_MAXIMUM)}
    function = {"Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": str(code_dir), "Handler": "probe_handler.lambda_handler",
                               "Events": events}}  # fmt: skip
    return {"Resources": {"ProbeFunction": function}}


def test_a_live_message_is_handled_while_every_environment_of_the_test_mapping_is_busy(probe: Any) -> None:
    code_dir, markers = probe
    with mock_aws(config={"core": {"reset_boto3_session": False}}):  # type: ignore[arg-type]
        sqs = aws_client("sqs")
        refs = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("LiveQueue", "TestQueue")}
        pollers = queue_pollers(a_template(code_dir), refs, FunctionRuntime(a_template(code_dir), {}))
        for poller in pollers:
            poller.start()
        try:
            # Given the test mapping's every environment held by a message, and one more test message waiting
            for _n in range(TEST_MAXIMUM + 1):
                sqs.send_message(QueueUrl=refs["TestQueue"], MessageBody=json.dumps({"livemode": False}))
            assert markers.all_test_environments_busy.wait(30)

            # When a live message comes
            sqs.send_message(QueueUrl=refs["LiveQueue"], MessageBody=json.dumps({"livemode": True}))

            # Then it is handled while they are still held, and the test mapping took no more than its maximum
            assert markers.live_handled.wait(30)
            assert markers.busy == TEST_MAXIMUM and not markers.release.is_set()
        finally:
            markers.release.set()
            for poller in pollers:
                poller.stop()
    assert markers.most_busy == TEST_MAXIMUM
