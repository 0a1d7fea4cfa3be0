"""Powertools' Tracer as a deployed function runs it: a subsegment for the handler and one for each AWS call.

Each sample event runs through the local invoke in a fresh process, as in Lambda (LAMBDA_TASK_ROOT set, the trace
header in `_X_AMZN_TRACE_ID`), with the X-Ray daemon's address pointed at a UDP socket of this test, which so receives
exactly what the X-Ray SDK would send the daemon.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def traced_invoke(function: str, event: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The handler's result, and every (sub)segment the function sent to the X-Ray daemon."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(2.0)
        environment = {
            **os.environ,
            "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
            "POWERTOOLS_TRACE_DISABLED": "false",
            "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        }
        done = subprocess.run(
            [sys.executable, "-m", "local_gateway", "invoke", function, "-e", f"events/{event}"],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        datagrams = []
        while True:  # the SDK sent them all before the process exited
            try:
                datagrams.append(daemon.recv(65536).decode())
            except TimeoutError:
                break
    segments = []
    for datagram in datagrams:
        header, body = datagram.split("\n", 1)
        assert json.loads(header) == {"format": "json", "version": 1}
        segments.append(json.loads(body))
    return json.loads(done.stdout), segments


@pytest.fixture(scope="module")
def create_trace() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return traced_invoke("CreateSessionFunction", "create_session_form.json")


def test_the_handler_has_its_own_subsegment_with_the_cold_start(create_trace: tuple) -> None:
    _, segments = create_trace

    [handler] = [segment for segment in segments if segment["name"] == "## lambda_handler"]

    assert handler["trace_id"] == TRACE_ROOT
    assert handler["annotations"] == {"ColdStart": True, "Service": "portal-sessions"}
    assert "metadata" not in handler  # no response recorded: it holds the session URL


def test_each_dynamodb_call_is_a_subsegment_of_the_trace(create_trace: tuple) -> None:
    result, segments = create_trace

    calls = [(segment["name"], segment["aws"]["operation"]) for segment in segments if "aws" in segment]

    assert result["statusCode"] == 200
    assert ("dynamodb", "TransactWriteItems") in calls  # the session, stored with its configuration check
    assert ("dynamodb", "PutItem") in calls  # the idempotency record of the sample's Idempotency-Key
    assert {segment["trace_id"] for segment in segments} == {TRACE_ROOT}
    tables = {segment["aws"]["table_name"] for segment in segments if "table_name" in segment.get("aws", {})}
    assert tables == {"portal-sessions-local"}  # single-item calls name their table (transactions span tables)


def test_traces_hold_neither_the_api_key_nor_the_session_url(create_trace: tuple) -> None:
    result, segments = create_trace
    event = json.loads((ROOT / "events" / "create_session_form.json").read_text())
    api_key = event["headers"]["authorization"].removeprefix("Bearer ")
    url_token = json.loads(result["body"])["url"].rsplit("/", 1)[1]

    sent = json.dumps(segments)

    assert len(segments) >= 3
    assert api_key not in sent
    assert url_token not in sent


def test_a_visit_is_traced_without_its_token() -> None:
    result, segments = traced_invoke("RedirectFunction", "redirect_live.json")
    token = json.loads((ROOT / "events" / "redirect_live.json").read_text())["pathParameters"]["token"]

    calls = [(segment["name"], segment["aws"]["operation"]) for segment in segments if "aws" in segment]

    assert result["statusCode"] == 302
    assert ("dynamodb", "UpdateItem") in calls  # the visit: one conditional update
    assert any(segment["name"] == "## lambda_handler" for segment in segments)
    assert token not in json.dumps(segments)
