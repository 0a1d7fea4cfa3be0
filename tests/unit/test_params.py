"""Validation of the create parameters of `POST /v1/billing_portal/sessions`, reported as Stripe reports it."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from portal_sessions.runtime.errors import InvalidRequestError
from portal_sessions.stripe_wire.params import MAX_CUSTOM_MESSAGE, CreateSessionParams, Locale, parse_create_params
from portal_sessions.stripe_wire.stripe_params import MAX_ID, MAX_STRING, MAX_URL, param_name
from tests.support.contract import REFERENCE, create_parameters

CANCEL = {"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_1"}}
CONFIRM_PATH = "flow_data[subscription_update_confirm]"

# One valid value for each create parameter of Stripe's spec.
VALID_VALUES: dict[str, Any] = {
    "configuration": "bpc_123",
    "customer": "cus_123",
    "customer_account": "acct_123",
    "expand": ["configuration", "flow"],
    "flow_data": {
        "type": "subscription_cancel",
        "after_completion": {"type": "redirect", "redirect": {"return_url": "https://example.com/done"}},
        "subscription_cancel": {
            "subscription": "sub_1",
            "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": "SAVE10"}},
        },
    },
    "locale": "fr-CA",
    "on_behalf_of": "acct_456",
    "return_url": "https://example.com/account?tab=billing#top",
}


def rejection(raw: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as raised:
        parse_create_params(raw)
    return raised.value


def with_flow(flow_data: dict[str, Any]) -> dict[str, Any]:
    return {"customer": "cus_1", "flow_data": flow_data}


def confirm_flow(**confirm: Any) -> dict[str, Any]:
    return with_flow({"type": "subscription_update_confirm", "subscription_update_confirm": confirm})


def spec_locales() -> list[str]:
    paths = json.loads((REFERENCE / "paths.json").read_text())
    body = paths["/v1/billing_portal/sessions"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    return body["schema"]["properties"]["locale"]["enum"]


# --- what is accepted ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "value"),
    [
        ({"customer": "cus_1"}, "customer", "cus_1"),
        ({"customer_account": "acct_1"}, "customer_account", "acct_1"),
    ],
)
def test_minimal_params_need_only_a_customer_or_account(raw: dict[str, Any], field: str, value: str) -> None:
    # Given only a customer (or only a customer account); return_url is optional at parameter level
    # When the params are parsed
    params = parse_create_params(raw)
    # Then they are valid and everything else is unset
    assert getattr(params, field) == value
    assert params.return_url is None
    assert params.flow_data is None


def test_valid_values_cover_every_create_parameter_of_the_spec() -> None:
    # Given Stripe's list of create parameters
    # When it is compared with the model and this test's table of valid values
    # Then all three name the same parameters, so a new Stripe parameter cannot go untested
    # (after_expiration comes with API version 2026-10-28, newer than the reference spec)
    assert set(CreateSessionParams.model_fields) == create_parameters() | {"after_expiration"}
    assert set(VALID_VALUES) == create_parameters()


@pytest.mark.parametrize("name", sorted(VALID_VALUES))
def test_every_create_parameter_is_accepted_with_a_valid_value(name: str) -> None:
    # Given a valid value for one parameter (plus a customer, unless it is the customer parameter itself)
    raw: dict[str, Any] = {} if name in ("customer", "customer_account") else {"customer": "cus_1"}
    raw[name] = VALID_VALUES[name]
    # When the params are parsed
    params = parse_create_params(raw)
    # Then the value is kept as given
    value = getattr(params, name)
    shown = value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else value
    assert shown == VALID_VALUES[name]


def test_locale_literal_matches_the_spec() -> None:
    # Given the locales Stripe's spec lists for this call
    # When they are compared with the model's Literal
    # Then they are the same set
    assert set(get_args(Locale)) == set(spec_locales())


@pytest.mark.parametrize("locale", spec_locales())
def test_every_spec_locale_is_accepted(locale: str) -> None:
    # Given a locale from Stripe's list
    # When the params are parsed
    params = parse_create_params({"customer": "cus_1", "locale": locale})
    # Then it is kept
    assert params.locale == locale


@pytest.mark.parametrize("locale", ["xx", "EN", "en-us", "fr_CA", "zh-Hans"])
def test_unknown_locale_is_rejected_naming_locale(locale: str) -> None:
    # Given a locale that is not in the list (case matters)
    # When the params are parsed
    error = rejection({"customer": "cus_1", "locale": locale})
    # Then the error names `locale`
    assert error.http_status == 400
    assert error.code == "parameter_invalid"
    assert error.param == "locale"


def test_quantity_from_a_form_string_becomes_an_integer() -> None:
    # Given a quantity as forms carry it: a string of digits
    raw = confirm_flow(subscription="sub_1", items=[{"id": "si_1", "quantity": "3"}])
    # When the params are parsed
    params = parse_create_params(raw)
    # Then it is the integer 3
    assert params.flow_data is not None and params.flow_data.subscription_update_confirm is not None
    assert params.flow_data.subscription_update_confirm.items[0].quantity == 3


def test_custom_message_of_exactly_the_limit_is_accepted() -> None:
    # Given a custom message of exactly MAX_CUSTOM_MESSAGE characters
    message = "m" * MAX_CUSTOM_MESSAGE
    raw = with_flow(
        {
            "type": "payment_method_update",
            "after_completion": {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": message}},
        }
    )
    # When the params are parsed
    params = parse_create_params(raw)
    # Then it is kept
    assert params.flow_data is not None and params.flow_data.after_completion is not None
    assert params.flow_data.after_completion.hosted_confirmation is not None
    assert params.flow_data.after_completion.hosted_confirmation.custom_message == message


def test_strings_of_exactly_their_limits_are_accepted() -> None:
    # Given an id of exactly MAX_ID characters (of up to 4 UTF-8 bytes each), a URL of MAX_URL, an expand of MAX_STRING
    customer, url = "😀" * MAX_ID, "https://example.com/" + "p" * (MAX_URL - len("https://example.com/"))
    # When the params are parsed
    params = parse_create_params({"customer": customer, "return_url": url, "expand": ["e" * MAX_STRING]})
    # Then they are kept
    assert (params.customer, params.return_url, params.expand) == (customer, url, ["e" * MAX_STRING])


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "http://localhost:8080/return",
        "https://example.com:443/a/b?c=d&e=f#frag",
        "HTTPS://EXAMPLE.COM/",
        "https://sub.example.co.uk/path%20with%20escapes",
    ],
)
def test_well_formed_http_urls_are_accepted(url: str) -> None:
    # Given an absolute http(s) URL with a host
    # When the params are parsed
    params = parse_create_params({"customer": "cus_1", "return_url": url})
    # Then it is kept unchanged
    assert params.return_url == url


# --- unknown, missing and empty parameters -----------------------------------------------------------------------


def test_unknown_top_level_parameter_is_reported_like_stripe() -> None:
    # Given an unknown parameter next to a valid one
    # When the params are parsed
    error = rejection({"customer": "cus_1", "colour": "red"})
    # Then Stripe's parameter_unknown error names it
    assert error.to_dict() == {
        "error": {
            "type": "invalid_request_error",
            "message": "Received unknown parameter: colour",
            "code": "parameter_unknown",
            "param": "colour",
        }
    }


@pytest.mark.parametrize(
    ("flow_data", "param"),
    [
        pytest.param(
            {"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_1", "foo": "1"}},
            "flow_data[subscription_cancel][foo]",
            id="in-subscription-cancel",
        ),
        pytest.param({"type": "payment_method_update", "bar": "1"}, "flow_data[bar]", id="in-flow-data"),
        pytest.param(
            {
                "type": "subscription_update_confirm",
                "subscription_update_confirm": {"subscription": "sub_1", "items": [{"id": "si_1", "colour": "x"}]},
            },
            f"{CONFIRM_PATH}[items][0][colour]",
            id="in-array-element",
        ),
    ],
)
def test_unknown_nested_parameter_is_named_in_bracket_form(flow_data: dict[str, Any], param: str) -> None:
    # Given an unknown key inside flow_data
    # When the params are parsed
    error = rejection(with_flow(flow_data))
    # Then its full bracketed name is reported
    assert error.code == "parameter_unknown"
    assert error.param == param
    assert error.message == f"Received unknown parameter: {param}"


def test_unknown_parameter_is_reported_before_other_problems() -> None:
    # Given an unknown parameter and an invalid locale and no customer
    # When the params are parsed
    error = rejection({"colour": "red", "locale": "xx"})
    # Then the unknown parameter is what is reported, as Stripe does
    assert error.code == "parameter_unknown"
    assert error.param == "colour"


def test_neither_customer_nor_account_is_a_missing_customer() -> None:
    # Given a request naming neither a customer nor a customer account
    # When the params are parsed
    error = rejection({"return_url": "https://example.com"})
    # Then `customer` is reported missing
    assert error.http_status == 400
    assert error.code == "parameter_missing"
    assert error.param == "customer"
    assert error.message == "Missing required param: customer."


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"customer": ""}, "customer"),
        ({"customer": "cus_1", "return_url": ""}, "return_url"),
        ({"customer": "cus_1", "expand": [""]}, "expand[0]"),
        (with_flow({"type": ""}), "flow_data[type]"),
        ({"customer": "cus_1", "flow_data": {**CANCEL, "subscription_cancel": {"subscription": ""}}},
         "flow_data[subscription_cancel][subscription]"),
    ],
)  # fmt: skip
def test_empty_string_is_stripes_parameter_invalid_empty(raw: dict[str, Any], param: str) -> None:
    # Given a parameter sent with an empty string
    # When the params are parsed
    error = rejection(raw)
    # Then Stripe's own "cannot be unset" error names it
    assert error.code == "parameter_invalid_empty"
    assert error.param == param
    assert error.message == (
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to unset a parameter; "
        f"however '{param}' cannot be unset. You should remove '{param}' from your request or supply a non-empty "
        "value."
    )


# --- lengths -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "param", "limit"),
    [
        ({"customer": "c" * (MAX_ID + 1)}, "customer", MAX_ID),
        ({"customer_account": "a" * (MAX_ID + 1)}, "customer_account", MAX_ID),
        ({"customer": "cus_1", "configuration": "b" * (MAX_ID + 1)}, "configuration", MAX_ID),
        ({"customer": "cus_1", "on_behalf_of": "o" * (MAX_ID + 1)}, "on_behalf_of", MAX_ID),
        ({"customer": "cus_1", "expand": ["e" * (MAX_STRING + 1)]}, "expand[0]", MAX_STRING),
        ({"customer": "cus_1", "return_url": "https://example.com/" + "p" * MAX_URL}, "return_url", MAX_URL),
        (with_flow({**CANCEL, "subscription_cancel": {"subscription": "s" * (MAX_ID + 1)}}),
         "flow_data[subscription_cancel][subscription]", MAX_ID),
        (with_flow({"type": "payment_method_update", "after_completion": {
             "type": "redirect", "redirect": {"return_url": "https://e.com/" + "p" * MAX_URL}}}),
         "flow_data[after_completion][redirect][return_url]", MAX_URL),
    ],
)  # fmt: skip
def test_string_over_the_limit_is_rejected_naming_it(raw: dict[str, Any], param: str, limit: int) -> None:
    # Given a string longer than its limit: Stripe's 5000 characters, or (stated deviations) 255 for an id and
    # 2048 for a URL
    # When the params are parsed
    error = rejection(raw)
    # Then a 400 names the parameter and the limit
    assert error.http_status == 400
    assert error.param == param
    assert f"at most {limit} characters" in error.message


@pytest.mark.parametrize("customer", ["cus_\x00", "cus\n1", "\x7f", "cus_\x85"])
def test_an_id_with_a_control_character_is_rejected(customer: str) -> None:
    # Given an id no object could have
    # When the params are parsed
    error = rejection({"customer": customer})
    # Then a 400 names it
    assert (error.http_status, error.code, error.param) == (400, "parameter_invalid", "customer")


def test_custom_message_over_500_characters_is_rejected() -> None:
    # Given a hosted confirmation message one character over its 500 limit
    raw = with_flow(
        {
            "type": "payment_method_update",
            "after_completion": {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": "m" * (MAX_CUSTOM_MESSAGE + 1)},
            },
        }
    )
    # When the params are parsed
    error = rejection(raw)
    # Then the message parameter is named
    assert error.http_status == 400
    assert error.param == "flow_data[after_completion][hosted_confirmation][custom_message]"
    assert "500" in error.message


# --- URLs --------------------------------------------------------------------------------------------------------


MALFORMED_URLS = [
    pytest.param("example.com/account", id="no-scheme"),
    pytest.param("//example.com", id="scheme-relative"),
    pytest.param("ftp://example.com/file", id="ftp"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("data:text/html,hi", id="data"),
    pytest.param("https://", id="no-host"),
    pytest.param("https:example.com", id="no-slashes"),
    pytest.param("https://user:pw@example.com", id="credentials"),
    pytest.param("https://user@example.com", id="user-only"),
    pytest.param("https://@example.com", id="empty-userinfo"),
    pytest.param("https://exa mple.com", id="space-in-host"),
    pytest.param("https://example.com/a b", id="space-in-path"),
    pytest.param("https://example.com/\ta", id="tab"),
    pytest.param("https://example.com/\r\nLocation: x", id="crlf"),
    pytest.param("https://example.com:0/", id="port-0"),
    pytest.param("https://example.com:99999/", id="port-99999"),
    pytest.param("https://example.com:http/", id="port-not-a-number"),
    pytest.param("http://[::1/", id="broken-ipv6"),
]


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_malformed_return_url_is_url_invalid(url: str) -> None:
    # Given a return_url that is not an absolute, clean http(s) URL
    # When the params are parsed
    error = rejection({"customer": "cus_1", "return_url": url})
    # Then Stripe's url_invalid names return_url
    assert error.http_status == 400
    assert error.code == "url_invalid"
    assert error.param == "return_url"


@pytest.mark.parametrize("url", MALFORMED_URLS[:6])
def test_malformed_after_completion_redirect_url_is_url_invalid(url: str) -> None:
    # Given a malformed URL as the after-completion redirect
    raw = with_flow(
        {"type": "payment_method_update", "after_completion": {"type": "redirect", "redirect": {"return_url": url}}}
    )
    # When the params are parsed
    error = rejection(raw)
    # Then the nested parameter is named
    assert error.code == "url_invalid"
    assert error.param == "flow_data[after_completion][redirect][return_url]"


# --- flow rules --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flow_type", ["subscription_cancel", "subscription_update", "subscription_update_confirm"])
def test_flow_type_without_its_sub_hash_is_missing_it(flow_type: str) -> None:
    # Given a flow type that needs a sub-hash of its own name, without it
    # When the params are parsed
    error = rejection(with_flow({"type": flow_type}))
    # Then the sub-hash is reported missing
    assert error.code == "parameter_missing"
    assert error.param == f"flow_data[{flow_type}]"
    assert error.message == f"Missing required param: flow_data[{flow_type}]."


SUB_1 = {"subscription": "sub_1"}


@pytest.mark.parametrize(
    ("flow_data", "stray"),
    [
        ({"type": "payment_method_update", "subscription_cancel": SUB_1}, "subscription_cancel"),
        ({"type": "subscription_update", "subscription_update": SUB_1, "subscription_cancel": SUB_1},
         "subscription_cancel"),
        ({"type": "subscription_cancel", "subscription_cancel": SUB_1, "subscription_update": SUB_1},
         "subscription_update"),
    ],
)  # fmt: skip
def test_sub_hash_of_another_flow_type_is_rejected(flow_data: dict[str, Any], stray: str) -> None:
    # Given a flow carrying, besides its own, the sub-hash of a different flow type
    # When the params are parsed
    error = rejection(with_flow(flow_data))
    # Then the stray sub-hash is named
    assert error.http_status == 400
    assert error.param == f"flow_data[{stray}]"
    assert error.message == f"You can only pass flow_data[{stray}] when flow_data[type] is {stray}."


def test_flow_without_type_is_missing_the_type() -> None:
    # Given flow_data without its required type
    # When the params are parsed
    error = rejection(with_flow({"after_completion": {"type": "portal_homepage"}}))
    # Then flow_data[type] is missing
    assert error.code == "parameter_missing"
    assert error.param == "flow_data[type]"


def test_unknown_flow_type_is_rejected() -> None:
    # Given a flow type Stripe does not have
    # When the params are parsed
    error = rejection(with_flow({"type": "refund"}))
    # Then flow_data[type] is named
    assert error.code == "parameter_invalid"
    assert error.param == "flow_data[type]"


def test_redirect_after_completion_without_redirect_is_missing_it() -> None:
    # Given after_completion of type redirect without the redirect hash
    raw = with_flow({"type": "payment_method_update", "after_completion": {"type": "redirect"}})
    # When the params are parsed
    error = rejection(raw)
    # Then the redirect hash is reported missing
    assert error.code == "parameter_missing"
    assert error.param == "flow_data[after_completion][redirect]"


REDIRECT_HASH = {"return_url": "https://example.com"}
HOSTED_HASH = {"custom_message": "Thanks"}


@pytest.mark.parametrize(
    ("after_completion", "stray"),
    [
        ({"type": "hosted_confirmation", "redirect": REDIRECT_HASH}, "redirect"),
        ({"type": "portal_homepage", "redirect": REDIRECT_HASH}, "redirect"),
        ({"type": "portal_homepage", "hosted_confirmation": HOSTED_HASH}, "hosted_confirmation"),
        ({"type": "redirect", "redirect": REDIRECT_HASH, "hosted_confirmation": HOSTED_HASH}, "hosted_confirmation"),
    ],
)
def test_after_completion_hash_of_another_type_is_rejected(after_completion: dict[str, Any], stray: str) -> None:
    # Given after_completion carrying the hash of a different completion type
    raw = with_flow({"type": "payment_method_update", "after_completion": after_completion})
    # When the params are parsed
    error = rejection(raw)
    # Then the stray hash is named
    assert error.http_status == 400
    assert error.param == f"flow_data[after_completion][{stray}]"


def test_update_confirm_requires_items() -> None:
    # Given subscription_update_confirm without items
    # When the params are parsed
    error = rejection(confirm_flow(subscription="sub_1"))
    # Then items are reported missing
    assert error.code == "parameter_missing"
    assert error.param == f"{CONFIRM_PATH}[items]"


def test_update_confirm_item_requires_an_id() -> None:
    # Given an item with a price but no id
    # When the params are parsed
    error = rejection(confirm_flow(subscription="sub_1", items=[{"price": "price_1"}]))
    # Then the item's id is reported missing
    assert error.code == "parameter_missing"
    assert error.param == f"{CONFIRM_PATH}[items][0][id]"


@pytest.mark.parametrize("items", [[], [{"id": "si_1"}, {"id": "si_2"}]])
def test_update_confirm_takes_exactly_one_item(items: list[dict[str, str]]) -> None:
    # Given no item or two items (Stripe updates only single-item subscriptions this way)
    # When the params are parsed
    error = rejection(confirm_flow(subscription="sub_1", items=items))
    # Then items are named
    assert error.http_status == 400
    assert error.param == f"{CONFIRM_PATH}[items]"


def test_retention_requires_its_coupon_offer() -> None:
    # Given a retention of type coupon_offer without the coupon_offer hash
    raw = with_flow({**CANCEL, "subscription_cancel": {"subscription": "sub_1", "retention": {"type": "coupon_offer"}}})
    # When the params are parsed
    error = rejection(raw)
    # Then coupon_offer is reported missing
    assert error.code == "parameter_missing"
    assert error.param == "flow_data[subscription_cancel][retention][coupon_offer]"


# --- types -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", ["abc", "0x10", "1e3", "٣", "3 items"])
def test_non_integer_quantity_is_parameter_invalid_integer(quantity: str) -> None:
    # Given a quantity that is not an integer
    raw = confirm_flow(subscription="sub_1", items=[{"id": "si_1", "quantity": quantity}])
    # When the params are parsed
    error = rejection(raw)
    # Then it is reported as an invalid integer on the quantity
    assert error.code == "parameter_invalid_integer"
    assert error.param == f"{CONFIRM_PATH}[items][0][quantity]"


def test_invalid_integer_message_shows_the_value() -> None:
    # Given a quantity "abc"
    raw = confirm_flow(subscription="sub_1", items=[{"id": "si_1", "quantity": "abc"}])
    # When the params are parsed
    error = rejection(raw)
    # Then Stripe's message quotes it
    assert error.message == "Invalid integer: abc"


@pytest.mark.parametrize(
    "quantity",
    [
        pytest.param("1_000", id="python-underscore-literal"),
        pytest.param("3.0", id="decimal-string"),
        pytest.param(True, id="json-true"),
        pytest.param(3.5, id="json-fraction"),
    ],
)
def test_quantity_must_be_a_plain_integer(quantity: Any) -> None:
    # Given a quantity that only a lenient parser would read as an integer
    raw = confirm_flow(subscription="sub_1", items=[{"id": "si_1", "quantity": quantity}])
    # When the params are parsed
    error = rejection(raw)
    # Then it is an invalid integer, as Stripe reports it
    assert error.code == "parameter_invalid_integer"
    assert error.param == f"{CONFIRM_PATH}[items][0][quantity]"


def test_a_json_number_with_no_fraction_is_an_integer() -> None:
    # JSON has one number type: 3.0 is the integer 3 to JSON Schema (and so to the OpenAPI document's readers); a form's
    # "3.0" is still refused, as Stripe refuses it
    raw = confirm_flow(subscription="sub_1", items=[{"id": "si_1", "quantity": 3.0}])
    params = parse_create_params(raw)
    assert params.flow_data is not None
    assert params.flow_data.subscription_update_confirm is not None
    assert params.flow_data.subscription_update_confirm.items[0].quantity == 3


@pytest.mark.parametrize("value", [123, 1.5, True, {"a": 1}, ["cus_1"]])
def test_json_non_string_for_a_string_parameter_is_rejected(value: Any) -> None:
    # Given a JSON body with a non-string customer
    # When the params are parsed
    error = rejection({"customer": value})
    # Then a 400 names customer (no silent conversion to a string)
    assert error.http_status == 400
    assert error.param == "customer"


@pytest.mark.parametrize("expand", [{"0": "configuration"}, {"a": "configuration"}, 5])
def test_expand_that_is_not_a_list_is_rejected(expand: Any) -> None:
    # Given expand sent as a hash or a number instead of an array (one string is an array of one, as OpenAPI sends
    # it: tests/unit/test_wire.py)
    # When the params are parsed
    error = rejection({"customer": "cus_1", "expand": expand})
    # Then a 400 names expand
    assert error.http_status == 400
    assert error.param == "expand"


def test_expand_element_that_is_not_a_string_is_named_by_index() -> None:
    # Given an expand array with a number in it
    # When the params are parsed
    error = rejection({"customer": "cus_1", "expand": ["configuration", 5]})
    # Then that element is named
    assert error.param == "expand[1]"


def test_flow_data_that_is_not_a_hash_is_rejected() -> None:
    # Given flow_data as a plain string
    # When the params are parsed
    error = rejection({"customer": "cus_1", "flow_data": "subscription_cancel"})
    # Then flow_data is named
    assert error.code == "parameter_invalid"
    assert error.param == "flow_data"


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("customer",), "customer"),
        (("flow_data", "type"), "flow_data[type]"),
        (("flow_data", "subscription_update_confirm", "items", 0, "id"), f"{CONFIRM_PATH}[items][0][id]"),
    ],
)
def test_param_name_renders_bracket_form(loc: tuple[int | str, ...], name: str) -> None:
    # Given a validation location
    # When it is rendered
    # Then it is the parameter's name as a client sends it
    assert param_name(loc) == name
