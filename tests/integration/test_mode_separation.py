"""Test and live hand-offs never cross: each mode signs with its own keyring, for its own audience and portal."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import create_session_handler
import jwt
import pytest
import redirect_handler

from portal_sessions.runtime import clock
from portal_sessions.runtime.settings import clear_settings_cache
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import LIVE_KEY, PORTAL_LOGIN_URL, PORTAL_URL, TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
HANDOFF_DOC = ROOT / "docs" / "handoff.md"
TEST_PORTAL_URL = "https://test-portal.example.com/session"
TEST_PORTAL_LOGIN_URL = "https://test-portal.example.com/login"


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    current = [int(time.time())]  # the present, as the test starts: the documented snippet checks times without leeway
    monkeypatch.setattr(clock, "now", lambda: current[0])
    return current


def secret_string_of(secret_id: str) -> str:
    text: str = aws_client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return text


def documented_portal_code() -> str:
    """The code docs/handoff.md gives a portal to verify a hand-off: the Python block of its "The keyring" section,
    behind as many empty lines as precede it, so a traceback names the document's own line."""
    text = HANDOFF_DOC.read_text(encoding="utf-8")
    start = text.index("\n## The keyring\n")
    section = text[start : text.find("\n## ", start + 1)]
    [block] = re.finditer(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return "\n" * text.count("\n", 0, start + block.start(1)) + block.group(1)


def portal_verifies(handoff: str, secret_string: str, audience: str) -> dict[str, Any]:
    """Runs docs/handoff.md's snippet itself, as a portal of `audience` holding `secret_string` would; its claims.
    The snippet is a live portal's, whose comment tells other portals to put their own audience in its place."""
    code = documented_portal_code()
    live_audience = 'audience="billing_portal",'
    assert code.count(live_audience) == 1, "the documented snippet no longer names the live portal's audience"
    namespace: dict[str, Any] = {
        "secret_string": secret_string,
        "request": SimpleNamespace(args={"handoff": handoff}),
    }
    exec(compile(code.replace(live_audience, f"audience={audience!r},"), str(HANDOFF_DOC), "exec"), namespace)
    claims: dict[str, Any] = namespace["claims"]
    return claims


def test_the_documented_snippet_is_what_runs() -> None:
    # The snippet is found, and it is the whole check a portal makes (no hand copy of it in this module)
    code = documented_portal_code()
    assert "jwt.decode(" in code and "if kid not in keys:" in code and "signing_kid" in code


def handoff_of(api_key: str, params: dict[str, str], parameter: str = "handoff") -> tuple[str, str]:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {api_key}"}
    event = http_event("POST", "/v1/billing_portal/sessions", headers=headers, body=urlencode(params))
    created = create_session_handler.lambda_handler(event, FakeContext())
    assert created["statusCode"] == 200, created["body"]
    path = urlsplit(json_body(created)["url"]).path
    return handoff_from(redirect_handler.lambda_handler(http_event("GET", path), FakeContext()), parameter)


def handoff_from(visit: dict[str, Any], parameter: str) -> tuple[str, str]:
    assert visit["statusCode"] == 302, visit["body"]
    location = visit["headers"]["Location"]
    return location, parse_qs(urlsplit(location).query)[parameter][0]


LIVE_CUSTOMER = {"customer": "cus_LiveCustomer000001", "return_url": "https://example.com/account"}


def test_a_test_hand_off_fails_live_verification_and_vice_versa(service_env: dict, now: list[int]) -> None:
    live_keys = secret_string_of(service_env["HANDOFF_SECRET_ID"])
    test_keys = secret_string_of(service_env["TEST_HANDOFF_SECRET_ID"])

    # Given a test key's session for a (live-looking) customer, and a live key's
    _, test_handoff = handoff_of(TEST_KEY, LIVE_CUSTOMER)
    _, live_handoff = handoff_of(LIVE_KEY, LIVE_CUSTOMER)

    # Then each verifies at its own mode's portal, as docs/handoff.md tells a portal to verify
    assert portal_verifies(live_handoff, live_keys, "billing_portal")["livemode"] is True
    assert portal_verifies(test_handoff, test_keys, "billing_portal_test")["livemode"] is False

    # And never at the other mode's
    with pytest.raises(jwt.InvalidTokenError):
        portal_verifies(test_handoff, live_keys, "billing_portal")
    with pytest.raises(jwt.InvalidTokenError):
        portal_verifies(live_handoff, test_keys, "billing_portal_test")
    # Not even a portal that holds both keyrings, but checks its own audience
    both = json.dumps(json.loads(live_keys) | json.loads(test_keys))
    with pytest.raises(jwt.InvalidAudienceError):
        portal_verifies(test_handoff, both, "billing_portal")
    with pytest.raises(jwt.InvalidAudienceError):
        portal_verifies(live_handoff, both, "billing_portal_test")


def test_test_mode_goes_to_its_own_portal_when_one_is_set(
    service_env: dict, now: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a separate test-mode portal and login page
    monkeypatch.setenv("TEST_PORTAL_URL", TEST_PORTAL_URL)
    monkeypatch.setenv("TEST_PORTAL_LOGIN_URL", TEST_PORTAL_LOGIN_URL)
    clear_settings_cache()

    # Then test sessions go there, live ones to the live portal
    test_location, _ = handoff_of(TEST_KEY, LIVE_CUSTOMER)
    live_location, _ = handoff_of(LIVE_KEY, LIVE_CUSTOMER)
    assert test_location.startswith(TEST_PORTAL_URL + "?handoff=")
    assert live_location.startswith(PORTAL_URL + "?handoff=")

    # And a test session's recovery goes to the test login page, for the test login audience only
    recoverable = {**LIVE_CUSTOMER, "after_expiration[type]": "customer_login"}
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
    event = http_event("POST", "/v1/billing_portal/sessions", headers=headers, body=urlencode(recoverable))
    start = now[0]
    now[0] = start - 600  # created ten minutes ago, its link lapsed: opened now, it is recovered
    path = urlsplit(json_body(create_session_handler.lambda_handler(event, FakeContext()))["url"]).path
    now[0] = start
    location, recovery = handoff_from(
        redirect_handler.lambda_handler(http_event("GET", path), FakeContext()), "recovery"
    )
    assert location.startswith(TEST_PORTAL_LOGIN_URL + "?recovery=")
    test_keys = secret_string_of(service_env["TEST_HANDOFF_SECRET_ID"])
    assert portal_verifies(recovery, test_keys, "billing_portal_login_test")["livemode"] is False
    with pytest.raises(jwt.InvalidTokenError):
        portal_verifies(recovery, secret_string_of(service_env["HANDOFF_SECRET_ID"]), "billing_portal_login")


def test_test_mode_shares_the_live_portal_urls_when_none_is_set(service_env: dict, now: list[int]) -> None:
    location, _ = handoff_of(TEST_KEY, LIVE_CUSTOMER)

    assert location.startswith(PORTAL_URL + "?handoff=")  # recovery: tests/integration/test_versions_and_recovery.py


def test_configurations_show_their_own_modes_login_page(service_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import configurations_handler

    monkeypatch.setenv("TEST_PORTAL_LOGIN_URL", TEST_PORTAL_LOGIN_URL)
    clear_settings_cache()
    shown = {}
    for mode, key in (("test", TEST_KEY), ("live", LIVE_KEY)):
        headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {key}"}
        body = urlencode({"features[invoice_history][enabled]": "true", "login_page[enabled]": "true"})
        event = http_event("POST", "/v1/billing_portal/configurations", headers=headers, body=body)
        response = configurations_handler.lambda_handler(event, FakeContext())
        assert response["statusCode"] == 200, response["body"]
        shown[mode] = json_body(response)["login_page"]["url"]

    assert shown["test"].startswith(TEST_PORTAL_LOGIN_URL + "?")
    assert shown["live"].startswith(PORTAL_LOGIN_URL + "?")
