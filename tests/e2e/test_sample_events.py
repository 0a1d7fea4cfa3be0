"""Every sample event in events/ through `python -m local_gateway invoke FUNCTION -e FILE` (the local
`sam local invoke`), each in a fresh process as a cold Lambda; checked for what it returns (a new event needs a row in
EXPECTATIONS), what it writes to CloudWatch (one structured line per request, and EMF metrics) and, for a create and a
visit run with active tracing as in Lambda, what it sends X-Ray (a subsegment for the handler and one per AWS call).

The function's stderr is its log output. The X-Ray daemon's address points at a UDP socket of this test, which so
receives exactly what the X-Ray SDK would send the daemon."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from local_gateway.samples import SAMPLE_LIVE_TOKEN
from portal_sessions.tokens import session_id_for, url_token_hash
from tests.support.contract import schema_errors
from tests.support.local_service import ROOT, child_environment

EVENTS_DIR = ROOT / "events"
EVENT_FILES = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
INVOKE_TIMEOUT_SECONDS = 90
SAMPLE_HOST_URL = "https://id.execute-api.us-east-1.amazonaws.com"  # the host header of the sample events
INVOKE_PORTAL_URL = "https://portal.example.com/session"  # the portal URL `invoke` configures
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
# Invoked as in Lambda with active tracing, for the trace tests; the others as `sam local invoke` runs them, untraced
TRACED_EVENTS = {"create_session_form.json", "redirect_live.json"}


@dataclass(frozen=True)
class Invocation:
    returncode: int
    stdout: str
    stderr: str
    segments: list[dict[str, Any]]  # every (sub)segment the function sent the X-Ray daemon

    def result(self) -> Any:
        return json.loads(self.stdout)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]


@dataclass(frozen=True)
class Expectation:
    function: str
    check: Callable[[dict[str, Any]], None]


def _header(result: dict[str, Any], name: str) -> str | None:
    return next((value for key, value in (result.get("headers") or {}).items() if key.lower() == name.lower()), None)


def _json_response(result: dict[str, Any], status: int) -> Any:
    assert result["statusCode"] == status, result
    assert (_header(result, "Request-Id") or "").startswith("req_"), result.get("headers")
    assert _header(result, "Content-Type") == "application/json"
    assert not result.get("isBase64Encoded")
    return json.loads(result["body"])


def _session(result: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = _json_response(result, 200)
    assert body["object"] == "billing_portal.session"
    assert body["id"].startswith("bps_")
    assert body["customer"] == "cus_NffrFeUfNV2Hib"
    assert body["return_url"] == "https://example.com/account"
    assert body["livemode"] is False
    assert body["url"].startswith(SAMPLE_HOST_URL + "/p/session/"), body["url"]
    assert schema_errors("billing_portal.session", body) == []
    return body


def check_create_form(result: dict[str, Any]) -> None:
    body = _session(result)
    assert body["locale"] == "en"
    assert body["configuration"] == "bpc_DefaultTestConfiguration"
    assert body["flow"] is None


def check_create_json(result: dict[str, Any]) -> None:
    body = _session(result)
    assert isinstance(body["configuration"], dict), body["configuration"]
    assert body["configuration"]["object"] == "billing_portal.configuration"
    assert body["configuration"]["id"].startswith("bpc_")


def check_create_flow_data(result: dict[str, Any]) -> None:
    body = _session(result)
    flow = body["flow"]
    assert flow["type"] == "subscription_cancel"
    assert flow["subscription_cancel"]["subscription"] == "sub_1MowQVLkdIwHu7ixeRlqHVzs"
    assert flow["after_completion"]["type"] == "redirect"
    assert flow["after_completion"]["redirect"] == {"return_url": "https://example.com/cancelled"}


def check_bad_parameter(result: dict[str, Any]) -> None:
    body = _json_response(result, 400)
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "parameter_unknown"
    assert body["error"]["param"] == "colour"
    assert schema_errors("error", body) == []


def check_redirect_live(result: dict[str, Any]) -> None:
    assert result["statusCode"] == 302, result
    assert (_header(result, "Request-Id") or "").startswith("req_")
    assert _header(result, "Cache-Control") == "no-store"
    location = urlsplit(_header(result, "Location") or "")
    assert f"{location.scheme}://{location.netloc}{location.path}" == INVOKE_PORTAL_URL, location.geturl()
    handoff = parse_qs(location.query)["handoff"][0]
    claims = jwt.decode(handoff, options={"verify_signature": False})  # the portal holds the key; read only
    assert claims["sid"] == session_id_for(url_token_hash(SAMPLE_LIVE_TOKEN))
    assert claims["customer"] == "cus_SampleCustomer"
    assert SAMPLE_LIVE_TOKEN not in location.geturl()


def check_redirect_unknown(result: dict[str, Any]) -> None:
    assert result["statusCode"] == 404, result
    assert (_header(result, "Request-Id") or "").startswith("req_")
    assert (_header(result, "Content-Type") or "").startswith("text/html")
    assert _header(result, "Cache-Control") == "no-store"
    assert _header(result, "Referrer-Policy") == "no-referrer"
    assert _header(result, "Location") is None
    assert "<html" in result["body"]


def check_cleanup(result: dict[str, Any]) -> None:
    # The schedule queues one unit per (purge hour, shard) from its look-back (2 hours) to now, 32 shards each
    assert set(result) == {"units", "watermark"}, result
    assert result["units"] == 3 * 32, result


def check_cleanup_unit(result: dict[str, Any]) -> None:
    # A unit of a long-past hour, empty here: worked, and none of the batch failed
    assert result == {"batchItemFailures": []}, result


def check_session_events(result: dict[str, Any]) -> None:
    # Both records (a session created, then visited) became events on the bus: a record that could not be published
    # would be listed here, and a batch whose every record failed would have failed the invoke
    assert result == {"batchItemFailures": []}, result


def check_webhook_queue(result: dict[str, Any]) -> None:
    # The queued event was dispatched (fanned out to no endpoint, published): a message that failed would be listed
    assert result == {"batchItemFailures": []}, result


EXPECTATIONS: dict[str, Expectation] = {
    "create_session_form.json": Expectation("CreateSessionFunction", check_create_form),
    "create_session_json.json": Expectation("CreateSessionFunction", check_create_json),
    "create_session_flow_data.json": Expectation("CreateSessionFunction", check_create_flow_data),
    "create_session_bad_parameter.json": Expectation("CreateSessionFunction", check_bad_parameter),
    "redirect_live.json": Expectation("RedirectFunction", check_redirect_live),
    "redirect_unknown_token.json": Expectation("RedirectFunction", check_redirect_unknown),
    "cleanup_scheduled.json": Expectation("CleanupFunction", check_cleanup),
    "cleanup_unit.json": Expectation("CleanupWorkerFunction", check_cleanup_unit),
    "session_events_stream.json": Expectation("SessionEventsFunction", check_session_events),
    "webhook_queue_event.json": Expectation("WebhookDeliveriesFunction", check_webhook_queue),
}


def _invoke(function: str, event_file: str) -> Invocation:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        tracing = {
            "LAMBDA_TASK_ROOT": str(ROOT / "functions"),  # in Lambda, where Powertools' Tracer traces
            "POWERTOOLS_TRACE_DISABLED": "false",
            "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        }
        environment = child_environment(**(tracing if event_file in TRACED_EVENTS else {}))
        completed = subprocess.run(
            [sys.executable, "-m", "local_gateway", "invoke", function, "-e", f"events/{event_file}"],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INVOKE_TIMEOUT_SECONDS,
        )
        daemon.setblocking(False)
        datagrams = []
        while True:  # the SDK sent each before the process exited, and loopback queues a datagram as it is sent
            try:
                datagrams.append(daemon.recv(65536).decode())
            except BlockingIOError:
                break
    segments = []
    for datagram in datagrams:
        header, body = datagram.split("\n", 1)
        assert json.loads(header) == {"format": "json", "version": 1}
        segments.append(json.loads(body))
    return Invocation(completed.returncode, completed.stdout, completed.stderr, segments)


class Invocations:
    """Each sample event's invoke, started once, when first asked for (each a process with its own moto)."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._started: dict[str, Future[Invocation]] = {}

    def start(self, event_file: str) -> None:
        if event_file not in self._started:
            self._started[event_file] = self._pool.submit(_invoke, EXPECTATIONS[event_file].function, event_file)

    def __getitem__(self, event_file: str) -> Invocation:
        self.start(event_file)
        return self._started[event_file].result(timeout=INVOKE_TIMEOUT_SECONDS)

    def succeeded(self, event_file: str) -> Invocation:
        invocation = self[event_file]
        assert invocation.returncode == 0, invocation.stderr[-4000:]
        return invocation


@pytest.fixture(scope="module")
def invocations(request: pytest.FixtureRequest) -> Iterator[Invocations]:
    """The selected events' invokes started at once, four at a time, and any other a test asks for."""
    selected = [
        item.callspec.params["event_file"]
        for item in request.session.items
        if isinstance(item, pytest.Function) and hasattr(item, "callspec") and "event_file" in item.callspec.params
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = Invocations(pool)
        for event_file in selected:
            if event_file in EXPECTATIONS:
                started.start(event_file)
        yield started


def test_every_sample_event_has_an_expectation() -> None:
    # Given the sample events in events/
    # When they are compared with the expectations of this module
    missing = sorted(set(EVENT_FILES) - set(EXPECTATIONS))
    stale = sorted(set(EXPECTATIONS) - set(EVENT_FILES))

    # Then each event has one, and each expectation still has its event
    assert missing == [], f"events without an expectation: add them to EXPECTATIONS in {__name__}"
    assert stale == [], "expectations whose event file is gone"


@pytest.mark.parametrize("event_file", EVENT_FILES)
def test_sample_event_invokes_as_expected(invocations: Invocations, event_file: str) -> None:
    # Given a sample event and what it should show
    expectation = EXPECTATIONS.get(event_file)
    if expectation is None:
        pytest.fail(f"events/{event_file} has no expectation: add it to EXPECTATIONS in {__name__}")

    # When it is invoked the way `sam local invoke` would be
    invocation = invocations.succeeded(event_file)

    # Then the command succeeds, prints the handler's result alone as JSON, and the result is the expected one
    try:
        result = json.loads(invocation.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(f"stdout is not pure JSON ({exc}):\n{invocation.stdout[:4000]}")
    expectation.check(result)


# What CloudWatch gets: the request lines and EMF metrics the invokes wrote


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


def visited_token() -> str:
    token: str = json.loads((EVENTS_DIR / "redirect_live.json").read_text())["pathParameters"]["token"]
    return token


def request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") == "request"]


def test_one_structured_line_per_request_with_the_lambda_context_and_correlation_id(invocations: Invocations) -> None:
    # Given a created session
    created = invocations.succeeded("create_session_form.json")
    result = created.result()
    session = json.loads(result["body"])

    # Then exactly one request line describes it, with the context Powertools adds
    [line] = request_lines(created.log_lines())
    assert line["route"] == "POST /v1/billing_portal/sessions"
    assert line["status"] == 200
    assert line["session_id"] == session["id"]
    assert line["function_name"] == "CreateSessionFunction" and line["cold_start"] is True
    assert line["correlation_id"] == "id"  # the API Gateway request id of the sample event
    assert line["stripe_request_id"] == result["headers"]["Request-Id"]
    assert isinstance(line["duration_ms"], float)


def test_metrics_for_created_sessions_and_cold_starts(invocations: Invocations) -> None:
    found = metrics_of(invocations.succeeded("create_session_form.json").log_lines())

    assert found["SessionsCreated"] == [1.0]
    assert found["ColdStart"] == [1.0]


def test_rejections_are_counted_by_reason(invocations: Invocations) -> None:
    lines = invocations.succeeded("create_session_bad_parameter.json").log_lines()

    found = metrics_of(lines)

    assert found["RequestsRejected"] == [1.0]
    assert found["dimension:reason"] == "parameter_unknown"
    [line] = request_lines(lines)
    assert (line["status"], line["error_code"], line["error_param"]) == (400, "parameter_unknown", "colour")


def test_visits_are_counted_and_logged_by_route_not_path(invocations: Invocations) -> None:
    visit = invocations.succeeded("redirect_live.json")
    lines = visit.log_lines()

    found = metrics_of(lines)

    assert visit.result()["statusCode"] == 302
    assert found["SessionsVisited"] == [1.0]
    [line] = request_lines(lines)
    assert line["route"] == "GET /p/session/{token}" and line["first_visit"] is True
    assert visited_token() not in json.dumps(lines)


def test_cleanup_counts_its_units_and_deletions(invocations: Invocations) -> None:
    cleanup = invocations.succeeded("cleanup_scheduled.json")
    lines, unit_lines = cleanup.log_lines(), invocations.succeeded("cleanup_unit.json").log_lines()

    assert metrics_of(lines)["CleanupUnitsQueued"] == [float(cleanup.result()["units"])]
    assert any(line.get("message") == "cleanup units queued" for line in lines)
    assert metrics_of(unit_lines)["PurgedSessionsDeleted"] == [0.0]
    [worked] = [line for line in unit_lines if line.get("message") == "cleanup unit worked"]
    assert (worked["bucket"], worked["shard"], worked["finished"]) == (500000, 0, True)


def test_a_queued_event_is_dispatched_and_published(invocations: Invocations) -> None:
    lines = invocations.succeeded("webhook_queue_event.json").log_lines()

    (dispatched,) = [line for line in lines if line.get("message") == "event dispatched"]
    assert (dispatched["event_id"], dispatched["publishing"], dispatched["webhooks"]) == (
        "evt_SampleQueuedEvent000000001", "published", 0
    )  # fmt: skip
    assert metrics_of(lines)["EventsPublished"] == [1.0]


def test_stored_events_are_counted_and_logged_by_type(invocations: Invocations) -> None:
    stream = invocations.succeeded("session_events_stream.json")
    lines = stream.log_lines()

    found = metrics_of(lines)

    assert stream.result() == {"batchItemFailures": []}
    assert found["StreamRecordsRead"] == [2.0]
    assert found["EventsStored"] == [1.0, 1.0]
    stored = [line["event_type"] for line in lines if line.get("message") == "event stored"]
    assert stored == ["billing_portal.session.created", "billing_portal.session.visited"]


# What X-Ray gets: Powertools' Tracer as a deployed function runs it


def aws_calls(segments: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(segment["name"], segment["aws"]["operation"]) for segment in segments if "aws" in segment]


def test_the_handler_has_its_own_subsegment_with_the_cold_start(invocations: Invocations) -> None:
    segments = invocations.succeeded("create_session_form.json").segments

    [handler] = [segment for segment in segments if segment["name"] == "## lambda_handler"]

    assert handler["trace_id"] == TRACE_ROOT
    assert handler["annotations"] == {"ColdStart": True, "Service": "portal-sessions"}
    assert "metadata" not in handler  # no response recorded: it holds the session URL


def test_each_dynamodb_call_is_a_subsegment_of_the_trace(invocations: Invocations) -> None:
    created = invocations.succeeded("create_session_form.json")

    calls = aws_calls(created.segments)

    assert created.result()["statusCode"] == 200
    assert ("dynamodb", "TransactWriteItems") in calls  # the session, stored with its configuration check
    assert ("dynamodb", "PutItem") in calls  # the idempotency record of the sample's Idempotency-Key
    assert {segment["trace_id"] for segment in created.segments} == {TRACE_ROOT}
    tables = {segment["aws"]["table_name"] for segment in created.segments if "table_name" in segment.get("aws", {})}
    assert tables == {"portal-sessions-local"}  # single-item calls name their table (transactions span tables)


def test_traces_hold_neither_the_api_key_nor_the_session_url(invocations: Invocations) -> None:
    created = invocations.succeeded("create_session_form.json")
    event = json.loads((EVENTS_DIR / "create_session_form.json").read_text())
    api_key = event["headers"]["authorization"].removeprefix("Bearer ")
    url_token = json.loads(created.result()["body"])["url"].rsplit("/", 1)[1]

    sent = json.dumps(created.segments)

    assert len(created.segments) >= 3
    assert api_key not in sent
    assert url_token not in sent


def test_a_visit_is_traced_without_its_token(invocations: Invocations) -> None:
    visit = invocations.succeeded("redirect_live.json")

    calls = aws_calls(visit.segments)

    assert visit.result()["statusCode"] == 302
    assert ("dynamodb", "UpdateItem") in calls  # the visit: one conditional update
    assert any(segment["name"] == "## lambda_handler" for segment in visit.segments)
    assert visited_token() not in json.dumps(visit.segments)
