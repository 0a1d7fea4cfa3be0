"""Managed API keys (the admin command), revocation, restricted keys, and the https rule for return URLs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import configurations_handler
import create_session_handler
import pytest
import sessions_handler

from portal_admin.__main__ import main as admin
from portal_sessions.runtime.parameter_providers import ssm_parameters
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import API_KEYS_PARAMETER, LIVE_KEY, TEST_KEY
from tests.support.table import all_items, session_items

BODY = "customer=cus_1&return_url=https://example.com"


def create_session(key: str, body: str = BODY) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/x-www-form-urlencoded"}
    event = http_event("POST", "/v1/billing_portal/sessions", headers=headers, body=body)
    return create_session_handler.lambda_handler(event, FakeContext())


def list_configurations(key: str) -> dict[str, Any]:
    event = http_event("GET", "/v1/billing_portal/configurations", headers={"authorization": f"Bearer {key}"})
    return configurations_handler.lambda_handler(event, FakeContext())


def make_key(capsys: pytest.CaptureFixture[str], table: str, *args: str) -> tuple[str, str]:
    """Run `python -m portal_admin keys create …`; returns (key id, secret) as it prints them."""
    capsys.readouterr()
    assert admin(["--table", table, "keys", "create", *args]) == 0
    first, secret = capsys.readouterr().out.splitlines()[:2]
    return first.split()[0], secret


def test_a_created_key_works_and_is_stored_only_as_a_digest(
    service_env: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a key made with the admin command
    key_id, secret = make_key(capsys, service_env["TABLE_NAME"], "--mode", "test", "--name", "billing backend")

    # When it is used
    response = create_session(secret)

    # Then it works, and the table holds no copy of it
    assert key_id.startswith("key_") and secret.startswith("sk_test_")
    assert response["statusCode"] == 200
    assert secret not in str(all_items(service_env["TABLE_NAME"]))


def test_the_operators_key_list_is_kept_at_most_a_minute(service_env: dict) -> None:
    # A key removed from the list (ApiKeyHashesParameter) must stop working within a minute: the list read for a
    # request is kept in Powertools' cache until a minute after it was read, no longer
    started = datetime.now()
    assert create_session(TEST_KEY)["statusCode"] == 200

    [cached] = [value for key, value in ssm_parameters().store.items() if API_KEYS_PARAMETER in str(key)]
    assert started + timedelta(seconds=60) <= cached.ttl <= datetime.now() + timedelta(seconds=60)


def test_listing_shows_keys_masked(service_env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    key_id, secret = make_key(capsys, service_env["TABLE_NAME"], "--mode", "live", "--name", "ops")

    assert admin(["--table", service_env["TABLE_NAME"], "keys", "list"]) == 0
    listing = capsys.readouterr().out

    assert key_id in listing and "live" in listing and "active" in listing
    assert secret not in listing and secret[-4:] in listing


def test_a_revoked_key_is_refused_at_once(service_env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a key in use
    key_id, secret = make_key(capsys, service_env["TABLE_NAME"], "--mode", "test", "--name", "leaked")
    assert create_session(secret)["statusCode"] == 200

    # When it is revoked
    assert admin(["--table", service_env["TABLE_NAME"], "keys", "revoke", key_id]) == 0

    # Then the very next request gets 401
    response = create_session(secret)
    assert response["statusCode"] == 401
    assert json_body(response)["error"]["message"].startswith("Invalid API Key provided: sk_test_")


def test_revoking_an_unknown_key_fails(service_env: dict) -> None:
    assert admin(["--table", service_env["TABLE_NAME"], "keys", "revoke", "key_nope"]) == 1


def test_a_restricted_key_may_only_create_sessions(service_env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a restricted key
    _, secret = make_key(capsys, service_env["TABLE_NAME"], "--mode", "test", "--name", "web", "--restricted")

    # When it creates a session, and when it lists configurations
    created = create_session(secret)
    listed = list_configurations(secret)

    # Then the first works and the second is Stripe's 403
    assert secret.startswith("rk_test_")
    assert created["statusCode"] == 200
    assert listed["statusCode"] == 403
    assert json_body(listed)["error"]["type"] == "invalid_request_error"
    assert secret not in listed["body"]


@pytest.mark.parametrize("expand", ["expand[]=configuration", "expand[0]=configuration&expand[1]=flow"])
def test_a_restricted_key_cannot_read_a_configuration_through_expand(
    service_env: dict, capsys: pytest.CaptureFixture[str], expand: str
) -> None:
    # Given a restricted key (403 on the configurations endpoints) and a configuration with metadata
    _, secret = make_key(capsys, service_env["TABLE_NAME"], "--mode", "test", "--name", "web", "--restricted")
    made = configurations_handler.lambda_handler(
        http_event(
            "POST",
            "/v1/billing_portal/configurations",
            headers={"authorization": f"Bearer {TEST_KEY}", "content-type": "application/x-www-form-urlencoded"},
            body="features[invoice_history][enabled]=true&metadata[secret]=internal-note",
        ),
        FakeContext(),
    )
    configuration = json_body(made)["id"]
    sessions_before = len(session_items(service_env["TABLE_NAME"]))

    # When it creates a session expanding that configuration
    response = create_session(secret, f"{BODY}&configuration={configuration}&{expand}")

    # Then Stripe's 403 for a permission the key lacks, no configuration in it, and no session made
    assert response["statusCode"] == 403, response["body"]
    assert json_body(response)["error"]["param"] == "expand"
    assert "internal-note" not in response["body"] and "invoice_history" not in response["body"]
    assert len(session_items(service_env["TABLE_NAME"])) == sessions_before
    # and without expand the key still creates the session, which names its configuration by id only
    created = json_body(create_session(secret, f"{BODY}&configuration={configuration}&expand[]=flow"))
    assert created["configuration"] == configuration


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/billing_portal/sessions/{id}?expand[]=configuration"),
        ("GET", "/v1/billing_portal/sessions?customer=cus_1&expand[]=configuration"),
        ("POST", "/v1/billing_portal/sessions/{id}/expire"),
    ],
)
def test_a_restricted_key_cannot_read_sessions_or_their_configuration(
    service_env: dict, capsys: pytest.CaptureFixture[str], method: str, path: str
) -> None:
    # Given a session, and a restricted key
    _, secret = make_key(capsys, service_env["TABLE_NAME"], "--mode", "test", "--name", "web", "--restricted")
    session = json_body(create_session(TEST_KEY))
    target, _, query = path.format(id=session["id"]).partition("?")
    headers = {"authorization": f"Bearer {secret}", "content-type": "application/x-www-form-urlencoded"}
    event = http_event(method, target, headers=headers, body="expand[]=configuration" if method == "POST" else "")
    event["rawQueryString"] = query

    # When it retrieves, lists or expires it, expanding the configuration
    response = sessions_handler.lambda_handler(event, FakeContext())

    # Then 403, showing nothing of the session or its configuration
    assert response["statusCode"] == 403
    assert session["id"] not in response["body"] and "features" not in response["body"]


def test_a_restricted_key_in_the_operator_digests_is_not_trusted_as_a_secret_key(service_env: dict) -> None:
    # Given an rk_ key nobody made with the admin command
    response = create_session("rk_test_NeverIssuedKey00000000000001")

    assert response["statusCode"] == 401


@pytest.mark.parametrize(
    ("key", "url", "status"),
    [
        (TEST_KEY, "https://example.com/account", 200),
        (TEST_KEY, "http://localhost:8080/account", 200),
        (TEST_KEY, "http://127.0.0.1/account", 200),
        (TEST_KEY, "http://example.com/account", 400),
        (LIVE_KEY, "http://localhost:8080/account", 400),
        (TEST_KEY, "data:text/html,hi", 400),
        (TEST_KEY, "javascript:alert(1)", 400),
        (TEST_KEY, "https://user:pass@example.com/", 400),
    ],
)
def test_return_urls_are_https_with_http_only_for_localhost_in_test_mode(
    service_env: dict, key: str, url: str, status: int
) -> None:
    response = create_session(key, f"customer=cus_1&return_url={url}")

    assert response["statusCode"] == status
    if status == 400:
        assert json_body(response)["error"]["code"] == "url_invalid"
