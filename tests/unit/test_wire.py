"""Decoding of request bodies: Stripe's bracketed form encoding, and JSON objects."""

from __future__ import annotations

import pytest

from portal_sessions.runtime.errors import InvalidRequestError
from portal_sessions.stripe_wire.configuration_params import parse_create_configuration_params
from portal_sessions.stripe_wire.params import parse_create_params
from portal_sessions.stripe_wire.wire import MAX_NESTING, MAX_PARAMETERS, decode_body, decode_form

FORM = "application/x-www-form-urlencoded"


def form_refusal(body: str) -> InvalidRequestError:
    """The error decode_form raises for `body`; fails if it raises none."""
    with pytest.raises(InvalidRequestError) as raised:
        decode_form(body)
    return raised.value


def body_refusal(body: bytes, content_type: str | None) -> InvalidRequestError:
    """The error decode_body raises for `body`; fails if it raises none."""
    with pytest.raises(InvalidRequestError) as raised:
        decode_body(body, content_type)
    return raised.value


# --- decode_form: what it builds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("customer=cus_1", {"customer": "cus_1"}, id="flat"),
        pytest.param(
            "flow_data[type]=subscription_cancel&flow_data[subscription_cancel][subscription]=sub_1",
            {"flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_1"}}},
            id="nested-hashes",
        ),
        pytest.param("expand[]=a&expand[]=b", {"expand": ["a", "b"]}, id="empty-brackets-array"),
        pytest.param("expand[0]=a&expand[1]=b", {"expand": ["a", "b"]}, id="indexed-array"),
        pytest.param("expand[1]=b&expand[0]=a", {"expand": ["a", "b"]}, id="indexed-array-out-of-order"),
        pytest.param(
            "expand[10]=c&expand[2]=b&expand[1]=a", {"expand": ["a", "b", "c"]}, id="indexes-sort-numerically"
        ),
        pytest.param(
            "items[0][id]=si_1&items[0][price]=price_1",
            {"items": [{"id": "si_1", "price": "price_1"}]},
            id="indexed-array-of-hashes",
        ),
        pytest.param(
            "items[1][id]=si_2&items[0][id]=si_1", {"items": [{"id": "si_1"}, {"id": "si_2"}]}, id="hash-array-order"
        ),
        pytest.param(
            "items[][id]=a&items[][id]=b", {"items": [{"id": "a"}, {"id": "b"}]}, id="rack-style-repeated-key"
        ),
        pytest.param(
            "items[][id]=a&items[][price]=p&items[][id]=b",
            {"items": [{"id": "a", "price": "p"}, {"id": "b"}]},
            id="rack-style-fills-element-until-key-repeats",
        ),
    ],
)
def test_decode_form_builds_hashes_and_arrays(body: str, expected: dict) -> None:
    # Given a form body using Stripe's bracket notation
    # When it is decoded
    decoded = decode_form(body)
    # Then the hashes and arrays it describes come out as dicts and lists
    assert decoded == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("return_url=https%3A%2F%2Fexample.com%2Fa%3Fb%3D1", "https://example.com/a?b=1", id="percent"),
        pytest.param("return_url=hello+world", "hello world", id="plus-is-space"),
        pytest.param("return_url=a%2Bb", "a+b", id="encoded-plus-is-plus"),
        pytest.param("return_url=%C3%A9t%C3%A9", "été", id="utf8-percent-bytes"),
    ],
)
def test_decode_form_unescapes_values(body: str, expected: str) -> None:
    # Given a value with percent-escapes or `+`
    # When the body is decoded
    decoded = decode_form(body)
    # Then the value is unescaped as application/x-www-form-urlencoded requires
    assert decoded == {"return_url": expected}


def test_decode_form_unescapes_bracketed_names() -> None:
    # Given a name whose brackets are percent-encoded, as many HTTP clients send them
    body = "flow_data%5Btype%5D=payment_method_update"
    # When it is decoded
    decoded = decode_form(body)
    # Then the brackets still nest
    assert decoded == {"flow_data": {"type": "payment_method_update"}}


def test_decode_form_repeated_scalar_takes_last_value() -> None:
    # Given the same scalar parameter twice
    body = "customer=cus_first&customer=cus_last&return_url=https://example.com"
    # When it is decoded and read as a session create's parameters
    params = parse_create_params(decode_form(body))
    # Then the last value wins, as Rack does
    assert params.customer == "cus_last"


@pytest.mark.parametrize(
    "body",
    [
        "expand=configuration&expand=flow",  # OpenAPI's form of an array (style form, explode)
        "expand[0]=configuration&expand[1]=flow",  # Stripe's SDKs'
        "expand[]=configuration&expand[]=flow",
    ],
)
def test_an_array_is_read_in_the_repeated_key_form_as_in_stripes_brackets(body: str) -> None:
    params = parse_create_params(decode_form("customer=cus_1&return_url=https://example.com&" + body))
    assert params.expand == ["configuration", "flow"]


def test_an_array_of_one_may_be_sent_as_one_plain_value() -> None:
    params = parse_create_params(decode_form("customer=cus_1&return_url=https://example.com&expand=flow"))
    assert params.expand == ["flow"]


def test_an_array_value_that_is_not_a_string_is_still_refused() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        parse_create_params({"customer": "cus_1", "return_url": "https://example.com", "expand": {"a": "b"}})
    assert (refused.value.code, refused.value.param) == ("parameter_invalid", "expand")


def test_decode_form_keeps_blank_values() -> None:
    # Given a parameter with an empty value (which the params layer must see to reject it)
    body = "customer=&locale"
    # When it is decoded
    decoded = decode_form(body)
    # Then the parameters are kept with empty strings
    assert decoded == {"customer": "", "locale": ""}


def test_decode_form_of_empty_body_is_empty() -> None:
    # Given an empty body
    # When it is decoded
    decoded = decode_form("")
    # Then there are no parameters
    assert decoded == {}


# --- decode_form: what it refuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("a=x&a[b]=y", id="scalar-then-hash"),
        pytest.param("a[b]=y&a=x", id="hash-then-scalar"),
        pytest.param("a[]=1&a[b]=2", id="array-then-hash"),
        pytest.param("a[b]=2&a[]=1", id="hash-then-array"),
        pytest.param("a=x&a[]=1", id="scalar-then-array"),
        pytest.param("a[]=1&a=x", id="array-then-scalar"),
        pytest.param("a[b]=1&a[b][c]=2", id="nested-scalar-then-hash"),
    ],
)
def test_decode_form_rejects_a_name_used_as_two_kinds(body: str) -> None:
    # Given a parameter that is given both as a value and as a hash or array
    # When the body is decoded
    error = form_refusal(body)
    # Then the request is refused as invalid, not silently merged
    assert error.http_status == 400
    assert error.error_type == "invalid_request_error"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a]", id="stray-close"),
        pytest.param("[x]", id="no-base-name"),
        pytest.param("a[b", id="unclosed"),
        pytest.param("a[b]c", id="text-after-bracket"),
        pytest.param("a[[b]]", id="nested-bracket"),
        pytest.param("", id="empty-name"),
    ],
)
def test_decode_form_rejects_malformed_names(name: str) -> None:
    # Given a parameter name that is not `name` followed by `[key]` segments
    body = f"{name}=1"
    # When the body is decoded
    error = form_refusal(body)
    # Then it is refused, naming the parameter
    assert error.http_status == 400
    assert error.param == name


def test_decode_form_accepts_nesting_up_to_the_limit() -> None:
    # Given a name with exactly MAX_NESTING keys
    name = "a" + "[a]" * (MAX_NESTING - 1)
    # When it is decoded
    decoded = decode_form(f"{name}=x")
    # Then it nests that deep
    node = decoded
    for _ in range(MAX_NESTING - 1):
        node = node["a"]
    assert node == {"a": "x"}


def test_decode_form_rejects_nesting_deeper_than_the_limit() -> None:
    # Given a name with one key more than MAX_NESTING
    name = "a" + "[a]" * MAX_NESTING
    # When it is decoded
    error = form_refusal(f"{name}=x")
    # Then it is refused
    assert error.http_status == 400
    assert str(MAX_NESTING) in error.message


def test_decode_form_accepts_max_parameters() -> None:
    # Given exactly MAX_PARAMETERS parameters
    body = "&".join(f"p{i}=x" for i in range(MAX_PARAMETERS))
    # When it is decoded
    decoded = decode_form(body)
    # Then all of them are there
    assert len(decoded) == MAX_PARAMETERS


def test_decode_form_rejects_more_than_max_parameters() -> None:
    # Given one parameter more than MAX_PARAMETERS
    body = "&".join(f"p{i}=x" for i in range(MAX_PARAMETERS + 1))
    # When it is decoded
    error = form_refusal(body)
    # Then it is refused
    assert error.http_status == 400


@pytest.mark.parametrize("body", ["customer=%ff", "customer=%C3", "%ff=1", "a[%ff]=1"])
def test_decode_form_rejects_percent_bytes_that_are_not_utf8(body: str) -> None:
    # Given percent-encoded bytes that do not form UTF-8
    # When the body is decoded
    error = form_refusal(body)
    # Then it is a 400, not a UnicodeDecodeError or a value with replacement characters
    assert error.http_status == 400


# --- decode_body -----------------------------------------------------------------------------------------------


def test_decode_body_reads_a_json_object() -> None:
    # Given a JSON object body
    body = b'{"customer": "cus_1", "flow_data": {"type": "payment_method_update"}, "expand": ["configuration"]}'
    # When it is decoded as JSON
    decoded = decode_body(body, "application/json")
    # Then the object comes back as is
    assert decoded == {"customer": "cus_1", "flow_data": {"type": "payment_method_update"}, "expand": ["configuration"]}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;charset=UTF-8",
        "  application/json  ",
    ],
)
def test_decode_body_accepts_json_media_type_variants(content_type: str) -> None:
    # Given a JSON body with a Content-Type spelt in another case or with parameters
    # When it is decoded
    decoded = decode_body(b'{"customer": "cus_1"}', content_type)
    # Then it is read as JSON
    assert decoded == {"customer": "cus_1"}


@pytest.mark.parametrize(
    "content_type",
    [FORM, f"{FORM}; charset=utf-8", "Application/X-WWW-Form-Urlencoded", None, ""],
)
def test_decode_body_reads_form_bodies(content_type: str | None) -> None:
    # Given a form body, with the form Content-Type in some spelling or none at all
    # When it is decoded
    decoded = decode_body(b"customer=cus_1&expand[]=flow", content_type)
    # Then it is read as a form (a missing Content-Type means form, as Stripe's clients send)
    assert decoded == {"customer": "cus_1", "expand": ["flow"]}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'["customer", "cus_1"]', id="array"),
        pytest.param(b'"cus_1"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"42", id="number"),
        pytest.param(b'{"customer": "cus_1"', id="truncated"),
        pytest.param(b"customer=cus_1", id="form-sent-as-json"),
        pytest.param(b"[" * 10_000 + b"]" * 10_000, id="10000-nested-lists"),
        pytest.param(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, id="10000-nested-objects"),
        pytest.param(b'{"a": ' + b"[" * MAX_NESTING + b"1" + b"]" * MAX_NESTING + b"}", id="one-level-too-deep"),
    ],
)
def test_decode_body_refuses_json_that_is_not_a_usable_object(body: bytes) -> None:
    # Given a JSON body that is not an object, is not JSON, or nests too deep
    # When it is decoded
    error = body_refusal(body, "application/json")
    # Then it is a 400 invalid_request_error, never a crash
    assert error.http_status == 400
    assert error.error_type == "invalid_request_error"


def test_decode_body_accepts_json_nested_up_to_the_limit() -> None:
    # Given a JSON object whose nesting is exactly MAX_NESTING levels (the object itself is the first)
    inner = MAX_NESTING - 1
    body = b'{"a": ' + b"[" * inner + b"1" + b"]" * inner + b"}"
    # When it is decoded
    decoded = decode_body(body, "application/json")
    # Then it is accepted
    assert "a" in decoded


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data; boundary=xyz", "application/xml", "application/jsonx", " "],
)
def test_decode_body_refuses_other_content_types(content_type: str) -> None:
    # Given a body sent with a media type the API does not read
    # When it is decoded
    error = body_refusal(b"customer=cus_1", content_type)
    # Then it is a 400 that names what to send instead
    assert error.http_status == 400
    assert "application/x-www-form-urlencoded" in error.message


@pytest.mark.parametrize("content_type", [FORM, "application/json"])
def test_decode_body_refuses_bytes_that_are_not_utf8(content_type: str) -> None:
    # Given a body that is not valid UTF-8
    body = b"customer=caf\xe9" if content_type == FORM else b'{"customer": "caf\xe9"}'
    # When it is decoded
    error = body_refusal(body, content_type)
    # Then it is a 400
    assert error.http_status == 400


def test_decode_body_of_empty_json_body_has_no_parameters() -> None:
    # Given an empty body labelled as JSON (a design choice: treated like an empty form)
    # When it is decoded
    decoded = decode_body(b"", "application/json")
    # Then there are no parameters (the params layer then reports what is missing)
    assert decoded == {}


def test_a_json_null_member_is_a_parameter_not_given() -> None:
    # Given JSON with null members, nested and inside arrays of hashes
    body = b'{"customer": "cus_1", "locale": null, "flow_data": {"type": "x", "after_completion": null}, '
    body += b'"a": [{"b": null}]}'

    # When / Then null means absent, as it would in a form (which cannot send null); "" remains the way to unset
    assert decode_body(body, "application/json") == {"customer": "cus_1", "flow_data": {"type": "x"}, "a": [{}]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param(b'{"customer": "cus_\\ud800"}', "customer", id="value"),
        pytest.param(b'{"on_behalf_of": "\\udfff acct"}', "on_behalf_of", id="low-surrogate"),
        pytest.param(b'{"flow_data": {"type": "x\\ud83d"}}', "flow_data[type]", id="nested-value"),
        pytest.param(b'{"expand": ["flow", "\\udc80"]}', "expand[1]", id="array-item"),
        pytest.param(b'{"metadata": {"k\\ud800": "v"}}', "metadata[k\\ud800]", id="key"),
    ],
)
def test_decode_body_refuses_json_strings_with_a_lone_surrogate(body: bytes, param: str) -> None:
    # Given a JSON body whose \u escapes make a lone surrogate (valid JSON, but not Unicode text)
    # When it is decoded / Then it is a 400 naming the parameter, never text passed on to the store or a hash
    with pytest.raises(InvalidRequestError) as refused:
        decode_body(body, "application/json")
    assert refused.value.http_status == 400
    assert refused.value.param == param  # a surrogate in a name is shown escaped: the error stays valid UTF-8


def test_decode_body_keeps_a_json_surrogate_pair() -> None:
    # Given an escaped surrogate pair (one emoji) / When decoded / Then it is the character itself
    assert decode_body(b'{"customer": "cus_\\ud83d\\ude00"}', "application/json") == {"customer": "cus_😀"}


def test_decode_form_refuses_text_with_a_lone_surrogate() -> None:
    # Given query or body text that already holds a lone surrogate / When decoded / Then 400
    with pytest.raises(InvalidRequestError):
        decode_form("customer=cus_\ud800")


def test_a_plain_value_nested_in_a_hash_is_no_array_of_one() -> None:
    # Only a top-level name has OpenAPI's repeated-key form; nested, only Stripe's brackets make an array
    raw = decode_form(
        "features[subscription_update][enabled]=true&features[subscription_update][products][0][product]=prod_1"
        "&features[subscription_update][products][0][prices]=price_1"
    )
    with pytest.raises(InvalidRequestError) as refused:
        parse_create_configuration_params(raw)
    assert refused.value.param == "features[subscription_update][products][0][prices]"
