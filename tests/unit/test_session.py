"""The `billing_portal.session` object and its `flow`, checked against Stripe's published schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from portal_sessions.domain.configuration import DEFAULT_CONFIGURATION_IDS, default_configuration
from portal_sessions.domain.session import flow_object
from portal_sessions.stripe_wire.params import FlowDataParams
from tests.support.contract import fixture, published_component, schema_errors
from tests.support.factories import CREATED, a_session

REDIRECT = {"type": "redirect", "redirect": {"return_url": "https://example.com/after"}}
HOSTED = {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": "All done."}}
CONFIRM = {"subscription": "sub_1", "items": [{"id": "si_1", "price": "price_2", "quantity": 3}]}

FLOWS = {
    "payment_method_update": {"type": "payment_method_update"},
    "payment_method_update+hosted": {"type": "payment_method_update", "after_completion": HOSTED},
    "payment_method_update+hosted-no-message": {
        "type": "payment_method_update",
        "after_completion": {"type": "hosted_confirmation"},
    },
    "payment_method_update+homepage": {
        "type": "payment_method_update",
        "after_completion": {"type": "portal_homepage"},
    },
    "subscription_cancel": {"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_1"}},
    "subscription_cancel+retention+redirect": {
        "type": "subscription_cancel",
        "after_completion": REDIRECT,
        "subscription_cancel": {
            "subscription": "sub_1",
            "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "SAVE10"}},
        },
    },
    "subscription_update": {"type": "subscription_update", "subscription_update": {"subscription": "sub_1"}},
    "subscription_update_confirm": {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {"subscription": "sub_1", "items": [{"id": "si_1"}]},
    },
    "subscription_update_confirm+all": {
        "type": "subscription_update_confirm",
        "after_completion": HOSTED,
        "subscription_update_confirm": {**CONFIRM, "discounts": [{"promotion_code": "promo_1"}]},
    },
}


def schema(component: str) -> dict[str, Any]:
    return published_component(component)


def flow(name: str) -> dict[str, Any]:
    return flow_object(FlowDataParams.model_validate(FLOWS[name]))


URL = "https://billing.example.com/p/session/" + "A" * 43
NOW = CREATED + 100  # after the factory's sessions are created, before they expire
EXTENSIONS = {"expires_at", "status", "visited_at"}  # this service's additions, as checkout.session has them


# --- flow_object -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_flow_object_validates_against_stripes_flow_schema(name: str) -> None:
    # Given valid flow_data of some kind
    # When it is rendered as the session's flow
    rendered = flow(name)
    # Then Stripe's portal_flows_flow schema accepts it
    assert schema_errors("portal_flows_flow", rendered) == []


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_flow_object_has_every_key_of_the_schema(name: str) -> None:
    # Given valid flow_data of some kind
    # When it is rendered
    rendered = flow(name)
    # Then every property of the schema is present (Stripe shows absent ones as null), and besides them only
    # the two flow types of API version 2026-10-28
    assert set(rendered) == set(schema("portal_flows_flow")["properties"]) | {"customer_update", "subscription_pause"}
    assert set(rendered["after_completion"]) == set(schema("portal_flows_flow_after_completion")["properties"])


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_flow_object_sets_only_the_sub_hash_of_its_type(name: str) -> None:
    # Given valid flow_data of some type
    # When it is rendered
    rendered = flow(name)
    # Then only the sub-hash named by the type is filled; the others are null
    for key in ("subscription_cancel", "subscription_update", "subscription_update_confirm"):
        assert (rendered[key] is not None) == (key == rendered["type"])


def test_after_completion_defaults_to_portal_homepage() -> None:
    # Given flow_data without after_completion
    # When it is rendered
    rendered = flow("payment_method_update")
    # Then after_completion is the portal homepage, with nulls for the other kinds
    assert rendered["after_completion"] == {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"}


def test_hosted_confirmation_without_message_has_a_null_message() -> None:
    # Given a hosted confirmation with no hash at all
    # When it is rendered
    rendered = flow("payment_method_update+hosted-no-message")
    # Then the confirmation object is there with a null message
    assert rendered["after_completion"] == {
        "hosted_confirmation": {"custom_message": None},
        "redirect": None,
        "type": "hosted_confirmation",
    }


def test_hosted_confirmation_keeps_its_message() -> None:
    # Given a hosted confirmation with a message
    # When it is rendered
    rendered = flow("payment_method_update+hosted")
    # Then the message is shown
    assert rendered["after_completion"]["hosted_confirmation"] == {"custom_message": "All done."}


def test_redirect_after_completion_keeps_its_url() -> None:
    # Given a redirect after completion
    # When it is rendered
    rendered = flow("subscription_cancel+retention+redirect")
    # Then the redirect carries the URL and hosted_confirmation is null
    assert rendered["after_completion"] == {
        "hosted_confirmation": None,
        "redirect": {"return_url": "https://example.com/after"},
        "type": "redirect",
    }


def test_subscription_cancel_renders_retention_or_null() -> None:
    # Given one cancel flow with a retention coupon and one without
    # When both are rendered
    with_retention = flow("subscription_cancel+retention+redirect")["subscription_cancel"]
    plain = flow("subscription_cancel")["subscription_cancel"]
    # Then the retention is shown in Stripe's shape, or null
    assert with_retention == {
        "retention": {"coupon_offer": {"coupon": "SAVE10"}, "type": "coupon_offer"},
        "subscription": "sub_1",
    }
    assert plain == {"retention": None, "subscription": "sub_1"}


def test_update_confirm_item_without_quantity_omits_quantity() -> None:
    # Given an update-confirm item with only an id (the schema's quantity is an integer, never null)
    # When it is rendered
    rendered = flow("subscription_update_confirm")["subscription_update_confirm"]
    # Then the item has a null price and no quantity key, and discounts are null
    assert rendered == {"discounts": None, "items": [{"id": "si_1", "price": None}], "subscription": "sub_1"}


def test_update_confirm_keeps_quantity_price_and_discount() -> None:
    # Given an update-confirm with price, quantity and a promotion code
    # When it is rendered
    rendered = flow("subscription_update_confirm+all")["subscription_update_confirm"]
    # Then all of them are shown, with the discount's unset coupon as null
    assert rendered == {
        "discounts": [{"coupon": None, "promotion_code": "promo_1"}],
        "items": [{"id": "si_1", "price": "price_2", "quantity": 3}],
        "subscription": "sub_1",
    }


# --- PortalSession -----------------------------------------------------------------------------------------------


def test_api_object_has_exactly_the_schemas_properties() -> None:
    # Given a session
    # When it is shown as an API object for the reference spec's version, and for the SDK's newer one
    reference = a_session().to_api_object(URL, now=NOW, api_version="2026-07-29")
    newer = a_session().to_api_object(URL, now=NOW, api_version="2026-10-28")
    # Then its keys are exactly the schema's properties, plus after_expiration from 2026-10-28, plus our extensions
    assert set(reference) == set(schema("billing_portal.session")["properties"]) | EXTENSIONS
    assert set(newer) == set(schema("billing_portal.session")["properties"]) | {"after_expiration"} | EXTENSIONS


@pytest.mark.parametrize("name", [None, *sorted(FLOWS)])
def test_api_object_validates_against_the_session_schema(name: str | None) -> None:
    # Given a session with or without each kind of flow, a locale and on_behalf_of
    shown = a_session(flow=None if name is None else flow(name), locale="de", on_behalf_of="acct_1")
    # When it is shown as an API object
    rendered = shown.to_api_object(URL, now=NOW)
    # Then Stripe's billing_portal.session schema accepts it
    assert schema_errors("billing_portal.session", rendered) == []


def test_api_object_shows_the_stored_fields() -> None:
    # Given a live session
    stored = a_session(livemode=True, configuration=DEFAULT_CONFIGURATION_IDS[True], locale="ja")
    # When it is shown
    shown = stored.to_api_object(URL, now=NOW)
    # Then the object carries its id, object name, configuration id, mode and URL
    assert shown["id"] == stored.id
    assert shown["object"] == "billing_portal.session"
    assert shown["configuration"] == DEFAULT_CONFIGURATION_IDS[True]
    assert shown["livemode"] is True
    assert shown["locale"] == "ja"
    assert shown["url"] == URL
    assert shown["created"] == stored.created


@pytest.mark.parametrize("livemode", [False, True])
def test_api_object_with_expanded_configuration_validates(livemode: bool) -> None:
    # Given a session and its mode's default configuration object
    configuration_id = DEFAULT_CONFIGURATION_IDS[livemode]
    expanded = default_configuration(livemode, 1_767_225_600)
    # When the session is shown with the configuration expanded
    rendered = a_session(livemode=livemode, configuration=configuration_id).to_api_object(URL, expanded, now=NOW)
    # Then the configuration is the object itself, and the schema accepts the whole
    assert rendered["configuration"] == expanded
    assert schema_errors("billing_portal.session", rendered) == []


@pytest.mark.parametrize(("now", "expired"), [(1_767_225_899, False), (1_767_225_900, True), (1_767_225_901, True)])
def test_session_expires_at_its_expiry_second(now: int, expired: bool) -> None:
    # Given a session expiring at 1_767_225_900
    # When expiry is checked at a given time
    # Then it is expired from that second on
    assert a_session(expires_at=1_767_225_900).is_expired(now) is expired


# --- the contract validator itself -------------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["billing_portal.session", "billing_portal.configuration"])
def test_contract_accepts_stripes_own_fixture(component: str) -> None:
    # Given Stripe's published example object
    # When it is validated
    # Then the validator accepts it
    assert schema_errors(component, fixture(component)) == []


def corrupt(value: dict[str, Any], path: tuple[str, ...], replacement: Any) -> dict[str, Any]:
    changed = copy.deepcopy(value)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if replacement is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = replacement
    return changed


@pytest.mark.parametrize(
    ("component", "path", "replacement"),
    [
        ("billing_portal.session", ("livemode",), "yes"),
        ("billing_portal.session", ("object",), "billing_portal.configuration"),
        ("billing_portal.session", ("id",), KeyError),
        ("billing_portal.session", ("url",), 123),
        ("billing_portal.session", ("created",), "yesterday"),
        ("billing_portal.session", ("locale",), "xx"),
        ("billing_portal.session", ("flow", "type"), "refund"),
        ("billing_portal.session", ("flow", "after_completion", "type"), KeyError),
        ("billing_portal.session", ("flow", "subscription_cancel", "subscription"), None),
        ("billing_portal.configuration", ("active",), "yes"),
        ("billing_portal.configuration", ("object",), "billing_portal.session"),
        ("billing_portal.configuration", ("features",), KeyError),
        ("billing_portal.configuration", ("features", "subscription_cancel", "mode"), "whenever"),
    ],
)
def test_contract_rejects_a_corrupted_fixture(component: str, path: tuple[str, ...], replacement: Any) -> None:
    # Given Stripe's example object with one field broken
    broken = corrupt(fixture(component), path, replacement)
    # When it is validated
    # Then the validator reports a problem, so a passing validation means something
    assert schema_errors(component, broken) != []


@pytest.mark.parametrize(
    ("purge_at", "retention", "expected"),
    [
        pytest.param(None, 3600, 1_000 + 3600, id="no-purge-time"),
        pytest.param(1_000 + 3600 + 86400, 86400, 1_000 + 3600, id="fits"),
        pytest.param(1_000 + 1800 + 86400, 86400, 1_000 + 1800, id="lifetime-raised-since-create"),
        pytest.param(1_000 + 1800, 86400, 1_000 + 1800, id="retention-grown-past-it"),
    ],
)
def test_a_visit_ends_the_session_a_retention_window_before_its_purge_time(
    purge_at: int | None, retention: int, expected: int
) -> None:
    assert a_session(purge_at=purge_at).visit_expiry(1_000, 3600, retention) == expected
