"""The create function end to end in-process: API Gateway event → handler → DynamoDB (moto)."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import configurations_handler
import create_session_handler
import pytest

from portal_sessions.domain.tokens import url_token_hash
from portal_sessions.runtime import clock
from tests.support.aws import aws_client
from tests.support.contract import schema_errors
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import CLOCK_START, LIVE_KEY, TEST_KEY
from tests.support.table import all_items, session_items

PATH = "/v1/billing_portal/sessions"
FORM = "application/x-www-form-urlencoded"


def create(body: str | bytes, *, key: str | None = TEST_KEY, content_type: str = FORM, **headers: str) -> dict:
    all_headers = {"content-type": content_type, **headers}
    if key is not None:
        all_headers["authorization"] = f"Bearer {key}"
    return create_session_handler.lambda_handler(
        http_event("POST", PATH, headers=all_headers, body=body), FakeContext()
    )


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    now = CLOCK_START
    monkeypatch.setattr(clock, "now", lambda: now)
    return now


def test_form_request_creates_a_session_in_stripes_shape(service_env: dict, fixed_clock: int) -> None:
    # Given a form body as the Stripe SDK sends it (HTTP API delivers it base64-encoded)
    body = urlencode({"customer": "cus_123", "return_url": "https://example.com/account", "locale": "de"})

    # When
    response = create(body)

    # Then
    assert response["statusCode"] == 200
    session = json_body(response)
    assert schema_errors("billing_portal.session", session) == []
    assert session["id"].startswith("bps_")
    assert session["object"] == "billing_portal.session"
    assert session["customer"] == "cus_123"
    assert session["locale"] == "de"
    assert session["livemode"] is False
    assert session["created"] == fixed_clock
    assert session["configuration"] == "bpc_DefaultTestConfiguration"
    assert session["flow"] is None and session["on_behalf_of"] is None and session["customer_account"] is None
    assert session["url"].startswith("https://api.example.test/p/session/")
    assert response["headers"]["Request-Id"].startswith("req_")


def test_the_table_holds_only_the_tokens_hash(service_env: dict, fixed_clock: int) -> None:
    # When
    session = json_body(create("customer=cus_123&return_url=https://example.com"))

    # Then the item is keyed by the token's SHA-256, and the token appears nowhere in the table
    token = session["url"].rsplit("/", 1)[1]
    items = session_items(service_env["TABLE_NAME"])
    assert len(items) == 1
    assert items[0]["pk"]["S"] == "token#" + url_token_hash(token)
    assert token not in json.dumps(items)
    assert int(items[0]["expires_at"]["N"]) == fixed_clock + 300
    # purged once the latest it could live (link 300 s, then 3600 s from a visit) and the 7 days' retention are past
    assert int(items[0]["purge_at"]["N"]) == fixed_clock + 300 + 3600 + 7 * 86400


def test_json_body_is_accepted(service_env: dict) -> None:
    # Given
    body = json.dumps({"customer": "cus_123", "return_url": "https://example.com", "expand": ["configuration"]})

    # When
    response = create(body, content_type="application/json")

    # Then configuration is expanded into the object
    assert response["statusCode"] == 200
    session = json_body(response)
    assert session["configuration"]["object"] == "billing_portal.configuration"
    assert schema_errors("billing_portal.session", session) == []


def test_live_key_creates_livemode_sessions(service_env: dict) -> None:
    session = json_body(create("customer=cus_1&return_url=https://example.com", key=LIVE_KEY))

    assert session["livemode"] is True
    assert session["configuration"] == "bpc_DefaultLiveConfiguration"


def test_http_basic_auth_with_the_key_as_user_name(service_env: dict) -> None:
    # Given curl's `-u sk_test_…:`
    basic = "Basic " + base64.b64encode(f"{TEST_KEY}:".encode()).decode()

    # When
    response = create("customer=cus_1&return_url=https://example.com", key=None, authorization=basic)

    # Then
    assert response["statusCode"] == 200


def create_configuration(body: str) -> dict:
    headers = {"content-type": FORM, "authorization": f"Bearer {TEST_KEY}"}
    event = http_event("POST", "/v1/billing_portal/configurations", headers=headers, body=body)
    response = configurations_handler.lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200, response["body"]
    return json_body(response)


def test_flow_data_is_stored_and_returned(service_env: dict) -> None:
    # Given a configuration that allows subscription updates
    configuration = create_configuration(
        "features[subscription_update][enabled]=true&features[subscription_update][default_allowed_updates][]=price"
    )
    body = urlencode(
        {
            "customer": "cus_1",
            "configuration": configuration["id"],
            "return_url": "https://example.com",
            "flow_data[type]": "subscription_update_confirm",
            "flow_data[subscription_update_confirm][subscription]": "sub_1",
            "flow_data[subscription_update_confirm][items][0][id]": "si_1",
            "flow_data[subscription_update_confirm][items][0][price]": "price_1",
            "flow_data[subscription_update_confirm][items][0][quantity]": "2",
            "flow_data[after_completion][type]": "hosted_confirmation",
        }
    )

    # When
    session = json_body(create(body))

    # Then
    assert session["flow"]["type"] == "subscription_update_confirm"
    assert session["flow"]["subscription_update_confirm"]["items"] == [
        {"id": "si_1", "price": "price_1", "quantity": 2}
    ]
    assert session["flow"]["after_completion"] == {
        "type": "hosted_confirmation",
        "hosted_confirmation": {"custom_message": None},
        "redirect": None,
    }
    assert schema_errors("billing_portal.session", session) == []
    stored = session_items(service_env["TABLE_NAME"])[0]
    assert json.loads(stored["flow"]["S"]) == session["flow"]


def test_a_flow_whose_feature_is_disabled_is_refused(service_env: dict) -> None:
    # Given the default configuration, where subscription updates are off
    body = (
        "customer=cus_1&return_url=https://example.com&flow_data[type]=subscription_update"
        "&flow_data[subscription_update][subscription]=sub_1"
    )

    # When
    response = create(body)

    # Then
    assert response["statusCode"] == 400
    error = json_body(response)["error"]
    assert error["param"] == "flow_data[type]"
    assert "features.subscription_update.enabled" in error["message"]
    assert session_items(service_env["TABLE_NAME"]) == []


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ("customer=cus_1&return_url=https://example.com&colour=blue", 400, "parameter_unknown", "colour"),
        ("return_url=https://example.com", 400, "parameter_missing", "customer"),
        ("customer=cus_1&return_url=https://example.com&locale=xx", 400, "parameter_invalid", "locale"),
        ("customer=cus_1&return_url=javascript:alert(1)", 400, "url_invalid", "return_url"),
        ("customer=cus_1&return_url=https://example.com&configuration=bpc_nope", 400, "resource_missing",
         "configuration"),
        ("customer=cus_1&return_url=https://example.com&expand[]=customer", 400, "parameter_invalid", "expand"),
        ("customer=cus_1&return_url=https://example.com&flow_data[type]=subscription_cancel", 400, "parameter_missing",
         "flow_data[subscription_cancel]"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_stripe_error_and_writes_nothing(
    service_env: dict, body: str, status: int, code: str, param: str
) -> None:
    # When
    response = create(body)

    # Then
    assert response["statusCode"] == status
    error = json_body(response)
    assert schema_errors("error", error) == []
    assert error["error"]["type"] == "invalid_request_error"
    assert (error["error"]["code"], error["error"]["param"]) == (code, param)
    assert response["headers"]["Request-Id"].startswith("req_")
    assert all_items(service_env["TABLE_NAME"]) == []


def test_missing_return_url_is_refused_as_stripe_does(service_env: dict) -> None:
    # When the default configuration has no default_return_url and none is given
    response = create("customer=cus_1")

    # Then
    assert response["statusCode"] == 400
    assert json_body(response)["error"] == {
        "type": "invalid_request_error",
        "message": "Your PortalConfiguration does not have a `default_return_url`, and you did not provide a "
        "`return_url`.",
        "param": "return_url",
    }


def test_missing_key_is_401_with_stripes_message(service_env: dict) -> None:
    response = create("customer=cus_1&return_url=https://example.com", key=None)

    assert response["statusCode"] == 401
    assert json_body(response)["error"]["message"].startswith("You did not provide an API key.")
    assert all_items(service_env["TABLE_NAME"]) == []


def test_wrong_key_is_401_with_the_key_masked(service_env: dict) -> None:
    # Given a well-formed key the operator never configured
    wrong = "sk_test_NotAConfiguredKey000000Zz9q"

    # When
    response = create("customer=cus_1&return_url=https://example.com", key=wrong)

    # Then
    assert response["statusCode"] == 401
    message = json_body(response)["error"]["message"]
    assert message.startswith("Invalid API Key provided: sk_test_***")
    assert message.endswith("Zz9q")
    assert wrong not in message


def test_stripe_account_header_is_refused_rather_than_ignored(service_env: dict) -> None:
    response = create("customer=cus_1&return_url=https://example.com", **{"stripe-account": "acct_1"})

    assert response["statusCode"] == 400
    assert all_items(service_env["TABLE_NAME"]) == []


def test_oversized_body_is_refused_before_parsing(service_env: dict) -> None:
    response = create("customer=cus_1&return_url=https://example.com&pad=" + "x" * 70_000)

    assert response["statusCode"] == 413
    assert json_body(response)["error"]["type"] == "invalid_request_error"


def test_configured_public_base_url_is_used_for_session_urls(
    service_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a custom domain in front of the API
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://billing.example.com/")
    from portal_sessions.runtime.settings import clear_settings_cache

    clear_settings_cache()

    # When
    session = json_body(create("customer=cus_1&return_url=https://example.com"))

    # Then
    assert session["url"].startswith("https://billing.example.com/p/session/")


@pytest.mark.parametrize(
    ("forwarded_proto", "host", "expected_base"),
    [
        ("javascript:alert(1)//", "api.example.test", "https://api.example.test/p/session/"),
        ("data:text/html,x", "api.example.test", "https://api.example.test/p/session/"),
        ("HTTPS", "api.example.test", "https://api.example.test/p/session/"),
        # Deployed, API Gateway serves only HTTPS: a request cannot downgrade its session URL to http
        ("http", "abc123.execute-api.eu-west-1.amazonaws.com", "https://abc123.execute-api.eu-west-1.amazonaws.com/"),
        # The local gateway serves plain http on loopback
        ("http", "127.0.0.1:3000", "http://127.0.0.1:3000/p/session/"),
        ("http, https", "localhost:3000", "http://localhost:3000/p/session/"),
    ],
)
def test_session_urls_use_only_http_or_https_whatever_x_forwarded_proto_says(
    service_env: dict, forwarded_proto: str, host: str, expected_base: str
) -> None:
    # When the request claims another scheme
    response = create(
        "customer=cus_1&return_url=https://example.com", **{"x-forwarded-proto": forwarded_proto, "host": host}
    )

    # Then the session URL is on the request's own host, over https (or http on a loopback host)
    assert json_body(response)["url"].startswith(expected_base)


@pytest.mark.parametrize("host", ["evil.example/x?y=", "javascript:alert(1)", "a b", "exa mple.com:3000"])
def test_a_host_that_is_no_host_name_never_makes_a_session_url(service_env: dict, host: str) -> None:
    response = create("customer=cus_1&return_url=https://example.com", host=host)

    assert response["statusCode"] == 400
    assert json_body(response)["error"]["type"] == "invalid_request_error"
    assert session_items(service_env["TABLE_NAME"]) == []


def test_store_failure_is_a_stripe_503_not_a_trace(service_env: dict) -> None:
    # Given the table is gone (a broken deploy, or DynamoDB failing)
    aws_client("dynamodb").delete_table(TableName=service_env["TABLE_NAME"])

    # When
    response = create("customer=cus_1&return_url=https://example.com")

    # Then
    assert response["statusCode"] == 503
    error = json_body(response)["error"]
    assert error["type"] == "api_error"
    assert "Traceback" not in response["body"]


def test_unknown_route_gets_stripes_unrecognized_url_error(service_env: dict) -> None:
    # Given an event for a path this function has no route for (API Gateway would not send it; stay safe anyway)
    event = http_event("POST", PATH, headers={"authorization": f"Bearer {TEST_KEY}"})
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/billing_portal/nothing"

    # When
    response = create_session_handler.lambda_handler(event, FakeContext())

    # Then
    assert response["statusCode"] == 404
    assert json_body(response)["error"]["message"] == (
        "Unrecognized request URL (POST: /v1/billing_portal/nothing). "
        "Please see this service's API reference at /v1/openapi.json; the team that runs it can help."
    )


def test_on_a_named_stage_the_route_is_matched_without_the_stage(service_env: dict) -> None:
    # Given the API deployed on a stage named "prod": API Gateway puts the stage before the route's path
    event = http_event(
        "POST",
        PATH,
        headers={"content-type": FORM, "authorization": f"Bearer {TEST_KEY}"},
        body="customer=cus_1&return_url=https://example.com",
    )
    event["requestContext"]["stage"] = "prod"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/prod" + PATH

    # When
    response = create_session_handler.lambda_handler(event, FakeContext())

    # Then it is the create, and its URL keeps the stage
    assert response["statusCode"] == 200, response["body"]
    assert "/prod/p/session/" in json_body(response)["url"]


def test_unreadable_key_parameter_is_a_503(service_env: dict) -> None:
    # Given the SSM parameter with the key digests is gone
    aws_client("ssm").delete_parameter(Name=service_env["API_KEYS_PARAMETER"])

    # When
    response = create("customer=cus_1&return_url=https://example.com")

    # Then
    assert response["statusCode"] == 503
    assert json_body(response)["error"]["type"] == "api_error"
    assert all_items(service_env["TABLE_NAME"]) == []
