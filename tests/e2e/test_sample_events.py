"""Every sample event in events/ through `python -m local_gateway invoke FUNCTION -e FILE` (the local
`sam local invoke`), checked against what it is meant to show. A new event needs a row in EXPECTATIONS."""

from __future__ import annotations

import json
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


@dataclass(frozen=True)
class Invocation:
    returncode: int
    stdout: str
    stderr: str


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
}


def _invoke(function: str, event_file: str) -> Invocation:
    completed = subprocess.run(
        [sys.executable, "-m", "local_gateway", "invoke", function, "-e", f"events/{event_file}"],
        cwd=ROOT,
        env=child_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INVOKE_TIMEOUT_SECONDS,
    )
    return Invocation(completed.returncode, completed.stdout, completed.stderr)


@pytest.fixture(scope="module")
def invocations(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[Invocation]]]:
    """The selected events' invokes started at once (each a process with its own moto), awaited by each test."""
    selected = {
        item.callspec.params["event_file"]
        for item in request.session.items
        if isinstance(item, pytest.Function) and hasattr(item, "callspec") and "event_file" in item.callspec.params
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        yield {
            name: pool.submit(_invoke, expectation.function, name)
            for name, expectation in EXPECTATIONS.items()
            if name in selected
        }


def test_every_sample_event_has_an_expectation() -> None:
    # Given the sample events in events/
    # When they are compared with the expectations of this module
    missing = sorted(set(EVENT_FILES) - set(EXPECTATIONS))
    stale = sorted(set(EXPECTATIONS) - set(EVENT_FILES))

    # Then each event has one, and each expectation still has its event
    assert missing == [], f"events without an expectation: add them to EXPECTATIONS in {__name__}"
    assert stale == [], "expectations whose event file is gone"


@pytest.mark.parametrize("event_file", EVENT_FILES)
def test_sample_event_invokes_as_expected(invocations: dict[str, Future[Invocation]], event_file: str) -> None:
    # Given a sample event and what it should show
    expectation = EXPECTATIONS.get(event_file)
    if expectation is None:
        pytest.fail(f"events/{event_file} has no expectation: add it to EXPECTATIONS in {__name__}")

    # When it is invoked the way `sam local invoke` would be
    invocation = invocations[event_file].result(timeout=INVOKE_TIMEOUT_SECONDS)

    # Then the command succeeds, prints the handler's result alone as JSON, and the result is the expected one
    assert invocation.returncode == 0, invocation.stderr[-4000:]
    try:
        result = json.loads(invocation.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(f"stdout is not pure JSON ({exc}):\n{invocation.stdout[:4000]}")
    expectation.check(result)
