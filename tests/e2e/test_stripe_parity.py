"""Stripe parity through Stripe's own Python SDK: portal configurations (create, retrieve, update, list and its
pagination), sessions with every flow, `after_completion` and configuration rule, `Idempotency-Key` replays and
conflicts, `Stripe-Version` pinning, and the recovery of an expired session through the portal's login page.

Every object the service answers with is checked against Stripe's published schema (tests/reference), from the raw
JSON the SDK received (`obj.last_response.body`), not from the SDK's parsed objects.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import stripe

from tests.support.contract import published_component, schema_errors
from tests.support.local_service import LocalService
from tests.support.sdk import portal_page_fields, raw_json, session_key, url_token

LATEST_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 sends, and what adds the newer flows and after_expiration
OLDER_VERSION = "2026-07-29.dahlia"  # the version of the reference spec in tests/reference
DEFAULT_CONFIGURATION = "bpc_DefaultTestConfiguration"
LIST_URL = "/v1/billing_portal/configurations"
RETURN_URL = "https://example.com/account"
CONFIGURATION_ID = re.compile(r"^bpc_[A-Za-z0-9]{24}$")
INVOICES_ONLY = {"invoice_history": {"enabled": True}}  # the SDK sends nothing for an empty hash
RUN = secrets.token_hex(6)  # tags this module's configurations in their metadata


# Helpers


def header(obj: stripe.StripeObject, name: str) -> str | None:
    assert obj.last_response is not None
    return obj.last_response.headers.get(name)


def session_properties() -> set[str]:
    """The fields of Stripe's session object in the reference spec (2026-07-29)."""
    return set(published_component("billing_portal.session")["properties"])


def assert_configuration_list(body: dict[str, Any], *, has_more: bool) -> list[str]:
    """Stripe's list object around configurations; returns the ids in the order given."""
    assert body["object"] == "list"
    assert body["url"] == LIST_URL
    assert body["has_more"] is has_more
    assert set(body) == {"object", "data", "has_more", "url"}
    for item in body["data"]:
        assert schema_errors("billing_portal.configuration", item) == [], item["id"]
    return [item["id"] for item in body["data"]]


def error_of(raised: pytest.ExceptionInfo[stripe.StripeError]) -> stripe.StripeError:
    error = raised.value
    assert schema_errors("error", error.json_body) == [], error.json_body
    assert (error.request_id or "").startswith("req_"), error.request_id
    return error


def stored_sessions_with_id(service: LocalService, session_id: str) -> int:
    """How many session items the table holds for this session id (moto's scan: the test table is small)."""
    found = 0
    scan: dict[str, Any] = {
        "TableName": service.table_name,
        "FilterExpression": "session_id = :id",
        "ExpressionAttributeValues": {":id": {"S": session_id}},
        "ConsistentRead": True,
    }
    while True:
        page = service.dynamodb().scan(**scan)
        found += page["Count"]
        if "LastEvaluatedKey" not in page:
            return found
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def all_features() -> dict[str, Any]:
    """Every feature switched on, each with non-default settings."""
    return {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "tax_id"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "immediately",
            "proration_behavior": "create_prorations",
            "cancellation_reason": {"enabled": True, "options": ["too_expensive", "other"]},
        },
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "products": [
                {
                    "product": "prod_E2eGold",
                    "prices": ["price_E2eMonthly", "price_E2eYearly"],
                    "adjustable_quantity": {"enabled": True, "maximum": 5},
                }
            ],
            "proration_behavior": "always_invoice",
            "billing_cycle_anchor": "now",
            "schedule_at_period_end": {"conditions": [{"type": "decreasing_item_amount"}]},
            "trial_update_behavior": "continue_trial",
        },
    }


ALL_FEATURES_OBJECT = {
    "customer_update": {"allowed_updates": ["email", "tax_id"], "enabled": True},
    "invoice_history": {"enabled": True},
    "payment_method_update": {"enabled": True, "payment_method_configuration": None},
    "subscription_cancel": {
        "cancellation_reason": {"enabled": True, "options": ["too_expensive", "other"]},
        "enabled": True,
        "mode": "immediately",
        "proration_behavior": "create_prorations",
    },
    "subscription_update": {
        "billing_cycle_anchor": "now",
        "default_allowed_updates": ["price", "quantity"],
        "enabled": True,
        "products": [
            {
                "adjustable_quantity": {"enabled": True, "maximum": 5, "minimum": 1},
                "prices": ["price_E2eMonthly", "price_E2eYearly"],
                "product": "prod_E2eGold",
            }
        ],
        "proration_behavior": "always_invoice",
        "schedule_at_period_end": {"conditions": [{"type": "decreasing_item_amount"}]},
        "trial_update_behavior": "continue_trial",
    },
}


# Fixtures


@pytest.fixture(scope="module")
def banner(service: LocalService, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The runner's start-up banner, from the output the `service` fixture keeps in pytest's temporary directory."""
    outputs: list[Path] = sorted(tmp_path_factory.getbasetemp().glob("local_gateway*/run*.stdout"))
    mine = [text for text in (path.read_text() for path in outputs) if f"on {service.base_url}\n" in text]
    assert mine, f"no runner output for {service.base_url} among {outputs}"
    return mine[-1]


@pytest.fixture(scope="module")
def login_url(banner: str) -> str:
    found = re.search(r"Portal login \(recovery of expired sessions\): (\S+)", banner)
    assert found, banner
    return found.group(1)


@dataclass(frozen=True)
class Configurations:
    full: str  # every feature on (subscription_update included), with a default_return_url
    bare: str  # invoice history only, no default_return_url
    inactive: str  # deactivated


@pytest.fixture(scope="module")
def configurations(client: stripe.StripeClient) -> Configurations:
    create = client.v1.billing_portal.configurations.create
    full = create(
        params={
            "features": all_features(),
            "default_return_url": "https://example.com/from-configuration",
            "metadata": {"run": RUN, "role": "full"},
        }
    )
    bare = create(params={"features": INVOICES_ONLY, "metadata": {"run": RUN, "role": "bare"}})
    inactive = create(params={"features": INVOICES_ONLY, "metadata": {"run": RUN, "role": "inactive"}})
    client.v1.billing_portal.configurations.update(inactive.id, params={"active": False})
    return Configurations(full=full.id, bare=bare.id, inactive=inactive.id)


def create_session(client: stripe.StripeClient, options: Any = None, **params: Any) -> stripe.billing_portal.Session:
    return client.v1.billing_portal.sessions.create(
        params={"customer": "cus_E2eParity", **params}, options=options or {}
    )


# The runner


def test_the_banner_names_the_portal_login_page_after_the_portal(service: LocalService, banner: str) -> None:
    # Given the runner started by the e2e fixture
    # When its banner is read
    lines = [line.strip() for line in banner.splitlines()]

    # Then the login page used to recover expired sessions is announced right after the portal, on this server
    portal = lines.index(f"Portal: {service.portal_url}")
    assert lines[portal + 1] == f"Portal login (recovery of expired sessions): {service.base_url}/_local/portal/login"


# Configurations: create, retrieve, update


def test_the_default_configuration_is_retrievable_with_its_everyday_features(client: stripe.StripeClient) -> None:
    # Given a test-mode key
    # When the SDK retrieves the mode's default configuration
    configuration = client.v1.billing_portal.configurations.retrieve(DEFAULT_CONFIGURATION)

    # Then it is the default, active, with everything but subscription updates switched on
    body = raw_json(configuration)
    assert isinstance(configuration, stripe.billing_portal.Configuration)
    assert (body["id"], body["is_default"], body["active"], body["livemode"]) == (
        DEFAULT_CONFIGURATION,
        True,
        True,
        False,
    )
    assert {name: feature["enabled"] for name, feature in body["features"].items()} == {
        "customer_update": True,
        "invoice_history": True,
        "payment_method_update": True,
        "subscription_cancel": True,
        "subscription_update": False,
    }
    assert schema_errors("billing_portal.configuration", body) == []


def test_create_round_trips_every_field_and_retrieve_returns_the_same(
    client: stripe.StripeClient, login_url: str
) -> None:
    # Given a configuration with every create parameter set
    params = {
        "name": "Parity portal",
        "default_return_url": "https://example.com/billing",
        "business_profile": {
            "headline": "Manage your plan",
            "privacy_policy_url": "https://example.com/privacy",
            "terms_of_service_url": "https://example.com/terms",
        },
        "features": all_features(),
        "login_page": {"enabled": True},
        "metadata": {"run": RUN, "team": "billing"},
    }

    # When the SDK creates it, then retrieves it
    created = client.v1.billing_portal.configurations.create(params=params)
    retrieved = client.v1.billing_portal.configurations.retrieve(created.id)

    # Then the configuration is Stripe's object with exactly what was given, and retrieve returns the same JSON
    body = raw_json(created)
    assert isinstance(created, stripe.billing_portal.Configuration)
    assert isinstance(retrieved, stripe.billing_portal.Configuration)
    assert CONFIGURATION_ID.match(body["id"]), body["id"]
    assert abs(body["created"] - time.time()) < 60 and body["updated"] == body["created"]
    assert body == {
        "id": created.id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": params["business_profile"],
        "created": body["created"],
        "default_return_url": "https://example.com/billing",
        "features": ALL_FEATURES_OBJECT,
        "is_default": False,
        "livemode": False,
        "login_page": {"enabled": True, "url": f"{login_url}?configuration={created.id}"},
        "metadata": {"run": RUN, "team": "billing"},
        "name": "Parity portal",
        "updated": body["updated"],
    }
    assert schema_errors("billing_portal.configuration", body) == []
    assert raw_json(retrieved) == body


def test_features_not_given_are_off_with_stripes_defaults(client: stripe.StripeClient) -> None:
    # Given only the invoice history feature
    # When the SDK creates the configuration
    configuration = client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}, "metadata": {"run": RUN}}
    )

    # Then every other feature is there, switched off, and the optional fields are null
    body = raw_json(configuration)
    assert body["features"] == {
        "customer_update": {"allowed_updates": [], "enabled": False},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": False, "payment_method_configuration": None},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": False, "options": []},
            "enabled": False,
            "mode": "at_period_end",
            "proration_behavior": "none",
        },
        "subscription_update": {
            "billing_cycle_anchor": None,
            "default_allowed_updates": [],
            "enabled": False,
            "products": None,
            "proration_behavior": "none",
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial",
        },
    }
    assert body["business_profile"] == {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None}
    assert (body["default_return_url"], body["name"], body["login_page"]) == (
        None,
        None,
        {"enabled": False, "url": None},
    )
    assert schema_errors("billing_portal.configuration", body) == []


def test_update_merges_hashes_and_empty_strings_reset(client: stripe.StripeClient) -> None:
    # Given a configuration with a profile, a return URL, a login page and metadata
    created = client.v1.billing_portal.configurations.create(
        params={
            "name": "Before",
            "default_return_url": "https://example.com/before",
            "business_profile": {"headline": "Old headline", "privacy_policy_url": "https://example.com/privacy"},
            "features": {
                "invoice_history": {"enabled": True},
                "customer_update": {"enabled": False},
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "products": [{"product": "prod_E2e", "prices": ["price_E2e"]}],
                },
            },
            "login_page": {"enabled": True},
            "metadata": {"run": RUN, "keep": "yes", "drop": "soon"},
        }
    )

    # When the SDK updates some fields, resets others with "" and switches the login page off
    updated = client.v1.billing_portal.configurations.update(
        created.id,
        params={
            "name": "After",
            "default_return_url": "",
            "business_profile": {"headline": ""},
            "features": {
                "customer_update": {"enabled": True, "allowed_updates": ["address"]},
                "subscription_update": {"default_allowed_updates": "", "products": ""},
            },
            "login_page": {"enabled": False},
            "metadata": {"drop": "", "added": "1"},
        },
    )
    retrieved = client.v1.billing_portal.configurations.retrieve(created.id)

    # Then given fields changed, nested hashes merged, "" reset, and retrieve returns the updated object
    before, after = raw_json(created), raw_json(updated)
    assert after["name"] == "After"
    assert after["default_return_url"] is None
    assert after["business_profile"] == {
        "headline": None,
        "privacy_policy_url": "https://example.com/privacy",
        "terms_of_service_url": None,
    }
    assert after["features"]["customer_update"] == {"allowed_updates": ["address"], "enabled": True}
    assert after["features"]["invoice_history"] == {"enabled": True}
    subscription_update = after["features"]["subscription_update"]
    assert (subscription_update["enabled"], subscription_update["default_allowed_updates"]) == (True, [])
    assert subscription_update["products"] is None
    assert raw_json(created)["features"]["subscription_update"]["products"] == [
        {
            "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1},
            "prices": ["price_E2e"],
            "product": "prod_E2e",
        }
    ]
    assert after["login_page"] == {"enabled": False, "url": None}
    assert after["metadata"] == {"run": RUN, "keep": "yes", "added": "1"}
    assert (after["id"], after["created"]) == (before["id"], before["created"])
    assert after["updated"] >= before["updated"]
    assert schema_errors("billing_portal.configuration", after) == []
    assert raw_json(retrieved) == after


def test_update_with_metadata_empty_clears_it_and_active_false_deactivates(client: stripe.StripeClient) -> None:
    # Given a configuration with metadata
    created = client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}, "metadata": {"a": "1", "b": "2"}}
    )

    # When the SDK clears its metadata and deactivates it
    updated = client.v1.billing_portal.configurations.update(created.id, params={"metadata": "", "active": False})

    # Then it has no metadata and is inactive
    body = raw_json(updated)
    assert (body["metadata"], body["active"]) == ({}, False)
    assert isinstance(updated, stripe.billing_portal.Configuration)
    assert schema_errors("billing_portal.configuration", body) == []


# Configurations: list


def test_list_is_a_stripe_list_object_and_auto_paging_walks_everything_once(
    client: stripe.StripeClient, configurations: Configurations
) -> None:
    # Given the default configuration and several created ones
    configurations_api = client.v1.billing_portal.configurations
    everything = configurations_api.list(params={"limit": 100})
    ids = assert_configuration_list(raw_json(everything), has_more=False)

    # When the SDK lists with the default limit, and walks the list two at a time
    default_page = configurations_api.list()
    first_page = configurations_api.list(params={"limit": 2})
    walked = [configuration.id for configuration in first_page.auto_paging_iter()]

    # Then every configuration comes exactly once, newest first, as one large page has them
    assert isinstance(everything, stripe.ListObject)
    assert all(isinstance(item, stripe.billing_portal.Configuration) for item in everything.data)
    assert len(ids) == len(set(ids)) >= 4
    assert {DEFAULT_CONFIGURATION, configurations.full, configurations.bare, configurations.inactive} <= set(ids)
    assert walked == ids
    created = [item["created"] for item in raw_json(everything)["data"]]
    assert created == sorted(created, reverse=True)
    assert assert_configuration_list(raw_json(first_page), has_more=True) == ids[:2]
    assert assert_configuration_list(raw_json(default_page), has_more=len(ids) > 10) == ids[:10]


def test_starting_after_and_ending_before_page_around_a_cursor(
    client: stripe.StripeClient, configurations: Configurations
) -> None:
    # Given the whole list, in order
    configurations_api = client.v1.billing_portal.configurations
    ids = [item["id"] for item in raw_json(configurations_api.list(params={"limit": 100}))["data"]]
    assert len(ids) >= 4

    # When pages of two are asked for after the second item and before the third
    after = configurations_api.list(params={"limit": 2, "starting_after": ids[1]})
    before = configurations_api.list(params={"limit": 2, "ending_before": ids[2]})
    last = configurations_api.list(params={"limit": 2, "starting_after": ids[-3]})

    # Then each holds the cursor's neighbours in list order, and has_more says whether more lie that way
    assert assert_configuration_list(raw_json(after), has_more=len(ids) > 4) == ids[2:4]
    assert assert_configuration_list(raw_json(before), has_more=False) == ids[0:2]
    assert assert_configuration_list(raw_json(last), has_more=False) == ids[-2:]


def test_auto_paging_from_ending_before_walks_back_to_the_newest(
    client: stripe.StripeClient, configurations: Configurations
) -> None:
    # Given the whole list, in order
    configurations_api = client.v1.billing_portal.configurations
    ids = [item["id"] for item in raw_json(configurations_api.list(params={"limit": 100}))["data"]]

    # When the SDK pages backwards from before the oldest, one at a time
    walked = [
        item.id for item in configurations_api.list(params={"limit": 1, "ending_before": ids[-1]}).auto_paging_iter()
    ]

    # Then it meets every newer configuration exactly once, newest last
    assert walked == ids[-2::-1]


def test_list_filters_on_active_and_is_default(client: stripe.StripeClient, configurations: Configurations) -> None:
    # Given an inactive configuration among active ones, and the default
    configurations_api = client.v1.billing_portal.configurations

    # When the SDK lists with each filter (one at a time for the inactive ones, to page through the filter)
    inactive = configurations_api.list(params={"active": False, "limit": 1})
    inactive_ids = [item.id for item in inactive.auto_paging_iter()]
    active = configurations_api.list(params={"active": True, "limit": 100})
    defaults = configurations_api.list(params={"is_default": True})
    others = configurations_api.list(params={"is_default": False, "limit": 100})

    # Then each holds exactly the matching configurations
    active_ids = assert_configuration_list(raw_json(active), has_more=False)
    assert configurations.inactive in inactive_ids and len(inactive_ids) == len(set(inactive_ids))
    assert all(item["active"] is False for item in raw_json(inactive)["data"])
    assert configurations.inactive not in active_ids and configurations.full in active_ids
    assert all(item["active"] is True for item in raw_json(active)["data"])
    assert assert_configuration_list(raw_json(defaults), has_more=False) == [DEFAULT_CONFIGURATION]
    other_ids = assert_configuration_list(raw_json(others), has_more=False)
    assert DEFAULT_CONFIGURATION not in other_ids and configurations.bare in other_ids
    assert set(active_ids) | set(inactive_ids) == {DEFAULT_CONFIGURATION, *other_ids}


# Configurations: errors


@pytest.mark.parametrize(
    ("call", "status", "code", "param"),
    [
        (lambda api: api.create(params={"metadata": {"a": "b"}}), 400, "parameter_missing", "features"),
        (
            lambda api: api.create(params={"features": INVOICES_ONLY, "colour": "red"}),
            400,
            "parameter_unknown",
            "colour",
        ),
        (
            lambda api: api.create(params={"features": INVOICES_ONLY, "business_profile": {"headline": "x" * 61}}),
            400,
            "parameter_invalid",
            "business_profile[headline]",
        ),
        (
            lambda api: api.create(params={"features": INVOICES_ONLY, "default_return_url": "not a url"}),
            400,
            "url_invalid",
            "default_return_url",
        ),
        (lambda api: api.update(DEFAULT_CONFIGURATION, params={"active": False}), 400, None, "active"),
        (
            lambda api: api.retrieve(DEFAULT_CONFIGURATION, params={"expand": ["owner"]}),
            400,
            "parameter_invalid",
            "expand",
        ),
        (
            lambda api: api.list(
                params={"starting_after": DEFAULT_CONFIGURATION, "ending_before": DEFAULT_CONFIGURATION}
            ),
            400,
            "parameters_exclusive",
            "ending_before",
        ),
        (lambda api: api.list(params={"limit": 101}), 400, "parameter_invalid", "limit"),
        (
            lambda api: api.list(params={"starting_after": "bpc_NoSuchCursor"}),
            400,
            "resource_missing",
            "starting_after",
        ),
    ],
    ids=[
        "create-without-features",
        "unknown-parameter",
        "headline-too-long",
        "invalid-return-url",
        "deactivate-default",
        "unexpandable",
        "both-cursors",
        "limit-over-100",
        "unknown-cursor",
    ],
)
def test_invalid_configuration_calls_raise_invalid_request_error(
    client: stripe.StripeClient, call: Callable[[Any], Any], status: int, code: str | None, param: str
) -> None:
    # Given a call Stripe refuses
    # When the SDK makes it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call(client.v1.billing_portal.configurations)

    # Then the SDK raises InvalidRequestError naming the parameter
    error = error_of(raised)
    assert (error.http_status, error.code, error.param) == (status, code, param), error.json_body
    assert error.json_body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("operation", ["retrieve", "update"])
def test_a_missing_configuration_is_404_resource_missing(client: stripe.StripeClient, operation: str) -> None:
    # Given a configuration id nobody created
    missing = "bpc_" + secrets.token_hex(12)

    # When the SDK retrieves or updates it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        if operation == "retrieve":
            client.v1.billing_portal.configurations.retrieve(missing)
        else:
            client.v1.billing_portal.configurations.update(missing, params={"name": "x"})

    # Then it is Stripe's 404 resource_missing on the path's id, for either call
    error = error_of(raised)
    assert (error.http_status, error.code, error.param) == (404, "resource_missing", "id"), error.json_body
    assert error.user_message == f"No such configuration: '{missing}'"


@pytest.mark.parametrize("operation", ["list", "create", "retrieve"])
def test_a_wrong_key_raises_authentication_error_on_configurations(service: LocalService, operation: str) -> None:
    # Given a client with a key the service does not know
    wrong = stripe.StripeClient(
        "sk_test_" + secrets.token_hex(12), base_addresses={"api": service.base_url}, max_network_retries=0
    )
    calls = {
        "list": lambda: wrong.v1.billing_portal.configurations.list(),
        "create": lambda: wrong.v1.billing_portal.configurations.create(params={"features": {}}),
        "retrieve": lambda: wrong.v1.billing_portal.configurations.retrieve(DEFAULT_CONFIGURATION),
    }

    # When the SDK calls with it
    with pytest.raises(stripe.AuthenticationError) as raised:
        calls[operation]()

    # Then it is refused with 401
    error = error_of(raised)
    assert error.http_status == 401
    assert error.user_message.startswith("Invalid API Key provided: sk_test_")


# Sessions: flows, after_completion, configuration, expand


FLOW_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # flow type: (flow_data without type, the flow's own field as the session shows it)
    "payment_method_update": ({}, {}),
    "subscription_cancel": (
        {
            "subscription_cancel": {
                "subscription": "sub_E2eCancel",
                "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "STAY20"}},
            }
        },
        {
            "subscription_cancel": {
                "retention": {"coupon_offer": {"coupon": "STAY20"}, "type": "coupon_offer"},
                "subscription": "sub_E2eCancel",
            }
        },
    ),
    "subscription_update": (
        {"subscription_update": {"subscription": "sub_E2eUpdate"}},
        {"subscription_update": {"subscription": "sub_E2eUpdate"}},
    ),
    "subscription_update_confirm": (
        {
            "subscription_update_confirm": {
                "subscription": "sub_E2eConfirm",
                "items": [{"id": "si_E2eItem", "price": "price_E2eYearly", "quantity": 2}],
                "discounts": [{"coupon": "WELCOME"}],
            }
        },
        {
            "subscription_update_confirm": {
                "discounts": [{"coupon": "WELCOME", "promotion_code": None}],
                "items": [{"id": "si_E2eItem", "price": "price_E2eYearly", "quantity": 2}],
                "subscription": "sub_E2eConfirm",
            }
        },
    ),
    "customer_update": ({}, {"customer_update": {}}),
    "subscription_pause": (
        {"subscription_pause": {"subscription": "sub_E2ePause"}},
        {"subscription_pause": {"subscription": "sub_E2ePause"}},
    ),
}

AFTER_COMPLETION_CASES: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    # name: (after_completion given, after_completion shown)
    "default": (None, {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"}),
    "portal_homepage": (
        {"type": "portal_homepage"},
        {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"},
    ),
    "hosted_confirmation": (
        {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": "Thanks, all done."}},
        {
            "hosted_confirmation": {"custom_message": "Thanks, all done."},
            "redirect": None,
            "type": "hosted_confirmation",
        },
    ),
    "hosted_confirmation-without-message": (
        {"type": "hosted_confirmation"},
        {"hosted_confirmation": {"custom_message": None}, "redirect": None, "type": "hosted_confirmation"},
    ),
    "redirect": (
        {"type": "redirect", "redirect": {"return_url": "https://example.com/done"}},
        {"hosted_confirmation": None, "redirect": {"return_url": "https://example.com/done"}, "type": "redirect"},
    ),
}


# Each flow once, the after_completion cases spread over them so that each is met at least once.
FLOW_AND_COMPLETION = list(zip(FLOW_CASES, itertools.cycle(AFTER_COMPLETION_CASES), strict=False))
assert set(AFTER_COMPLETION_CASES) <= {completion for _flow, completion in FLOW_AND_COMPLETION}


@pytest.mark.parametrize(
    ("flow_type", "after_completion"), FLOW_AND_COMPLETION, ids=[f"{f}+{c}" for f, c in FLOW_AND_COMPLETION]
)
def test_every_flow_and_every_after_completion(
    client: stripe.StripeClient, configurations: Configurations, flow_type: str, after_completion: str
) -> None:
    # Given a flow of this type on a configuration with every feature on, ending this way
    flow_params, flow_shown = FLOW_CASES[flow_type]
    completion_params, completion_shown = AFTER_COMPLETION_CASES[after_completion]
    flow_data = {"type": flow_type, **flow_params}
    if completion_params is not None:
        flow_data["after_completion"] = completion_params

    # When the SDK creates the session
    session = create_session(client, configuration=configurations.full, return_url=RETURN_URL, flow_data=flow_data)

    # Then the session shows the whole flow, every field present, nulls where nothing was given
    body = raw_json(session)
    assert isinstance(session, stripe.billing_portal.Session)
    assert body["flow"] == {
        "after_completion": completion_shown,
        "customer_update": None,
        "subscription_cancel": None,
        "subscription_pause": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
        "type": flow_type,
        **flow_shown,
    }
    assert body["configuration"] == configurations.full
    assert session.flow.type == flow_type
    assert schema_errors("billing_portal.session", body) == []


def test_a_session_without_return_url_takes_the_configurations_default(
    client: stripe.StripeClient, configurations: Configurations
) -> None:
    # Given a configuration with a default_return_url
    # When the SDK creates a session on it without a return_url
    session = create_session(client, configuration=configurations.full)

    # Then the session returns to the configuration's default
    assert session.return_url == "https://example.com/from-configuration"
    assert session.configuration == configurations.full
    assert schema_errors("billing_portal.session", raw_json(session)) == []


def test_a_session_without_configuration_uses_the_default(client: stripe.StripeClient) -> None:
    # Given no configuration parameter
    # When the SDK creates a session
    session = create_session(client, return_url=RETURN_URL)

    # Then it uses the mode's default configuration, and shows the newer version's fields
    body = raw_json(session)
    assert body["configuration"] == DEFAULT_CONFIGURATION
    assert body["after_expiration"] is None
    assert session_properties() <= set(body)
    assert schema_errors("billing_portal.session", body) == []


def test_expand_configuration_returns_the_sessions_configuration_object(
    client: stripe.StripeClient, configurations: Configurations
) -> None:
    # Given a session on a created configuration, with the configuration expanded
    # When the SDK creates it
    session = create_session(client, configuration=configurations.full, expand=["configuration"])
    retrieved = client.v1.billing_portal.configurations.retrieve(configurations.full)

    # Then the configuration is the SDK's Configuration object, the same one retrieve returns
    assert isinstance(session.configuration, stripe.billing_portal.Configuration)
    assert session.configuration.id == configurations.full
    assert raw_json(session)["configuration"] == raw_json(retrieved)
    assert schema_errors("billing_portal.session", raw_json(session)) == []
    assert schema_errors("billing_portal.configuration", raw_json(session)["configuration"]) == []


@pytest.mark.parametrize("locale", ["auto", "en-GB", "es-419", "pt-BR", "zh-HK"])
def test_locale_is_shown_as_given(client: stripe.StripeClient, locale: str) -> None:
    # Given one of Stripe's locales
    # When the SDK creates a session in it
    session = create_session(client, return_url=RETURN_URL, locale=locale)

    # Then the session carries it
    assert session.locale == locale
    assert schema_errors("billing_portal.session", raw_json(session)) == []


def test_on_behalf_of_and_customer_account_are_shown_with_the_customer(client: stripe.StripeClient) -> None:
    # Given a customer, its account and a connected account to act for
    # When the SDK creates the session
    session = create_session(
        client, return_url=RETURN_URL, customer_account="acct_E2eCustomer", on_behalf_of="acct_E2eConnected"
    )

    # Then all three are shown
    body = raw_json(session)
    assert (body["customer"], body["customer_account"], body["on_behalf_of"]) == (
        "cus_E2eParity",
        "acct_E2eCustomer",
        "acct_E2eConnected",
    )
    assert schema_errors("billing_portal.session", body) == []


def test_a_session_for_a_customer_account_only_has_a_null_customer(
    service: LocalService, client: stripe.StripeClient, browser: requests.Session
) -> None:
    # Given only a customer account
    # When the SDK creates the session and the customer opens its URL
    session = client.v1.billing_portal.sessions.create(
        params={"customer_account": "acct_E2eOnly", "return_url": RETURN_URL}
    )
    redirect = browser.get(session.url, allow_redirects=False)
    portal = browser.get(redirect.headers.get("Location", ""), allow_redirects=False)

    # Then `customer` is null (the service's documented deviation: Stripe's schema has a string), nothing else
    # departs from the schema, and the portal is handed the account
    body = raw_json(session)
    assert (body["customer"], body["customer_account"]) == (None, "acct_E2eOnly")
    assert schema_errors("billing_portal.session", body) == ["customer: None is not of type 'string'"]
    assert redirect.status_code == 302 and portal.status_code == 200, portal.text
    assert portal_page_fields(portal.text)["customer"] == "acct_E2eOnly"


# Sessions: errors


def _expires_in_the_past() -> dict[str, Any]:
    return {"type": "customer_login", "customer_login": {"expires_at": int(time.time()) - 60}}


SESSION_ERRORS: dict[str, tuple[Callable[[Configurations], dict[str, Any]], str | None, str]] = {
    # name: (params from the module's configurations, code, param); all 400 invalid_request_error
    "unknown-configuration": (
        lambda c: {"configuration": "bpc_DoesNotExist", "return_url": RETURN_URL},
        "resource_missing",
        "configuration",
    ),
    "inactive-configuration": (
        lambda c: {"configuration": c.inactive, "return_url": RETURN_URL},
        None,
        "configuration",
    ),
    "subscription-update-disabled-on-default": (
        lambda c: {
            "return_url": RETURN_URL,
            "flow_data": {"type": "subscription_update", "subscription_update": {"subscription": "sub_1"}},
        },
        None,
        "flow_data[type]",
    ),
    "update-confirm-disabled-on-default": (
        lambda c: {
            "return_url": RETURN_URL,
            "flow_data": {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {"subscription": "sub_1", "items": [{"id": "si_1"}]},
            },
        },
        None,
        "flow_data[type]",
    ),
    "customer-update-disabled": (
        lambda c: {"configuration": c.bare, "return_url": RETURN_URL, "flow_data": {"type": "customer_update"}},
        None,
        "flow_data[type]",
    ),
    "payment-method-update-disabled": (
        lambda c: {"configuration": c.bare, "return_url": RETURN_URL, "flow_data": {"type": "payment_method_update"}},
        None,
        "flow_data[type]",
    ),
    "subscription-cancel-disabled": (
        lambda c: {
            "configuration": c.bare,
            "return_url": RETURN_URL,
            "flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_1"}},
        },
        None,
        "flow_data[type]",
    ),
    "no-return-url-anywhere": (lambda c: {"configuration": c.bare}, None, "return_url"),
    "invalid-return-url": (lambda c: {"return_url": "example.com/account"}, "url_invalid", "return_url"),
    "unknown-locale": (lambda c: {"return_url": RETURN_URL, "locale": "xx"}, "parameter_invalid", "locale"),
    "unexpandable": (lambda c: {"return_url": RETURN_URL, "expand": ["customer"]}, "parameter_invalid", "expand"),
    "flow-without-its-hash": (
        lambda c: {"return_url": RETURN_URL, "flow_data": {"type": "subscription_pause"}},
        "parameter_missing",
        "flow_data[subscription_pause]",
    ),
    "another-flows-hash": (
        lambda c: {
            "return_url": RETURN_URL,
            "flow_data": {
                "type": "payment_method_update",
                "subscription_cancel": {"subscription": "sub_1"},
            },
        },
        "parameter_unknown",
        "flow_data[subscription_cancel]",
    ),
    "retention-without-offer": (
        lambda c: {
            "return_url": RETURN_URL,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": "sub_1", "retention": {"type": "coupon_offer"}},
            },
        },
        "parameter_missing",
        "flow_data[subscription_cancel][retention][coupon_offer]",
    ),
    "redirect-without-url": (
        lambda c: {
            "return_url": RETURN_URL,
            "flow_data": {"type": "payment_method_update", "after_completion": {"type": "redirect"}},
        },
        "parameter_missing",
        "flow_data[after_completion][redirect]",
    ),
    "two-confirm-items": (
        lambda c: {
            "configuration": c.full,
            "flow_data": {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {"subscription": "sub_1", "items": [{"id": "si_1"}, {"id": "si_2"}]},
            },
        },
        "parameter_invalid",
        "flow_data[subscription_update_confirm][items]",
    ),
    "recovery-deadline-passed": (
        lambda c: {"return_url": RETURN_URL, "after_expiration": _expires_in_the_past()},
        "parameter_invalid",
        "after_expiration[customer_login][expires_at]",
    ),
    "unknown-after-expiration-type": (
        lambda c: {"return_url": RETURN_URL, "after_expiration": {"type": "email"}},
        "parameter_invalid",
        "after_expiration[type]",
    ),
}


@pytest.mark.parametrize("case", list(SESSION_ERRORS))
def test_invalid_session_requests_raise_invalid_request_error(
    client: stripe.StripeClient, configurations: Configurations, case: str
) -> None:
    # Given a create call Stripe refuses
    params, code, param = SESSION_ERRORS[case]

    # When the SDK sends it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create_session(client, **params(configurations))

    # Then the SDK raises InvalidRequestError with the parameter and code
    error = error_of(raised)
    assert (error.http_status, error.code, error.param) == (400, code, param), error.json_body
    assert error.json_body["error"]["type"] == "invalid_request_error"


def test_a_session_request_with_a_wrong_key_raises_authentication_error(service: LocalService) -> None:
    # Given a live-mode key the service does not know
    wrong = stripe.StripeClient(
        "sk_live_" + secrets.token_hex(12), base_addresses={"api": service.base_url}, max_network_retries=0
    )

    # When the SDK creates a session with it
    with pytest.raises(stripe.AuthenticationError) as raised:
        create_session(wrong, return_url=RETURN_URL)

    # Then it is a 401 invalid_request_error
    error = error_of(raised)
    assert error.http_status == 401
    assert error.json_body["error"]["type"] == "invalid_request_error"


# Idempotency


def test_a_retry_with_the_same_idempotency_key_replays_the_session(
    service: LocalService, client: stripe.StripeClient
) -> None:
    # Given a session created with an idempotency key
    key = "e2e-" + secrets.token_hex(8)
    params = {"return_url": RETURN_URL, "flow_data": {"type": "payment_method_update"}}
    first = create_session(client, options={"idempotency_key": key}, **params)

    # When the same request is sent again with the same key
    second = create_session(client, options={"idempotency_key": key}, **params)

    # Then the first answer comes back, marked replayed, and only one session exists
    assert header(first, "Idempotent-Replayed") is None
    assert header(second, "Idempotent-Replayed") == "true"
    assert header(first, "Idempotency-Key") == header(second, "Idempotency-Key") == key
    assert (second.id, second.url) == (first.id, first.url)
    assert raw_json(second) == raw_json(first)
    assert header(second, "Request-Id") != header(first, "Request-Id")
    assert stored_sessions_with_id(service, first.id) == 1
    assert schema_errors("billing_portal.session", raw_json(second)) == []


def test_the_sdks_own_idempotency_key_replays_on_a_retry(client: stripe.StripeClient) -> None:
    # Given a session created without choosing a key (the SDK sends one of its own on every POST)
    first = create_session(client, return_url=RETURN_URL)
    sdk_key = first.last_response.idempotency_key if first.last_response else None
    assert sdk_key, "the SDK sent no Idempotency-Key"

    # When the request is retried with that key, as the SDK does on a network failure
    retried = create_session(client, options={"idempotency_key": sdk_key}, return_url=RETURN_URL)

    # Then the retry gets the same session back
    assert header(retried, "Idempotent-Replayed") == "true"
    assert (retried.id, retried.url) == (first.id, first.url)


def test_a_configuration_create_and_update_replay_with_their_key(client: stripe.StripeClient) -> None:
    # Given a configuration created, then updated, each with its own key
    tag = secrets.token_hex(6)
    create_params = {"features": {"invoice_history": {"enabled": True}}, "metadata": {"run": RUN, "tag": tag}}
    create_key, update_key = "e2e-create-" + tag, "e2e-update-" + tag
    api = client.v1.billing_portal.configurations
    created = api.create(params=create_params, options={"idempotency_key": create_key})
    updated = api.update(created.id, params={"name": "Once"}, options={"idempotency_key": update_key})

    # When both are sent again with their keys
    created_again = api.create(params=create_params, options={"idempotency_key": create_key})
    updated_again = api.update(created.id, params={"name": "Once"}, options={"idempotency_key": update_key})

    # Then both replay, and one configuration carries the tag
    assert header(created_again, "Idempotent-Replayed") == header(updated_again, "Idempotent-Replayed") == "true"
    assert header(created, "Idempotent-Replayed") is None and header(updated, "Idempotent-Replayed") is None
    assert raw_json(created_again) == raw_json(created) and raw_json(updated_again) == raw_json(updated)
    assert isinstance(created_again, stripe.billing_portal.Configuration)
    tagged = [
        item["id"] for item in raw_json(api.list(params={"limit": 100}))["data"] if item["metadata"].get("tag") == tag
    ]
    assert tagged == [created.id]


@pytest.mark.parametrize("reuse", ["other-parameters", "other-endpoint"])
def test_a_key_reused_for_another_request_raises_idempotency_error(client: stripe.StripeClient, reuse: str) -> None:
    # Given a key already used to create a session
    key = "e2e-" + secrets.token_hex(8)
    first = create_session(client, options={"idempotency_key": key}, return_url=RETURN_URL)

    # When it is sent with other parameters, or to another endpoint
    with pytest.raises(stripe.IdempotencyError) as raised:
        if reuse == "other-parameters":
            create_session(client, options={"idempotency_key": key}, return_url=RETURN_URL, locale="fr")
        else:
            client.v1.billing_portal.configurations.create(
                params={"features": {"invoice_history": {"enabled": True}}}, options={"idempotency_key": key}
            )

    # Then the SDK raises IdempotencyError (400, Stripe's idempotency_error naming the key), and nothing replays
    error = error_of(raised)
    assert error.http_status == 400
    assert error.json_body["error"]["type"] == "idempotency_error"
    assert f"'{key}'" in error.user_message
    assert first.id.startswith("bps_")


def test_a_request_that_failed_validation_does_not_keep_its_key(client: stripe.StripeClient) -> None:
    # Given a key first sent with a request that fails validation
    key = "e2e-" + secrets.token_hex(8)
    with pytest.raises(stripe.InvalidRequestError):
        create_session(client, options={"idempotency_key": key}, return_url=RETURN_URL, colour="red")

    # When the corrected request is sent with the same key
    session = create_session(client, options={"idempotency_key": key}, return_url=RETURN_URL)

    # Then it runs as a first request
    assert header(session, "Idempotent-Replayed") is None
    assert schema_errors("billing_portal.session", raw_json(session)) == []


def test_an_idempotency_key_over_255_characters_is_refused(client: stripe.StripeClient) -> None:
    # Given a key of 256 characters
    key = "k" * 256

    # When the SDK sends it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create_session(client, options={"idempotency_key": key}, return_url=RETURN_URL)

    # Then it is refused with a 400, and a key of 255 characters is accepted
    error = error_of(raised)
    assert error.http_status == 400
    assert header(
        create_session(client, options={"idempotency_key": key[:255]}, return_url=RETURN_URL), "Idempotency-Key"
    )


# API versions


def test_the_sdk_sends_the_newer_version_by_default(client: stripe.StripeClient) -> None:
    # Given the SDK's default API version
    assert stripe.api_version == LATEST_VERSION

    # When it creates a session recoverable after expiry with a customer_update flow
    session = create_session(
        client,
        return_url=RETURN_URL,
        flow_data={"type": "customer_update"},
        after_expiration={"type": "customer_login"},
    )

    # Then the newer fields are there
    body = raw_json(session)
    assert body["flow"]["customer_update"] == {} and body["flow"]["subscription_pause"] is None
    assert body["after_expiration"] == {"customer_login": {"expires_at": None}, "type": "customer_login"}
    assert schema_errors("billing_portal.session", body) == []


def test_an_older_version_gets_the_reference_specs_shape(client: stripe.StripeClient) -> None:
    # Given a request pinned to the reference spec's version, with a flow
    # When the SDK creates the session
    session = create_session(
        client,
        options={"stripe_version": OLDER_VERSION},
        return_url=RETURN_URL,
        flow_data={"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_E2eOld"}},
    )

    # Then the session has the spec's fields but no after_expiration, and its flow exactly the spec's fields
    body = raw_json(session)
    assert session_properties() <= set(body)
    assert "after_expiration" not in body
    assert set(body["flow"]) == {
        "after_completion",
        "subscription_cancel",
        "subscription_update",
        "subscription_update_confirm",
        "type",
    }
    assert schema_errors("billing_portal.session", body) == []


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"after_expiration": {"type": "customer_login"}}, "parameter_unknown", "after_expiration"),
        ({"flow_data": {"type": "customer_update"}}, "parameter_invalid", "flow_data[type]"),
        (
            {"flow_data": {"type": "subscription_pause", "subscription_pause": {"subscription": "sub_1"}}},
            "parameter_unknown",
            "flow_data[subscription_pause]",
        ),
    ],
    ids=["after_expiration", "customer_update", "subscription_pause"],
)
def test_an_older_version_refuses_the_newer_parameters(
    client: stripe.StripeClient, params: dict[str, Any], code: str, param: str
) -> None:
    # Given a parameter the older version does not have
    # When the SDK sends it pinned to that version
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create_session(client, options={"stripe_version": OLDER_VERSION}, return_url=RETURN_URL, **params)

    # Then it is refused as that version would
    error = error_of(raised)
    assert (error.http_status, error.code, error.param) == (400, code, param), error.json_body


@pytest.mark.parametrize(
    "call",
    [
        lambda client, options: create_session(client, options=options, return_url=RETURN_URL),
        lambda client, options: client.v1.billing_portal.configurations.create(
            params={"features": INVOICES_ONLY}, options=options
        ),
        lambda client, options: client.v1.billing_portal.configurations.list(options=options),
        lambda client, options: client.v1.billing_portal.configurations.retrieve(
            DEFAULT_CONFIGURATION, options=options
        ),
    ],
    ids=["session-create", "configuration-create", "configuration-list", "configuration-retrieve"],
)
def test_a_malformed_version_is_refused(client: stripe.StripeClient, call: Callable[..., Any]) -> None:
    # Given a Stripe-Version that is not a version
    # When the SDK sends it
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call(client, {"stripe_version": "yesterday"})

    # Then it is a 400 invalid_request_error naming it, whatever the endpoint
    error = error_of(raised)
    assert error.http_status == 400
    assert "yesterday" in error.user_message


# Recovery of an expired session through the portal's login page


def expire(service: LocalService, session_url: str, *, recovery_until: int | None = None) -> None:
    """Make the stored session expired a minute ago (and optionally move its recovery deadline)."""
    past = int(time.time()) - 60
    update = "SET expires_at = :past" + (", recovery_until = :until" if recovery_until is not None else "")
    values = {":past": {"N": str(past)}}
    if recovery_until is not None:
        values[":until"] = {"N": str(recovery_until)}
    service.dynamodb().update_item(
        TableName=service.table_name,
        Key=session_key(url_token(session_url)),
        UpdateExpression=update,
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues=values,
    )


def test_after_expiration_with_a_deadline_is_shown_as_given(client: stripe.StripeClient) -> None:
    # Given a recovery deadline a week ahead
    deadline = int(time.time()) + 7 * 86400

    # When the SDK creates the session with it
    session = create_session(
        client,
        return_url=RETURN_URL,
        after_expiration={"type": "customer_login", "customer_login": {"expires_at": deadline}},
    )

    # Then the session shows it
    assert raw_json(session)["after_expiration"] == {
        "customer_login": {"expires_at": deadline},
        "type": "customer_login",
    }
    assert session.after_expiration.customer_login.expires_at == deadline
    assert schema_errors("billing_portal.session", raw_json(session)) == []


@pytest.mark.parametrize("visited", [False, True], ids=["never-visited", "visited"])
def test_an_expired_recoverable_session_goes_to_the_login_page(
    service: LocalService, client: stripe.StripeClient, browser: requests.Session, login_url: str, visited: bool
) -> None:
    # Given a recoverable session (created through the SDK, maybe opened once) whose link has expired since
    session = create_session(
        client,
        return_url=RETURN_URL,
        locale="fr",
        flow_data={"type": "payment_method_update"},
        after_expiration={"type": "customer_login"},
    )
    if visited:
        first = browser.get(session.url, allow_redirects=False)
        assert first.headers.get("Location", "").startswith(service.portal_url + "?handoff="), first.text
    expire(service, session.url)

    # When its URL is checked, then opened, and the redirect followed
    head = browser.head(session.url, allow_redirects=False)
    response = browser.get(session.url, allow_redirects=False)
    location = response.headers.get("Location", "")
    login = browser.get(location, allow_redirects=False)

    # Then it redirects to the login page with a recovery hand-off, which the login page accepts for this customer
    assert head.status_code == 200
    assert response.status_code == 302, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert location.startswith(login_url + "?"), location
    recovery = parse_qs(urlsplit(location).query)["recovery"][0]
    claims = jwt.decode(recovery, options={"verify_signature": False})
    assert (claims["aud"], claims["sid"], claims["customer"]) == (
        "billing_portal_login_test",
        session.id,
        "cus_E2eParity",
    )
    assert login.status_code == 200, login.text
    assert "Log in to continue" in login.text
    assert portal_page_fields(login.text) == {
        "customer": "cus_E2eParity",
        "session": session.id,
        "mode": "test",
        "flow": "payment_method_update",
        "locale": "fr",
        "return": RETURN_URL,
    }


def test_a_recovery_hand_off_is_refused_by_the_portal_itself(
    service: LocalService, client: stripe.StripeClient, browser: requests.Session
) -> None:
    # Given the recovery hand-off of an expired, recoverable session
    session = create_session(client, return_url=RETURN_URL, after_expiration={"type": "customer_login"})
    expire(service, session.url)
    location = browser.get(session.url, allow_redirects=False).headers.get("Location", "")
    recovery = parse_qs(urlsplit(location).query)["recovery"][0]

    # When it is presented to the portal as a hand-off
    portal = browser.get(service.portal_url, params={"handoff": recovery}, allow_redirects=False)

    # Then the portal refuses it: its audience is the login page's
    assert portal.status_code == 401, portal.text


def test_an_expired_session_past_its_recovery_deadline_answers_410(
    service: LocalService, client: stripe.StripeClient, browser: requests.Session
) -> None:
    # Given a recoverable session whose link expired and whose recovery deadline has passed too
    session = create_session(client, return_url=RETURN_URL, after_expiration={"type": "customer_login"})
    expire(service, session.url, recovery_until=int(time.time()) - 1)

    # When its URL is checked and opened
    head = browser.head(session.url, allow_redirects=False)
    response = browser.get(session.url, allow_redirects=False)

    # Then it is gone, like any expired link
    assert head.status_code == 410
    assert response.status_code == 410, response.text
    assert "Location" not in response.headers


def test_an_expired_session_without_after_expiration_is_not_recovered(
    service: LocalService, client: stripe.StripeClient, browser: requests.Session
) -> None:
    # Given a session created without after_expiration, whose link expired
    session = create_session(client, return_url=RETURN_URL)
    expire(service, session.url)

    # When its URL is opened
    response = browser.get(session.url, allow_redirects=False)

    # Then it answers the expired page, not the login page
    assert response.status_code == 410, response.text
    assert "Location" not in response.headers
