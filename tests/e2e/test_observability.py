"""What a deployed function writes to CloudWatch: one structured line per request, and EMF metrics.

Each sample event runs through the local invoke in a fresh process (as a cold Lambda would), whose stderr is the
function's log output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = {
    "create": ("CreateSessionFunction", "create_session_form.json"),
    "rejected": ("CreateSessionFunction", "create_session_bad_parameter.json"),
    "visit": ("RedirectFunction", "redirect_live.json"),
    "cleanup": ("CleanupFunction", "cleanup_scheduled.json"),
    "cleanup_unit": ("CleanupWorkerFunction", "cleanup_unit.json"),
    "events": ("SessionEventsFunction", "session_events_stream.json"),
}


@pytest.fixture(scope="module")
def logs() -> dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Per run: the JSON lines the function logged, and the handler's result."""

    def invoke(function: str, event: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "local_gateway", "invoke", function, "-e", f"events/{event}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        return lines, json.loads(done.stdout)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(invoke, *run) for name, run in RUNS.items()}
        return {name: future.result() for name, future in futures.items()}


def metrics_of(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Every EMF metric value and dimension the lines carry, by name."""
    found: dict[str, Any] = {}
    for line in lines:
        if "_aws" in line:
            for directive in line["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = line[metric["Name"]]
                for dimension_set in directive["Dimensions"]:
                    found.update({f"dimension:{name}": line[name] for name in dimension_set})
    return found


def request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") == "request"]


def test_one_structured_line_per_request_with_the_lambda_context_and_correlation_id(logs: dict) -> None:
    # Given a created session
    lines, result = logs["create"]
    session = json.loads(result["body"])

    # Then exactly one request line describes it, with the context Powertools adds
    [line] = request_lines(lines)
    assert line["route"] == "POST /v1/billing_portal/sessions"
    assert line["status"] == 200
    assert line["session_id"] == session["id"]
    assert line["function_name"] == "CreateSessionFunction" and line["cold_start"] is True
    assert line["correlation_id"] == "id"  # the API Gateway request id of the sample event
    assert line["stripe_request_id"] == result["headers"]["Request-Id"]
    assert isinstance(line["duration_ms"], float)


def test_metrics_for_created_sessions_and_cold_starts(logs: dict) -> None:
    found = metrics_of(logs["create"][0])

    assert found["SessionsCreated"] == [1.0]
    assert found["ColdStart"] == [1.0]


def test_rejections_are_counted_by_reason(logs: dict) -> None:
    lines, _ = logs["rejected"]

    found = metrics_of(lines)

    assert found["RequestsRejected"] == [1.0]
    assert found["dimension:reason"] == "parameter_unknown"
    [line] = request_lines(lines)
    assert (line["status"], line["error_code"], line["error_param"]) == (400, "parameter_unknown", "colour")


def test_visits_are_counted_and_logged_by_route_not_path(logs: dict) -> None:
    lines, result = logs["visit"]

    found = metrics_of(lines)

    assert result["statusCode"] == 302
    assert found["SessionsVisited"] == [1.0]
    [line] = request_lines(lines)
    assert line["route"] == "GET /p/session/{token}" and line["first_visit"] is True
    token = json.loads((ROOT / "events" / "redirect_live.json").read_text())["pathParameters"]["token"]
    assert token not in json.dumps(lines)


def test_cleanup_counts_its_units_and_deletions(logs: dict) -> None:
    lines, result = logs["cleanup"]
    unit_lines, _ = logs["cleanup_unit"]

    assert metrics_of(lines)["CleanupUnitsQueued"] == [float(result["units"])]
    assert any(line.get("message") == "cleanup units queued" for line in lines)
    assert metrics_of(unit_lines)["PurgedSessionsDeleted"] == [0.0]
    [worked] = [line for line in unit_lines if line.get("message") == "cleanup unit worked"]
    assert (worked["bucket"], worked["shard"], worked["finished"]) == (500000, 0, True)


def test_published_events_are_counted_and_logged_by_type(logs: dict) -> None:
    lines, result = logs["events"]

    found = metrics_of(lines)

    assert result == {"batchItemFailures": []}
    assert found["StreamRecordsRead"] == [2.0]
    assert found["EventsPublished"] == [1.0, 1.0]
    published = [line["event_type"] for line in lines if line.get("message") == "event published"]
    assert published == ["billing_portal.session.created", "billing_portal.session.visited"]
