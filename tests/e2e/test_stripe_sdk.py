"""The service as its users meet it: Stripe's own Python SDK against `python -m local_gateway run`, then a
browser's walk through the session URL (plain HTTP without following redirects) to the demo portal."""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe

from portal_sessions.domain.tokens import session_id_for
from portal_sessions.store.sessions import NewSession, SessionStore
from tests.support.contract import schema_errors
from tests.support.factories import a_session
from tests.support.local_service import E2E_API_KEY, LocalService
from tests.support.sdk import portal_page_fields, raw_json, session_key, url_token

REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{14}$")
SESSION_ID = re.compile(r"^bps_[A-Za-z0-9]{43}$")  # the URL token's hash in base62 (docs/architecture.md)
RETURN_URL = "https://example.com/account"
CREATE_PATH = "/v1/billing_portal/sessions"


def create(client: stripe.StripeClient, **params: Any) -> stripe.billing_portal.Session:
    return client.v1.billing_portal.sessions.create(params={"customer": "cus_E2eCustomer", **params})


def assert_request_id(headers: Any) -> str:
    request_id = headers.get("Request-Id")
    assert request_id is not None and REQUEST_ID.match(request_id), f"Request-Id header: {request_id!r}"
    return request_id


def stored_item(service: LocalService, token: str) -> dict[str, Any] | None:
    """The session's item, read the way the service keys it: `token#` + SHA-256 of the URL token."""
    response = service.dynamodb().get_item(TableName=service.table_name, Key=session_key(token), ConsistentRead=True)
    return response.get("Item")


def insert_session(service: LocalService, token: str, **fields: Any) -> None:
    """Write a session straight into the service's table, in the store's own item format."""
    now, digest = int(time.time()), hashlib.sha256(token.encode("ascii")).hexdigest()
    session = a_session(
        **{
            "id": session_id_for(digest),
            "customer": "cus_E2eInserted",
            "return_url": RETURN_URL,
            "created": now - 600,
            "expires_at": now + 300,
            "purge_at": now + 300 + 3600 + 7 * 86400,
            **fields,
        }
    )
    SessionStore(service.table_name, client=service.dynamodb()).put_new(NewSession(session, digest))


def visit(browser: requests.Session, service: LocalService, session_url: str) -> tuple[requests.Response, str]:
    """GET the session URL without following the redirect; returns the response and its hand-off."""
    response = browser.get(session_url, allow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(service.portal_url + "?"), location
    handoff = parse_qs(urlsplit(location).query).get("handoff", [""])[0]
    assert handoff.count(".") == 2, f"no JWT in the hand-off: {location}"
    return response, location


def test_the_runner_serves_with_the_api_key_it_was_given(service: LocalService, browser: requests.Session) -> None:
    # Given the runner started with PORTAL_API_KEY set
    # When its banner is read and a call is made with that key
    response = browser.post(
        service.base_url + CREATE_PATH, auth=(E2E_API_KEY, ""), data={"customer": "cus_1", "return_url": RETURN_URL}
    )

    # Then the banner names that key and the local portal, and the key is accepted
    assert service.api_key == E2E_API_KEY
    assert service.portal_url == service.base_url + "/_local/portal"
    assert response.status_code == 200, response.text


def test_create_returns_a_stripe_billing_portal_session(service: LocalService, client: stripe.StripeClient) -> None:
    # Given a customer and where to send them back
    # When the SDK creates a session with a locale
    session = create(client, return_url=RETURN_URL, locale="fr")

    # Then the SDK builds its own BillingPortal Session from a response shaped like Stripe's
    assert isinstance(session, stripe.billing_portal.Session)
    assert SESSION_ID.match(session.id), session.id
    assert session.object == "billing_portal.session"
    assert session.url.startswith(service.base_url + "/p/session/")
    assert len(url_token(session.url)) == 43
    assert session.customer == "cus_E2eCustomer"
    assert session.return_url == RETURN_URL
    assert session.livemode is False
    assert session.configuration.startswith("bpc_")
    assert session.locale == "fr"
    assert session.flow is None
    assert abs(session.created - time.time()) < 60
    assert schema_errors("billing_portal.session", raw_json(session)) == []
    assert session.last_response is not None
    assert_request_id(session.last_response.headers)


def test_create_with_flow_data_returns_the_flow(client: stripe.StripeClient) -> None:
    # Given a cancellation flow that redirects when it completes
    flow_data = {
        "type": "subscription_cancel",
        "subscription_cancel": {"subscription": "sub_E2eSubscription"},
        "after_completion": {"type": "redirect", "redirect": {"return_url": "https://example.com/cancelled"}},
    }

    # When the SDK creates a session with it (the SDK form-encodes the nested hash)
    session = create(client, return_url=RETURN_URL, flow_data=flow_data)

    # Then the session carries the flow as Stripe shows it (the SDK's API version adds two flow types)
    assert raw_json(session)["flow"] == {
        "after_completion": {
            "hosted_confirmation": None,
            "redirect": {"return_url": "https://example.com/cancelled"},
            "type": "redirect",
        },
        "customer_update": None,
        "subscription_cancel": {"retention": None, "subscription": "sub_E2eSubscription"},
        "subscription_pause": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": "subscription_cancel",
    }
    assert session.flow.type == "subscription_cancel"
    assert schema_errors("billing_portal.session", raw_json(session)) == []


def test_expand_configuration_returns_the_configuration_object(client: stripe.StripeClient) -> None:
    # Given a request to expand the configuration
    # When the SDK creates the session
    session = create(client, return_url=RETURN_URL, expand=["configuration"])

    # Then the configuration comes back as an object, not an id
    assert isinstance(session.configuration, stripe.billing_portal.Configuration)
    assert session.configuration.object == "billing_portal.configuration"
    assert session.configuration.id.startswith("bpc_")
    assert session.configuration.livemode is False
    assert schema_errors("billing_portal.session", raw_json(session)) == []
    assert schema_errors("billing_portal.configuration", raw_json(session)["configuration"]) == []


def test_session_url_hands_the_customer_over_to_the_portal(
    service: LocalService, client: stripe.StripeClient, browser: requests.Session
) -> None:
    # Given a session with a flow and a locale
    session = create(
        client,
        return_url=RETURN_URL,
        locale="de",
        flow_data={"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_E2e"}},
    )

    # When the customer's browser opens its URL and follows the redirect
    redirect, location = visit(browser, service, session.url)
    portal = browser.get(location, allow_redirects=False)

    # Then the redirect is not cached nor leaks its URL, and the portal accepts the hand-off
    assert_request_id(redirect.headers)
    assert redirect.headers["Cache-Control"] == "no-store"
    assert redirect.headers["Referrer-Policy"] == "no-referrer"
    assert portal.status_code == 200, portal.text
    assert portal_page_fields(portal.text) == {
        "customer": "cus_E2eCustomer",
        "session": session.id,
        "mode": "test",
        "flow": "subscription_cancel",
        "locale": "de",
        "return": RETURN_URL,
    }


def test_session_url_redirects_again_on_a_later_visit(
    service: LocalService, client: stripe.StripeClient, browser: requests.Session
) -> None:
    # Given a session whose URL was opened once
    session = create(client, return_url=RETURN_URL)
    _first, first_location = visit(browser, service, session.url)

    # When it is opened again
    second, second_location = visit(browser, service, session.url)
    portal = browser.get(second_location, allow_redirects=False)

    # Then it hands over again, with a fresh hand-off the portal accepts
    assert_request_id(second.headers)
    assert second_location != first_location
    assert portal.status_code == 200, portal.text
    assert portal_page_fields(portal.text)["session"] == session.id
    item = stored_item(service, url_token(session.url))
    assert item is not None and "visited_at" in item


def test_head_checks_a_fresh_session_without_counting_a_visit(
    service: LocalService, client: stripe.StripeClient, browser: requests.Session
) -> None:
    # Given a session nobody has opened yet
    session = create(client, return_url=RETURN_URL)
    token = url_token(session.url)

    # When a link preview sends HEAD for its URL
    response = browser.head(session.url, allow_redirects=False)

    # Then it answers 200 and the session is still unvisited, until a GET visits it
    assert response.status_code == 200
    assert response.content == b""
    assert_request_id(response.headers)
    assert "Location" not in response.headers
    unvisited = stored_item(service, token)
    assert unvisited is not None and "visited_at" not in unvisited, unvisited
    visit(browser, service, session.url)
    visited = stored_item(service, token)
    assert visited is not None and "visited_at" in visited, visited


@pytest.mark.parametrize(
    "token",
    [secrets.token_urlsafe(32), "not-a-session-token", secrets.token_urlsafe(33)],
    ids=["well-formed", "malformed", "too-long"],
)
def test_unknown_session_url_answers_404_page(service: LocalService, browser: requests.Session, token: str) -> None:
    # Given a token no session has
    url = f"{service.base_url}/p/session/{token}"

    # When it is opened, and checked with HEAD
    response = browser.get(url, allow_redirects=False)
    head = browser.head(url, allow_redirects=False)

    # Then both answer 404 with an HTML page that is neither cached nor leaks its URL
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "<html" in response.text and "Location" not in response.headers
    assert_request_id(response.headers)
    assert head.status_code == 404
    assert_request_id(head.headers)


@pytest.mark.parametrize("visited", [False, True], ids=["never-visited", "visited"])
def test_expired_session_url_answers_410_page_with_a_link_back(
    service: LocalService, browser: requests.Session, visited: bool
) -> None:
    # Given a session whose URL expired a minute ago, written straight into the table
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    return_url = "https://example.com/account?tab=billing&from=portal"
    insert_session(
        service, token, return_url=return_url, expires_at=now - 60, visited_at=now - 120 if visited else None
    )
    url = f"{service.base_url}/p/session/{token}"

    # When it is opened, and checked with HEAD
    response = browser.get(url, allow_redirects=False)
    head = browser.head(url, allow_redirects=False)

    # Then both answer 410, the page links back to the session's return_url, and it is neither cached nor leaked
    assert response.status_code == 410, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Location" not in response.headers
    assert f'href="{html.escape(return_url, quote=True)}"' in response.text
    assert_request_id(response.headers)
    assert head.status_code == 410
    assert_request_id(head.headers)


def test_a_visited_session_past_its_link_lifetime_still_redirects_while_live(
    service: LocalService, browser: requests.Session
) -> None:
    # Given a session first opened twenty minutes ago, so past the link's lifetime but within the session's
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    insert_session(service, token, created=now - 1500, visited_at=now - 1200, expires_at=now + 2400)

    # When its URL is opened again
    _response, location = visit(browser, service, f"{service.base_url}/p/session/{token}")
    portal = browser.get(location, allow_redirects=False)

    # Then the customer is handed over again
    assert portal.status_code == 200, portal.text
    assert portal_page_fields(portal.text)["customer"] == "cus_E2eInserted"


def test_unknown_parameter_raises_invalid_request_error(client: stripe.StripeClient) -> None:
    # Given a parameter Stripe's create call does not have
    # When the SDK sends it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create(client, return_url=RETURN_URL, colour="blue")

    # Then the SDK raises Stripe's error naming it
    error = raised.value
    assert error.http_status == 400
    assert error.code == "parameter_unknown"
    assert error.param == "colour"
    assert error.user_message == "Received unknown parameter: colour"
    assert REQUEST_ID.match(error.request_id or ""), error.request_id
    assert schema_errors("error", error.json_body) == []


def test_invalid_locale_raises_invalid_request_error_on_locale(client: stripe.StripeClient) -> None:
    # Given a locale Stripe does not know
    # When the SDK sends it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create(client, return_url=RETURN_URL, locale="xx-YY")

    # Then the error names the locale parameter
    error = raised.value
    assert error.http_status == 400
    assert error.param == "locale"
    assert error.code == "parameter_invalid"
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert schema_errors("error", error.json_body) == []


def test_unknown_configuration_raises_invalid_request_error(client: stripe.StripeClient) -> None:
    # Given a configuration id the service does not have
    # When the SDK asks for it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create(client, return_url=RETURN_URL, configuration="bpc_DoesNotExist")

    # Then the error is Stripe's resource_missing on that parameter
    error = raised.value
    assert (error.http_status, error.code, error.param) == (400, "resource_missing", "configuration")
    assert schema_errors("error", error.json_body) == []


@pytest.mark.parametrize("prefix", ["sk_test_", "sk_live_"])
def test_wrong_api_key_raises_authentication_error_with_the_key_masked(service: LocalService, prefix: str) -> None:
    # Given a key of the right shape that the service does not know
    wrong_key = prefix + secrets.token_hex(12)
    client = stripe.StripeClient(wrong_key, base_addresses={"api": service.base_url}, max_network_retries=0)

    # When the SDK calls with it
    with pytest.raises(stripe.AuthenticationError) as raised:
        create(client, return_url=RETURN_URL)

    # Then it is refused with 401, and the message shows only the key's prefix and last four characters
    error = raised.value
    assert error.http_status == 401
    assert wrong_key not in str(error) and wrong_key not in (error.http_body or "")
    assert wrong_key[len(prefix) : -4] not in (error.http_body or "")
    assert error.user_message.startswith("Invalid API Key provided: " + prefix)
    assert error.user_message.endswith(wrong_key[-4:])
    assert REQUEST_ID.match(error.request_id or ""), error.request_id
    assert schema_errors("error", error.json_body) == []


def test_curl_style_form_request_with_basic_auth(service: LocalService, browser: requests.Session) -> None:
    # Given the request `curl URL -u KEY: -d customer=… -d return_url=…` sends
    # When it is posted
    response = browser.post(
        service.base_url + CREATE_PATH,
        auth=(service.api_key, ""),
        data={"customer": "cus_Curl", "return_url": RETURN_URL},
    )

    # Then it creates a session like the SDK's
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert_request_id(response.headers)
    body = response.json()
    assert body["object"] == "billing_portal.session"
    assert body["customer"] == "cus_Curl"
    assert body["url"].startswith(service.base_url + "/p/session/")
    assert schema_errors("billing_portal.session", body) == []


def test_json_request_with_bearer_auth(service: LocalService, browser: requests.Session) -> None:
    # Given a JSON body with nested parameters
    payload = {"customer": "cus_Json", "return_url": RETURN_URL, "locale": "en-GB", "expand": ["configuration"]}

    # When it is posted with a Bearer key
    response = browser.post(
        service.base_url + CREATE_PATH, headers={"Authorization": f"Bearer {service.api_key}"}, json=payload
    )

    # Then the session is created with every parameter applied
    assert response.status_code == 200, response.text
    assert_request_id(response.headers)
    body = response.json()
    assert (body["customer"], body["locale"], body["configuration"]["object"]) == (
        "cus_Json",
        "en-GB",
        "billing_portal.configuration",
    )
    assert schema_errors("billing_portal.session", body) == []


def test_request_without_api_key_answers_401(service: LocalService, browser: requests.Session) -> None:
    # Given a create call that carries no key
    # When it is posted
    response = browser.post(service.base_url + CREATE_PATH, data={"customer": "cus_1", "return_url": RETURN_URL})

    # Then it is refused with Stripe's error
    assert response.status_code == 401
    assert_request_id(response.headers)
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert schema_errors("error", response.json()) == []


def test_every_response_has_its_own_request_id(service: LocalService, browser: requests.Session) -> None:
    # Given two identical requests
    params = {"customer": "cus_1", "return_url": RETURN_URL}

    def call() -> requests.Response:
        return browser.post(service.base_url + CREATE_PATH, auth=(service.api_key, ""), data=params)

    # When both are sent
    first, second = call(), call()

    # Then each answer carries a Request-Id of its own
    assert assert_request_id(first.headers) != assert_request_id(second.headers)
