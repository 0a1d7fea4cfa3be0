"""The redirect that carries a hand-off stays within 8 KB (the request line servers and proxies commonly accept), at
the largest inputs the API accepts: ids of 255 characters, return URLs of 2,048, a portal URL of 512, the longest
key id; a session whose hand-off could be longer is refused when it is created."""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import create_session_handler
import pytest
import redirect_handler

from portal_sessions.runtime import clock
from portal_sessions.runtime.settings import clear_settings_cache
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import CLOCK_START, LIVE_KEY, TEST_KEY
from tests.support.table import session_count

T0 = CLOCK_START
MAX_LOCATION = 8192
MAX_ID, MAX_URL, MAX_PORTAL_URL = 255, 2048, 512
LONGEST_KID = "k" * 64


def long_id(prefix: str, character: str = "x") -> str:
    return prefix + character * (MAX_ID - len(prefix))


def long_url(character: str = "a") -> str:
    base = "https://example.com/"
    return base + character * (MAX_URL - len(base))


def portal_url(path: str) -> str:
    base = f"https://portal.example.com/{path}?tenant=acme&x="
    return base + "p" * (MAX_PORTAL_URL - len(base))


@pytest.fixture
def largest_setup(service_env: dict, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Portal URLs of the longest allowed length (with a query) and keyrings signing under the longest key id."""
    for name, path in (("PORTAL_URL", "s"), ("PORTAL_LOGIN_URL", "l"), ("TEST_PORTAL_URL", "ts"),
                       ("TEST_PORTAL_LOGIN_URL", "tl")):  # fmt: skip
        monkeypatch.setenv(name, portal_url(path))
    for secret in ("HANDOFF_SECRET_ID", "TEST_HANDOFF_SECRET_ID"):
        keyring = {"signing_kid": LONGEST_KID, LONGEST_KID: "s" * 64}
        aws_client("secretsmanager").put_secret_value(SecretId=service_env[secret], SecretString=json.dumps(keyring))
    clear_settings_cache()
    current = [T0]
    monkeypatch.setattr(clock, "now", lambda: current[0])
    return current


def configuration_with_updates(key: str) -> str:
    """A configuration that allows the subscription_update_confirm flow (the default one does not)."""
    import configurations_handler

    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {key}"}
    body = "features[subscription_update][enabled]=true&features[subscription_update][default_allowed_updates][]=price"
    event = http_event("POST", "/v1/billing_portal/configurations", headers=headers, body=body)
    response = configurations_handler.lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200, response["body"]
    configuration_id: str = json_body(response)["id"]
    return configuration_id


def create(params: dict[str, str], key: str = TEST_KEY) -> dict[str, Any]:
    if "flow_data[type]" in params and "configuration" not in params:
        params = params | {"configuration": configuration_with_updates(key)}
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {key}"}
    event = http_event("POST", "/v1/billing_portal/sessions", headers=headers, body=urlencode(params))
    response: dict[str, Any] = create_session_handler.lambda_handler(event, FakeContext())
    return response


def visit(url: str) -> dict[str, Any]:
    response: dict[str, Any] = redirect_handler.lambda_handler(http_event("GET", urlsplit(url).path), FakeContext())
    return response


def confirm_flow(character: str, redirect_url: str | None) -> dict[str, str]:
    flow = {
        "flow_data[type]": "subscription_update_confirm",
        "flow_data[subscription_update_confirm][subscription]": long_id("sub_", character),
        "flow_data[subscription_update_confirm][items][0][id]": long_id("si_", character),
        "flow_data[subscription_update_confirm][items][0][price]": long_id("price_", character),
        "flow_data[subscription_update_confirm][items][0][quantity]": "999999999999999",
        "flow_data[subscription_update_confirm][discounts][0][coupon]": long_id("co_", character),
        "flow_data[subscription_update_confirm][discounts][0][promotion_code]": long_id("promo_", character),
    }
    if redirect_url is not None:
        flow["flow_data[after_completion][type]"] = "redirect"
        flow["flow_data[after_completion][redirect][return_url]"] = redirect_url
    return flow


def candidates() -> list[dict[str, str]]:
    """Combinations of the largest values: every field near its cap, alone and together, ASCII and not."""
    found = []
    for character, with_account, with_flow, flow_redirect, with_owner in itertools.product(
        ["x", "é", "😀"], [False, True], [False, True], [False, True], [False, True]
    ):
        if flow_redirect and not with_flow:
            continue  # the same request as without the redirect
        params = {
            "customer": long_id("cus_", character),
            "return_url": long_url("a" if character == "x" else character),
            "locale": "zh-HK",
        }
        if with_account:
            params["customer_account"] = long_id("acct_", character)
        if with_owner:
            params["on_behalf_of"] = long_id("acct_", character)
        if with_flow:
            params |= confirm_flow(character, long_url() if flow_redirect else None)
        found.append(params)
    return found


def test_every_accepted_session_redirects_within_8_kb_and_the_rest_are_refused_cleanly(
    largest_setup: list[int], service_env: dict
) -> None:
    accepted = refused = 0
    configurations = {key: configuration_with_updates(key) for key in (TEST_KEY, LIVE_KEY)}
    for params in candidates():
        for key in (TEST_KEY, LIVE_KEY):
            before = session_count(service_env["TABLE_NAME"])
            with_configuration = {"configuration": configurations[key]} if "flow_data[type]" in params else {}
            response = create(params | with_configuration, key)
            if response["statusCode"] == 400:  # too large for a hand-off: said so, nothing written
                error = json_body(response)["error"]
                assert (error["type"], error.get("code")) == ("invalid_request_error", "parameter_invalid"), error
                assert "hand-off" in error["message"]
                assert session_count(service_env["TABLE_NAME"]) == before
                refused += 1
                continue
            assert response["statusCode"] == 200, response["body"]
            redirect = visit(json_body(response)["url"])
            assert redirect["statusCode"] == 302
            assert len(redirect["headers"]["Location"]) <= MAX_LOCATION
            accepted += 1
    assert accepted and refused  # both sides of the bound were reached


def test_two_return_urls_of_2048_characters_fit(largest_setup: list[int]) -> None:
    # Given the longest return URLs, with Stripe-sized ids
    params = {"customer": "cus_NffrFeUfNV2Hib", "return_url": long_url(), **confirm_flow("x", long_url())}
    for field in list(params):
        if field.startswith("flow_data[subscription_update_confirm]") and not field.endswith("quantity"):
            params[field] = params[field][:30]

    # Then the session is created, and both its hand-off and its recovery hand-off fit in 8 KB
    recoverable = create(params | {"after_expiration[type]": "customer_login"})
    assert recoverable["statusCode"] == 200, recoverable["body"]
    url = json_body(recoverable)["url"]
    assert len(visit(url)["headers"]["Location"]) <= MAX_LOCATION
    largest_setup[0] = T0 + 3600 + 600  # lapsed, still recoverable
    recovery = visit(url)["headers"]["Location"]
    assert "recovery=" in recovery and len(recovery) <= MAX_LOCATION
