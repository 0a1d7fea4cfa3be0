"""The configurations function end to end in-process: API Gateway event → handler → DynamoDB (moto).

Stripe's create, retrieve, update and list calls for `billing_portal.configuration`, and how session creation uses
the configurations (default, inactive, disabled feature, `default_return_url`).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import configurations_handler
import create_session_handler
import pytest

from portal_sessions.runtime import clock
from portal_sessions.runtime.errors import ConditionFailedError
from portal_sessions.store.configurations import ConfigurationStore
from tests.support.contract import schema_errors
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import CLOCK_START, LIVE_KEY, TEST_KEY
from tests.support.table import session_items

COLLECTION = "/v1/billing_portal/configurations"
SESSIONS = "/v1/billing_portal/sessions"
FORM = "application/x-www-form-urlencoded"
DEFAULT_IDS = {TEST_KEY: "bpc_DefaultTestConfiguration", LIVE_KEY: "bpc_DefaultLiveConfiguration"}
START = CLOCK_START


def call(
    method: str,
    path: str,
    *,
    body: str = "",
    query: str = "",
    key: str | None = TEST_KEY,
    content_type: str = FORM,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One request to the configurations function, as API Gateway would deliver it."""
    all_headers = {"content-type": content_type} if method == "POST" else {}
    if key is not None:
        all_headers["authorization"] = f"Bearer {key}"
    all_headers.update(headers or {})
    event = http_event(method, path, headers=all_headers, body=body)
    event["rawQueryString"] = query
    return configurations_handler.lambda_handler(event, FakeContext())


def create_configuration(body: str = "features[invoice_history][enabled]=true", *, key: str = TEST_KEY) -> dict:
    response = call("POST", COLLECTION, body=body, key=key)
    assert response["statusCode"] == 200, response["body"]
    return json_body(response)


def retrieve(configuration_id: str, *, key: str = TEST_KEY, query: str = "") -> dict[str, Any]:
    return call("GET", f"{COLLECTION}/{configuration_id}", key=key, query=query)


def update(configuration_id: str, body: str, *, key: str = TEST_KEY) -> dict[str, Any]:
    return call("POST", f"{COLLECTION}/{configuration_id}", body=body, key=key)


def list_page(query: str = "", *, key: str = TEST_KEY) -> dict[str, Any]:
    response = call("GET", COLLECTION, query=query, key=key)
    assert response["statusCode"] == 200, response["body"]
    page = json_body(response)
    assert_valid_list(page)
    return page


def assert_valid_list(page: dict[str, Any]) -> None:
    assert set(page) == {"object", "data", "has_more", "url"}
    assert page["object"] == "list"
    assert page["url"] == COLLECTION
    assert isinstance(page["has_more"], bool)
    for item in page["data"]:
        assert schema_errors("billing_portal.configuration", item) == []


def create_session(body: str, *, key: str = TEST_KEY) -> dict[str, Any]:
    headers = {"content-type": FORM, "authorization": f"Bearer {key}"}
    return create_session_handler.lambda_handler(
        http_event("POST", SESSIONS, headers=headers, body=body), FakeContext()
    )


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    body = json_body(response)
    assert schema_errors("error", body) == []
    assert "Traceback" not in response["body"]
    return body["error"]


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def tick(self, seconds: int = 1) -> int:
        self.now += seconds
        return self.now


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moving = Clock()
    monkeypatch.setattr(clock, "now", lambda: moving.now)
    return moving


# Create


@pytest.mark.parametrize(("key", "livemode"), [(TEST_KEY, False), (LIVE_KEY, True)])
def test_create_returns_a_configuration_in_stripes_shape(
    service_env: dict, fixed_clock: Clock, key: str, livemode: bool
) -> None:
    # Given a form body as the Stripe SDK sends it
    body = urlencode(
        {
            "features[customer_update][enabled]": "true",
            "features[customer_update][allowed_updates][0]": "email",
            "features[customer_update][allowed_updates][1]": "address",
            "features[subscription_cancel][enabled]": "true",
            "features[subscription_cancel][mode]": "immediately",
            "business_profile[headline]": "Acme",
            "default_return_url": "https://example.com/account",
            "metadata[plan]": "gold",
            "name": "Gold",
        }
    )

    # When
    response = call("POST", COLLECTION, body=body, key=key)

    # Then
    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["Request-Id"].startswith("req_")
    configuration = json_body(response)
    assert schema_errors("billing_portal.configuration", configuration) == []
    assert configuration["id"].startswith("bpc_") and configuration["id"] not in DEFAULT_IDS.values()
    assert configuration["object"] == "billing_portal.configuration"
    assert configuration["livemode"] is livemode
    assert configuration["active"] is True
    assert configuration["is_default"] is False
    assert configuration["created"] == configuration["updated"] == fixed_clock.now
    assert configuration["features"]["customer_update"] == {"allowed_updates": ["email", "address"], "enabled": True}
    assert configuration["features"]["subscription_cancel"]["mode"] == "immediately"
    assert configuration["features"]["invoice_history"] == {"enabled": False}
    assert configuration["business_profile"]["headline"] == "Acme"
    assert configuration["default_return_url"] == "https://example.com/account"
    assert configuration["metadata"] == {"plan": "gold"}
    assert configuration["name"] == "Gold"


def test_create_accepts_json_bodies(service_env: dict) -> None:
    # Given a JSON body with JSON booleans
    body = json.dumps({"features": {"invoice_history": {"enabled": True}}, "login_page": {"enabled": False}})

    # When
    response = call("POST", COLLECTION, body=body, content_type="application/json")

    # Then
    assert response["statusCode"] == 200, response["body"]
    configuration = json_body(response)
    assert configuration["features"]["invoice_history"] == {"enabled": True}
    assert schema_errors("billing_portal.configuration", configuration) == []


def test_created_configurations_get_distinct_ids(service_env: dict) -> None:
    # Given / When
    ids = {create_configuration()["id"] for _ in range(5)}

    # Then
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ("name=x", "parameter_missing", "features"),
        ("features[invoice_history][enabled]=yes", "parameter_invalid", "features[invoice_history][enabled]"),
        ("features[subscription_cancel][enabled]=true&features[subscription_cancel][mode]=later", "parameter_invalid",
         "features[subscription_cancel][mode]"),
        ("features[invoice_history][enabled]=true&business_profile[privacy_policy_url]=", "parameter_invalid_empty",
         "business_profile[privacy_policy_url]"),
        ("features[invoice_history][enabled]=true&default_return_url=notaurl", "url_invalid", "default_return_url"),
        ("features[invoice_history][enabled]=true&expand[]=configuration", "parameter_invalid", "expand"),
    ],
)  # fmt: skip
def test_invalid_create_requests_get_stripe_errors_and_store_nothing(
    service_env: dict, body: str, code: str, param: str
) -> None:
    # When
    response = call("POST", COLLECTION, body=body)

    # Then
    assert response["statusCode"] == 400
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert [item for item in list_page("limit=100")["data"] if not item["is_default"]] == []


# Retrieve


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY])
def test_retrieve_returns_the_stored_configuration(service_env: dict, key: str) -> None:
    # Given
    created = create_configuration("features[payment_method_update][enabled]=true&name=Mine", key=key)

    # When
    response = retrieve(created["id"], key=key, query="expand[]=features")

    # Then
    assert response["statusCode"] == 200, response["body"]
    configuration = json_body(response)
    assert configuration == created
    assert schema_errors("billing_portal.configuration", configuration) == []


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY])
def test_retrieve_of_the_default_configuration_creates_it_on_first_need(service_env: dict, key: str) -> None:
    # When
    response = retrieve(DEFAULT_IDS[key], key=key)

    # Then
    assert response["statusCode"] == 200, response["body"]
    configuration = json_body(response)
    assert configuration["id"] == DEFAULT_IDS[key]
    assert configuration["is_default"] is True and configuration["active"] is True
    assert configuration["livemode"] is (key == LIVE_KEY)
    assert schema_errors("billing_portal.configuration", configuration) == []


def test_retrieve_of_an_unknown_configuration_is_404_resource_missing(service_env: dict) -> None:
    # When
    response = retrieve("bpc_DoesNotExist000000000")

    # Then
    assert response["statusCode"] == 404
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")
    assert error["message"] == "No such configuration: 'bpc_DoesNotExist000000000'"


@pytest.mark.parametrize(
    ("owner", "caller", "message"),
    [
        (
            LIVE_KEY,
            TEST_KEY,
            "a similar object exists in live mode, but a test mode key was used to make this request.",
        ),
        (
            TEST_KEY,
            LIVE_KEY,
            "a similar object exists in test mode, but a live mode key was used to make this request.",
        ),
    ],
)
def test_retrieve_with_the_other_modes_key_is_404_with_stripes_hint(
    service_env: dict, owner: str, caller: str, message: str
) -> None:
    # Given a configuration of one mode
    created = create_configuration(key=owner)

    # When the other mode's key asks for it
    response = retrieve(created["id"], key=caller)

    # Then
    assert response["statusCode"] == 404
    error = error_of(response)
    assert error["code"] == "resource_missing"
    assert error["message"] == f"No such configuration: '{created['id']}'; {message}"


def test_the_other_modes_default_is_not_retrievable(service_env: dict) -> None:
    # Given the live default exists
    assert retrieve(DEFAULT_IDS[LIVE_KEY], key=LIVE_KEY)["statusCode"] == 200

    # When a test key asks for it
    response = retrieve(DEFAULT_IDS[LIVE_KEY], key=TEST_KEY)

    # Then
    assert response["statusCode"] == 404
    assert error_of(response)["code"] == "resource_missing"


def test_retrieve_refuses_an_unexpandable_field(service_env: dict) -> None:
    # Given
    created = create_configuration()

    # When
    response = retrieve(created["id"], query="expand[]=customer")

    # Then
    assert response["statusCode"] == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == ("parameter_invalid", "expand")


# Update


def test_update_merges_and_is_what_retrieve_then_returns(service_env: dict, fixed_clock: Clock) -> None:
    # Given a configuration with a business profile and features
    created = create_configuration(
        "features[subscription_cancel][enabled]=true&features[invoice_history][enabled]=true"
        "&business_profile[headline]=Hello&business_profile[privacy_policy_url]=https://example.com/privacy"
        "&metadata[plan]=gold&metadata[team]=billing&name=Before"
    )
    fixed_clock.tick(60)

    # When some members are updated and others reset
    response = update(
        created["id"],
        "business_profile[headline]=&features[subscription_cancel][mode]=immediately&metadata[plan]="
        "&metadata[region]=eu&name=After&default_return_url=https://example.com/back",
    )

    # Then
    assert response["statusCode"] == 200, response["body"]
    updated = json_body(response)
    assert schema_errors("billing_portal.configuration", updated) == []
    assert updated["business_profile"] == {
        "headline": None,
        "privacy_policy_url": "https://example.com/privacy",
        "terms_of_service_url": None,
    }
    assert updated["features"]["subscription_cancel"]["enabled"] is True
    assert updated["features"]["subscription_cancel"]["mode"] == "immediately"
    assert updated["features"]["invoice_history"] == {"enabled": True}
    assert updated["metadata"] == {"team": "billing", "region": "eu"}
    assert updated["name"] == "After"
    assert updated["default_return_url"] == "https://example.com/back"
    assert (updated["id"], updated["created"], updated["updated"]) == (created["id"], created["created"], START + 60)
    assert json_body(retrieve(created["id"])) == updated


def test_update_with_empty_strings_resets_fields(service_env: dict) -> None:
    # Given
    created = create_configuration(
        "features[invoice_history][enabled]=true&default_return_url=https://example.com/back&name=N&metadata[a]=1"
    )

    # When
    response = update(created["id"], "default_return_url=&name=&metadata=")

    # Then
    assert response["statusCode"] == 200, response["body"]
    updated = json_body(response)
    assert (updated["default_return_url"], updated["name"], updated["metadata"]) == (None, None, {})


def test_update_of_an_unknown_configuration_is_404(service_env: dict) -> None:
    # When
    response = update("bpc_DoesNotExist000000000", "name=x")

    # Then
    assert response["statusCode"] == 404
    assert error_of(response)["code"] == "resource_missing"


def test_update_with_the_other_modes_key_is_404_and_changes_nothing(service_env: dict) -> None:
    # Given a live configuration
    created = create_configuration("features[invoice_history][enabled]=true&name=Live", key=LIVE_KEY)

    # When a test key updates it
    response = update(created["id"], "name=Hijacked", key=TEST_KEY)

    # Then
    assert response["statusCode"] == 404
    assert "a similar object exists in live mode" in error_of(response)["message"]
    assert json_body(retrieve(created["id"], key=LIVE_KEY))["name"] == "Live"


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY])
def test_the_default_configuration_cannot_be_deactivated(service_env: dict, key: str) -> None:
    # When
    response = update(DEFAULT_IDS[key], "active=false", key=key)

    # Then
    assert response["statusCode"] == 400
    assert error_of(response)["param"] == "active"
    assert json_body(retrieve(DEFAULT_IDS[key], key=key))["active"] is True


def test_the_default_configuration_can_be_updated_otherwise(service_env: dict) -> None:
    # When
    response = update(DEFAULT_IDS[TEST_KEY], "default_return_url=https://example.com/home&active=true")

    # Then
    assert response["statusCode"] == 200, response["body"]
    updated = json_body(response)
    assert (updated["default_return_url"], updated["is_default"], updated["active"]) == (
        "https://example.com/home",
        True,
        True,
    )
    assert schema_errors("billing_portal.configuration", updated) == []


def test_metadata_can_never_hold_more_than_50_keys(service_env: dict) -> None:
    # Given a configuration with 30 metadata keys
    first = "&".join(f"metadata[a{index}]=v" for index in range(30))
    created = create_configuration("features[invoice_history][enabled]=true&" + first)

    # When 30 other keys are added (each request alone is within Stripe's 50)
    response = update(created["id"], "&".join(f"metadata[b{index}]=v" for index in range(30)))

    # Then the update is refused and the configuration does not end up with 60 keys
    assert response["statusCode"] == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == ("parameter_invalid", "metadata")
    stored = json_body(retrieve(created["id"]))
    assert len(stored["metadata"]) == 30


# Sessions and configurations


def test_an_inactive_configuration_cannot_create_sessions_until_reactivated(service_env: dict) -> None:
    # Given a configuration that is deactivated
    created = create_configuration()
    deactivated = update(created["id"], "active=false")
    assert deactivated["statusCode"] == 200, deactivated["body"]
    assert json_body(deactivated)["active"] is False
    body = urlencode({"customer": "cus_1", "return_url": "https://example.com", "configuration": created["id"]})

    # When a session is created with it
    refused = create_session(body)

    # Then
    assert refused["statusCode"] == 400
    error = error_of(refused)
    assert (error["type"], error["param"]) == ("invalid_request_error", "configuration")
    assert session_items(service_env["TABLE_NAME"]) == []

    # And when it is activated again, sessions work
    assert update(created["id"], "active=true")["statusCode"] == 200
    accepted = create_session(body)
    assert accepted["statusCode"] == 200, accepted["body"]
    assert json_body(accepted)["configuration"] == created["id"]


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY])
def test_a_session_without_configuration_uses_the_modes_default(service_env: dict, key: str) -> None:
    # When
    response = create_session("customer=cus_1&return_url=https://example.com&expand[]=configuration", key=key)

    # Then
    assert response["statusCode"] == 200, response["body"]
    session = json_body(response)
    assert session["configuration"]["id"] == DEFAULT_IDS[key]
    assert session["configuration"]["is_default"] is True
    assert schema_errors("billing_portal.session", session) == []


def test_a_session_uses_the_default_configurations_current_state(service_env: dict) -> None:
    # Given the default configuration was given a default_return_url
    assert update(DEFAULT_IDS[TEST_KEY], "default_return_url=https://example.com/home")["statusCode"] == 200

    # When a session is created with no configuration and no return_url
    response = create_session("customer=cus_1")

    # Then
    assert response["statusCode"] == 200, response["body"]
    assert json_body(response)["return_url"] == "https://example.com/home"


def test_a_configurations_default_return_url_is_the_sessions_return_url(service_env: dict) -> None:
    # Given a configuration with a default_return_url
    created = create_configuration("features[invoice_history][enabled]=true&default_return_url=https://example.com/d")

    # When sessions are created with it, without and with a return_url
    without = create_session(f"customer=cus_1&configuration={created['id']}")
    with_own = create_session(f"customer=cus_1&configuration={created['id']}&return_url=https://example.com/own")

    # Then the configuration's URL is the fallback, and an explicit one wins
    assert without["statusCode"] == 200, without["body"]
    assert json_body(without)["return_url"] == "https://example.com/d"
    assert json_body(with_own)["return_url"] == "https://example.com/own"
    assert schema_errors("billing_portal.session", json_body(without)) == []


def test_a_configuration_without_default_return_url_needs_a_return_url(service_env: dict) -> None:
    # Given
    created = create_configuration()

    # When
    response = create_session(f"customer=cus_1&configuration={created['id']}")

    # Then
    assert response["statusCode"] == 400
    assert error_of(response)["param"] == "return_url"


def test_a_session_with_an_unknown_configuration_is_resource_missing(service_env: dict) -> None:
    # When
    response = create_session("customer=cus_1&return_url=https://example.com&configuration=bpc_nope")

    # Then
    assert response["statusCode"] == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("resource_missing", "configuration")


def test_a_session_with_the_other_modes_configuration_is_resource_missing(service_env: dict) -> None:
    # Given a live configuration
    created = create_configuration(key=LIVE_KEY)

    # When a test key uses it
    response = create_session(f"customer=cus_1&return_url=https://example.com&configuration={created['id']}")

    # Then
    assert response["statusCode"] == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("resource_missing", "configuration")
    assert session_items(service_env["TABLE_NAME"]) == []


@pytest.mark.parametrize(
    ("feature", "flow"),
    [
        ("payment_method_update", "flow_data[type]=payment_method_update"),
        ("customer_update", "flow_data[type]=customer_update"),
        ("subscription_cancel",
         "flow_data[type]=subscription_cancel&flow_data[subscription_cancel][subscription]=sub_1"),
        ("subscription_update",
         "flow_data[type]=subscription_update&flow_data[subscription_update][subscription]=sub_1"),
        ("subscription_update",
         "flow_data[type]=subscription_update_confirm&flow_data[subscription_update_confirm][subscription]=sub_1"
         "&flow_data[subscription_update_confirm][items][0][id]=si_1"
         "&flow_data[subscription_update_confirm][items][0][price]=price_1"),
    ],
)  # fmt: skip
def test_a_flow_needs_its_feature_enabled_on_the_configuration(service_env: dict, feature: str, flow: str) -> None:
    # Given one configuration with the feature off and one with it on
    off = create_configuration()
    on = create_configuration(f"features[{feature}][enabled]=true")
    base = "customer=cus_1&return_url=https://example.com&" + flow

    # When a session with the flow is created with each
    refused = create_session(f"{base}&configuration={off['id']}")
    accepted = create_session(f"{base}&configuration={on['id']}")

    # Then
    assert refused["statusCode"] == 400
    assert error_of(refused)["param"] == "flow_data[type]"
    assert f"features.{feature}.enabled" in error_of(refused)["message"]
    assert accepted["statusCode"] == 200, accepted["body"]
    assert json_body(accepted)["flow"]["type"] == flow.split("&")[0].split("=")[1]


def test_disabling_a_feature_later_refuses_its_flow(service_env: dict) -> None:
    # Given a configuration whose payment method update is switched off after creation
    created = create_configuration("features[payment_method_update][enabled]=true")
    assert update(created["id"], "features[payment_method_update][enabled]=false")["statusCode"] == 200

    # When
    response = create_session(
        f"customer=cus_1&return_url=https://example.com&configuration={created['id']}"
        "&flow_data[type]=payment_method_update"
    )

    # Then
    assert response["statusCode"] == 400
    assert error_of(response)["param"] == "flow_data[type]"


# List


def test_list_on_first_need_holds_only_the_default(service_env: dict) -> None:
    # When
    page = list_page()

    # Then
    assert [item["id"] for item in page["data"]] == [DEFAULT_IDS[TEST_KEY]]
    assert page["has_more"] is False


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY])
def test_list_includes_the_default_exactly_once_per_mode(service_env: dict, key: str) -> None:
    # Given configurations in both modes, and the list asked for several times
    for owner in (TEST_KEY, LIVE_KEY):
        for _ in range(3):
            create_configuration(key=owner)
        list_page(key=owner)

    # When
    page = list_page("limit=100", key=key)

    # Then
    defaults = [item for item in page["data"] if item["is_default"]]
    assert [item["id"] for item in defaults] == [DEFAULT_IDS[key]]
    assert len(page["data"]) == 4


def test_list_is_newest_first_with_a_default_limit_of_10(service_env: dict, fixed_clock: Clock) -> None:
    # Given 12 configurations created one second apart (the default, created on first need, dates from before them)
    created = []
    for _ in range(12):
        fixed_clock.tick()
        created.append(create_configuration()["id"])
    fixed_clock.tick()

    # When
    page = list_page()

    # Then
    assert len(page["data"]) == 10
    assert page["has_more"] is True
    assert [item["id"] for item in page["data"]] == created[::-1][:10]
    times = [item["created"] for item in page["data"]]
    assert times == sorted(times, reverse=True)


def _create_many(count: int, fixed_clock: Clock, *, distinct_times: bool, key: str = TEST_KEY) -> list[str]:
    ids = []
    for _ in range(count):
        if distinct_times:
            fixed_clock.tick()
        ids.append(create_configuration(key=key)["id"])
    return ids


def _walk_forward(limit: int, extra: str = "") -> tuple[list[str], int]:
    ids: list[str] = []
    query = f"limit={limit}{extra}"
    pages = 0
    while True:
        page = list_page(query)
        pages += 1
        assert len(page["data"]) <= limit
        ids += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            return ids, pages
        assert len(page["data"]) == limit
        query = f"limit={limit}&starting_after={ids[-1]}{extra}"


def _walk_backward(limit: int, oldest: str, extra: str = "") -> list[str]:
    ids = [oldest]
    cursor = oldest
    while True:
        page = list_page(f"limit={limit}&ending_before={cursor}{extra}")
        page_ids = [item["id"] for item in page["data"]]
        assert len(page_ids) <= limit
        ids = page_ids + ids
        if not page["has_more"]:
            return ids
        assert len(page_ids) == limit
        cursor = page_ids[0]


@pytest.mark.parametrize("distinct_times", [True, False])
@pytest.mark.parametrize("limit", [1, 3, 4, 8, 100])
def test_pagination_walks_every_configuration_exactly_once_both_ways(
    service_env: dict, fixed_clock: Clock, limit: int, distinct_times: bool
) -> None:
    # Given 7 configurations (one second apart, or all in the same second) and the default
    _create_many(7, fixed_clock, distinct_times=distinct_times)
    everything = [item["id"] for item in list_page("limit=100")["data"]]
    assert len(everything) == 8 and len(set(everything)) == 8

    # When the list is walked forwards with starting_after, and backwards with ending_before from the oldest
    forward, pages = _walk_forward(limit)
    backward = _walk_backward(limit, everything[-1])

    # Then each walk sees every configuration once, in the list's newest-first order
    assert forward == everything
    assert backward == everything
    assert pages == max(1, -(-8 // limit))


def test_a_cursor_page_holds_the_neighbours_of_the_cursor(service_env: dict, fixed_clock: Clock) -> None:
    # Given 7 configurations and the default, newest first
    _create_many(7, fixed_clock, distinct_times=True)
    everything = [item["id"] for item in list_page("limit=100")["data"]]

    # When a page is asked for after and before the fourth item
    after = list_page(f"limit=2&starting_after={everything[3]}")
    before = list_page(f"limit=2&ending_before={everything[3]}")

    # Then
    assert [item["id"] for item in after["data"]] == everything[4:6]
    assert after["has_more"] is True
    assert [item["id"] for item in before["data"]] == everything[1:3]
    assert before["has_more"] is True


def test_the_last_page_in_either_direction_says_no_more(service_env: dict, fixed_clock: Clock) -> None:
    # Given
    _create_many(3, fixed_clock, distinct_times=True)
    everything = [item["id"] for item in list_page("limit=100")["data"]]

    # When
    after_oldest = list_page(f"starting_after={everything[-1]}")
    before_newest = list_page(f"ending_before={everything[0]}")

    # Then
    assert (after_oldest["data"], after_oldest["has_more"]) == ([], False)
    assert (before_newest["data"], before_newest["has_more"]) == ([], False)


def test_list_filters_on_active(service_env: dict, fixed_clock: Clock) -> None:
    # Given 7 configurations, 3 of them deactivated
    ids = _create_many(7, fixed_clock, distinct_times=True)
    inactive = set(ids[1:6:2])
    for configuration_id in inactive:
        assert update(configuration_id, "active=false")["statusCode"] == 200

    # When
    active_page = list_page("active=true&limit=100")
    inactive_page = list_page("active=false&limit=100")

    # Then
    assert {item["id"] for item in inactive_page["data"]} == inactive
    assert all(item["active"] is False for item in inactive_page["data"])
    assert {item["id"] for item in active_page["data"]} == (set(ids) - inactive) | {DEFAULT_IDS[TEST_KEY]}
    assert all(item["active"] is True for item in active_page["data"])


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_filtered_pagination_walks_every_match_exactly_once(service_env: dict, fixed_clock: Clock, limit: int) -> None:
    # Given 7 configurations, every other one deactivated
    ids = _create_many(7, fixed_clock, distinct_times=True)
    for configuration_id in ids[::2]:
        assert update(configuration_id, "active=false")["statusCode"] == 200
    expected = [item["id"] for item in list_page("limit=100&active=false")["data"]]
    assert expected == ids[::2][::-1]

    # When the inactive ones are walked in both directions
    forward, _pages = _walk_forward(limit, "&active=false")
    backward = _walk_backward(limit, expected[-1], "&active=false")

    # Then
    assert forward == expected
    assert backward == expected


@pytest.mark.parametrize(("value", "expect_default"), [("true", True), ("false", False)])
def test_list_filters_on_is_default(service_env: dict, fixed_clock: Clock, value: str, expect_default: bool) -> None:
    # Given
    ids = _create_many(4, fixed_clock, distinct_times=True)

    # When
    page = list_page(f"is_default={value}&limit=100")

    # Then
    found = [item["id"] for item in page["data"]]
    if expect_default:
        assert found == [DEFAULT_IDS[TEST_KEY]]
    else:
        assert found == ids[::-1]


def test_test_mode_keys_never_see_live_configurations(service_env: dict, fixed_clock: Clock) -> None:
    # Given configurations in both modes, interleaved in time
    live_ids, test_ids = [], []
    for _ in range(4):
        fixed_clock.tick()
        live_ids.append(create_configuration(key=LIVE_KEY)["id"])
        fixed_clock.tick()
        test_ids.append(create_configuration(key=TEST_KEY)["id"])

    # When each mode lists (also page by page)
    test_page = list_page("limit=100", key=TEST_KEY)
    live_page = list_page("limit=100", key=LIVE_KEY)
    test_walk, _pages = _walk_forward(2)

    # Then each sees only its own
    assert all(item["livemode"] is False for item in test_page["data"])
    assert all(item["livemode"] is True for item in live_page["data"])
    assert {item["id"] for item in test_page["data"]} == {*test_ids, DEFAULT_IDS[TEST_KEY]}
    assert {item["id"] for item in live_page["data"]} == {*live_ids, DEFAULT_IDS[LIVE_KEY]}
    assert set(test_walk) == {*test_ids, DEFAULT_IDS[TEST_KEY]}


def test_a_cursor_of_the_other_mode_is_refused(service_env: dict) -> None:
    # Given a live configuration
    live = create_configuration(key=LIVE_KEY)

    # When a test key pages from it
    response = call("GET", COLLECTION, query=f"starting_after={live['id']}")

    # Then
    assert response["statusCode"] == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == ("resource_missing", "starting_after")


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        ("limit=0", "parameter_invalid", "limit"),
        ("limit=101", "parameter_invalid", "limit"),
        ("limit=ten", "parameter_invalid_integer", "limit"),
        ("active=yes", "parameter_invalid", "active"),
        ("starting_after=bpc_nope", "resource_missing", "starting_after"),
        ("ending_before=bpc_nope", "resource_missing", "ending_before"),
        ("expand[]=data.customer", "parameter_invalid", "expand"),
    ],
)
def test_invalid_list_queries_get_stripe_errors(service_env: dict, query: str, code: str, param: str) -> None:
    # When
    response = call("GET", COLLECTION, query=query)

    # Then
    assert response["statusCode"] == 400
    error = error_of(response)
    assert (error["code"], error["param"]) == (code, param)


def test_list_refuses_both_cursors(service_env: dict) -> None:
    # When
    response = call("GET", COLLECTION, query="starting_after=bpc_a&ending_before=bpc_b")

    # Then
    assert response["statusCode"] == 400
    assert error_of(response)["param"] in ("starting_after", "ending_before")


def test_list_with_data_expansions_still_validates(service_env: dict) -> None:
    # Given
    create_configuration()

    # When
    page = list_page("expand[]=data.features&expand[]=data.business_profile")

    # Then
    assert len(page["data"]) == 2


# Every call: unknown parameters, authentication


def _calls(configuration_id: str) -> dict[str, tuple[str, str, str, str]]:
    """(method, path, body, query) of each configuration call, with one unknown parameter `colour`."""
    return {
        "create": ("POST", COLLECTION, "features[invoice_history][enabled]=true&colour=blue", ""),
        "list": ("GET", COLLECTION, "", "colour=blue"),
        "retrieve": ("GET", f"{COLLECTION}/{configuration_id}", "", "colour=blue"),
        "update": ("POST", f"{COLLECTION}/{configuration_id}", "name=x&colour=blue", ""),
        "update nested": ("POST", f"{COLLECTION}/{configuration_id}", "business_profile[colour]=blue", ""),
        "create nested": ("POST", COLLECTION, "features[invoice_history][enabled]=true&features[colour]=x", ""),
    }


@pytest.mark.parametrize("name", ["create", "list", "retrieve", "update", "update nested", "create nested"])
def test_unknown_parameters_are_refused_on_every_call(service_env: dict, name: str) -> None:
    # Given an existing configuration
    created = create_configuration("features[invoice_history][enabled]=true&name=Original")
    method, path, body, query = _calls(created["id"])[name]

    # When
    response = call(method, path, body=body, query=query)

    # Then
    assert response["statusCode"] == 400
    error = error_of(response)
    assert error["code"] == "parameter_unknown"
    assert error["param"] in ("colour", "business_profile[colour]", "features[colour]")
    assert error["message"] == f"Received unknown parameter: {error['param']}"
    assert json_body(retrieve(created["id"]))["name"] == "Original"


@pytest.mark.parametrize("name", ["create", "list", "retrieve", "update"])
def test_a_request_without_a_key_is_401(service_env: dict, name: str) -> None:
    # Given
    created = create_configuration()
    method, path, _body, _query = _calls(created["id"])[name]
    body = "features[invoice_history][enabled]=true" if method == "POST" else ""

    # When
    response = call(method, path, body=body, key=None)

    # Then
    assert response["statusCode"] == 401
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("You did not provide an API key.")


@pytest.mark.parametrize("name", ["create", "list", "retrieve", "update"])
def test_a_request_with_a_wrong_key_is_401(service_env: dict, name: str) -> None:
    # Given
    created = create_configuration()
    method, path, _body, _query = _calls(created["id"])[name]
    body = "features[invoice_history][enabled]=true" if method == "POST" else ""

    # When
    response = call(method, path, body=body, key="sk_test_NotAConfiguredKey000000Zz9q")

    # Then
    assert response["statusCode"] == 401
    assert "sk_test_NotAConfiguredKey000000Zz9q" not in response["body"]


def test_http_basic_auth_works_for_configurations(service_env: dict) -> None:
    # Given curl's `-u sk_test_…:`
    basic = "Basic " + base64.b64encode(f"{TEST_KEY}:".encode()).decode()

    # When
    response = call("GET", COLLECTION, key=None, headers={"authorization": basic})

    # Then
    assert response["statusCode"] == 200


def test_every_object_seen_through_the_api_validates(service_env: dict, fixed_clock: Clock) -> None:
    # Given configurations made with many parameter combinations, then updated
    bodies = [
        "features[subscription_update][enabled]=true&features[subscription_update][products][0][product]=prod_1"
        "&features[subscription_update][products][0][prices][0]=price_1"
        "&features[subscription_update][products][0][adjustable_quantity][enabled]=true"
        "&features[subscription_update][products][0][adjustable_quantity][maximum]=5",
        "features[subscription_cancel][enabled]=true&features[subscription_cancel][cancellation_reason][enabled]=true"
        "&features[subscription_cancel][cancellation_reason][options][]=unused",
        "features[subscription_update][enabled]=false"
        "&features[subscription_update][schedule_at_period_end][conditions][0][type]=shortening_interval",
        "features[customer_update][enabled]=true&features[customer_update][allowed_updates]=",
        "features[payment_method_update][enabled]=true&features[payment_method_update][payment_method_configuration]=pmc_1",
        "features[invoice_history][enabled]=true&login_page[enabled]=true&metadata[k]=v",
    ]
    seen = []
    for body in bodies:
        fixed_clock.tick()
        created = create_configuration(body)
        seen.append(created)
        updated = update(created["id"], "features[subscription_update][products]=&business_profile[headline]=H")
        assert updated["statusCode"] == 200, updated["body"]
        seen.append(json_body(updated))
        seen.append(json_body(retrieve(created["id"])))

    # When the list is read too
    seen.extend(list_page("limit=100")["data"])

    # Then every one is Stripe's shape
    for configuration in seen:
        assert schema_errors("billing_portal.configuration", configuration) == []


# Concurrent updates (optimistic versioning in the store)


def test_a_stale_replace_is_refused_by_the_store(service_env: dict) -> None:
    # Given a configuration read twice (version 1)
    created = create_configuration()
    store = ConfigurationStore(service_env["TABLE_NAME"])
    first = store.get(created["id"])
    second = store.get(created["id"])
    assert first is not None and second is not None and first.version == second.version == 1

    # When both write back, the second from its stale read
    store.replace({**first.configuration, "name": "first"}, first.version)

    # Then the stale write fails and the first one stays
    with pytest.raises(ConditionFailedError):
        store.replace({**second.configuration, "name": "second"}, second.version)
    stored = store.get(created["id"])
    assert stored is not None
    assert (stored.version, stored.configuration["name"]) == (2, "first")


def test_an_update_racing_another_keeps_both_changes(service_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a configuration, and another writer that lands between this update's read and write
    created = create_configuration()
    original_replace = ConfigurationStore.replace
    raced = []

    def replace_after_a_concurrent_update(self: ConfigurationStore, configuration: dict, expected_version: int) -> None:
        if not raced:
            raced.append(True)
            current = self.get(created["id"])
            assert current is not None
            original_replace(self, {**current.configuration, "name": "from the other writer"}, current.version)
        original_replace(self, configuration, expected_version)

    monkeypatch.setattr(ConfigurationStore, "replace", replace_after_a_concurrent_update)

    # When
    response = update(created["id"], "default_return_url=https://example.com/mine")

    # Then the update was re-applied on top of the other writer's change, so neither is lost
    assert response["statusCode"] == 200, response["body"]
    stored = json_body(retrieve(created["id"]))
    assert stored["name"] == "from the other writer"
    assert stored["default_return_url"] == "https://example.com/mine"


# Login page and Idempotency-Key through the handler


def test_an_enabled_login_page_links_to_the_portals_login_page(service_env: dict) -> None:
    # Given / When a configuration is created with its login page enabled
    created = create_configuration("features[invoice_history][enabled]=true&login_page[enabled]=true")

    # Then its URL is on the configured portal login page and names the configuration
    assert created["login_page"]["enabled"] is True
    assert created["login_page"]["url"].startswith(service_env["PORTAL_LOGIN_URL"] + "?")
    assert f"configuration={created['id']}" in created["login_page"]["url"]
    assert schema_errors("billing_portal.configuration", created) == []

    # And disabling it removes the URL
    disabled = json_body(update(created["id"], "login_page[enabled]=false"))
    assert disabled["login_page"] == {"enabled": False, "url": None}


def test_a_create_retried_with_the_same_idempotency_key_creates_one_configuration(service_env: dict) -> None:
    # Given a create with an Idempotency-Key
    body = "features[invoice_history][enabled]=true&name=Once"
    first = call("POST", COLLECTION, body=body, headers={"idempotency-key": "cfg-1"})
    assert first["statusCode"] == 200, first["body"]

    # When it is retried with the same key
    again = call("POST", COLLECTION, body=body, headers={"idempotency-key": "cfg-1"})

    # Then the first configuration comes back, and only one exists
    assert again["statusCode"] == 200
    assert json_body(again) == json_body(first)
    assert again["headers"].get("Idempotent-Replayed") == "true"
    named = [item for item in list_page("limit=100")["data"] if item["name"] == "Once"]
    assert [item["id"] for item in named] == [json_body(first)["id"]]
