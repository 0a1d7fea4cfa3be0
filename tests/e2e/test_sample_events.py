"""Every sample event in events/ through `python -m local_gateway invoke FUNCTION -e FILE` (the local
`sam local invoke`), each in a fresh process as a cold Lambda; checked for what it returns (a new event needs a row in
EXPECTATIONS), what it writes to CloudWatch (one structured line per request, and EMF metrics) and, for a create and a
visit run under `opentelemetry-instrument` as AWS's OpenTelemetry layer runs a function, its spans (one per AWS call).

The function's stderr is its log output. The traced runs export their spans with OpenTelemetry's console exporter,
on stdout beside the result: each is a JSON document of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from local_gateway.samples import SAMPLE_LIVE_TOKEN
from portal_sessions.domain.tokens import session_id_for, url_token_hash
from tests.support.contract import schema_errors
from tests.support.local_service import ROOT, child_environment

EVENTS_DIR = ROOT / "events"
EVENT_FILES = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
INVOKE_TIMEOUT_SECONDS = 90
SAMPLE_HOST_URL = "https://id.execute-api.us-east-1.amazonaws.com"  # the host header of the sample events
INVOKE_PORTAL_URL = "https://portal.example.com/session"  # the portal URL `invoke` configures
# Invoked under OpenTelemetry's instrumentation, for the span tests; the others as `sam local invoke` runs them
TRACED_EVENTS = {"create_session_form.json", "redirect_live.json"}
TRACING = {
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_SERVICE_NAME": "portal-sessions",
}


def json_documents(text: str) -> list[Any]:
    """Each JSON document of `text`, in order; a ValueError if anything else is there."""
    decoder, documents, position = json.JSONDecoder(), [], 0
    while position < len(text := text.rstrip()):
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
        while position < len(text) and text[position].isspace():
            position += 1
    return documents


def is_span(document: Any) -> bool:
    return isinstance(document, dict) and {"context", "kind", "attributes"} <= set(document)


@dataclass(frozen=True)
class Invocation:
    returncode: int
    stdout: str
    stderr: str

    def result(self) -> Any:
        """The handler's result: stdout's one JSON document that is not a span."""
        [result] = [document for document in json_documents(self.stdout) if not is_span(document)]
        return result

    @property
    def spans(self) -> list[dict[str, Any]]:
        """Every span the run exported (a traced run's only; an untraced one has none)."""
        return [document for document in json_documents(self.stdout) if is_span(document)]

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
    command = [sys.executable, "-m", "local_gateway", "invoke", function, "-e", f"events/{event_file}"]
    traced = event_file in TRACED_EVENTS
    if traced:  # as AWS's OpenTelemetry layer wraps the runtime (AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument)
        command = [str(Path(sysconfig.get_path("scripts")) / "opentelemetry-instrument"), *command]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        env=child_environment(**(TRACING if traced else {})),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INVOKE_TIMEOUT_SECONDS,
    )
    return Invocation(completed.returncode, completed.stdout, completed.stderr)


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

    # Then the command succeeds, prints the handler's result alone as JSON (a traced run: with its spans), and the
    # result is the expected one
    try:
        result = json.loads(invocation.stdout) if event_file not in TRACED_EVENTS else invocation.result()
    except ValueError as exc:
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


# What OpenTelemetry records: the botocore instrumentation, as AWS's OpenTelemetry layer runs it


def calls_of(invocation: Invocation, function: str) -> list[dict[str, Any]]:
    """The spans of the function's own AWS calls: the children of its invocation's span (the runner's setup calls,
    moto's tables and secrets, are outside it)."""
    [invoked] = [span for span in invocation.spans if span["name"] == function and span["parent_id"] is None]
    assert invoked["kind"] == "SpanKind.SERVER"
    children = [span for span in invocation.spans if span["parent_id"] == invoked["context"]["span_id"]]
    assert {span["context"]["trace_id"] for span in children} == {invoked["context"]["trace_id"]}
    return children


def dynamodb_calls(spans: list[dict[str, Any]]) -> list[tuple[str, list[str] | None]]:
    """(operation, tables) of each DynamoDB call; the instrumentation names the table of a single-table call."""
    calls = []
    for span in spans:
        attributes = span["attributes"]
        if attributes.get("rpc.service") == "DynamoDB":
            assert span["name"] == f"DynamoDB.{attributes['rpc.method']}" == f"DynamoDB.{attributes['db.operation']}"
            calls.append((attributes["rpc.method"], attributes.get("aws.dynamodb.table_names")))
    return calls


TABLE = ["portal-sessions-local"]  # the table `invoke` makes


def test_a_create_has_a_span_per_dynamodb_call_with_its_operation_and_table(invocations: Invocations) -> None:
    created = invocations.succeeded("create_session_form.json")

    calls = dynamodb_calls(calls_of(created, "CreateSessionFunction"))

    assert created.result()["statusCode"] == 200
    assert ("PutItem", TABLE) in calls  # the idempotency record of the sample's Idempotency-Key
    assert ("TransactWriteItems", None) in calls  # the session, stored with its configuration check
    # every single-table call names the table; a transaction (which may span tables) is named by its operation
    assert all(tables == TABLE for operation, tables in calls if not operation.startswith("Transact")), calls


def test_a_visit_has_a_span_for_its_one_conditional_update(invocations: Invocations) -> None:
    visit = invocations.succeeded("redirect_live.json")

    calls = dynamodb_calls(calls_of(visit, "RedirectFunction"))

    assert visit.result()["statusCode"] == 302
    assert calls == [("UpdateItem", TABLE)]


def test_spans_hold_no_key_url_token_hand_off_or_response_body(invocations: Invocations) -> None:
    created = invocations.succeeded("create_session_form.json")
    visit = invocations.succeeded("redirect_live.json")
    event = json.loads((EVENTS_DIR / "create_session_form.json").read_text())
    api_key = event["headers"]["authorization"].removeprefix("Bearer ")
    created_body = created.result()["body"]
    url_token = json.loads(created_body)["url"].rsplit("/", 1)[1]
    location = _header(visit.result(), "Location") or ""
    handoff = parse_qs(urlsplit(location).query)["handoff"][0]

    recorded = json.dumps(created.spans + visit.spans)

    assert len(created.spans) >= 3 and len(visit.spans) >= 2
    for secret in (api_key, url_token, visited_token(), handoff, location, created_body):
        assert secret not in recorded
