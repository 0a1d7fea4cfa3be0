"""Parameters of Stripe's portal configuration calls (create, update, list, retrieve), checked against Stripe's spec.

The request-body schemas in tests/reference/paths.json are walked to derive most cases: which parameters exist,
which are required, which accept "" (`anyOf [..., {enum: [""]}]`, "unset"), which are booleans, enums or have a
maximum length. Then the objects built from parameters (`new_configuration`, `updated_configuration`) are checked
against Stripe's `billing_portal.configuration` schema and Stripe's merge rules.
"""

from __future__ import annotations

import copy
import json
import re
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from portal_sessions.domain.configuration import new_configuration, updated_configuration
from portal_sessions.runtime.errors import InvalidRequestError
from portal_sessions.stripe_wire.configuration_params import (
    CreateConfigurationParams,
    ListConfigurationsParams,
    RetrieveConfigurationParams,
    UpdateConfigurationParams,
    check_expand,
    parse_create_configuration_params,
    parse_list_configurations_params,
    parse_update_configuration_params,
)
from portal_sessions.stripe_wire.stripe_params import StripeParams, validate_params
from tests.support.contract import REFERENCE, schema_errors, stated_max_length

NOW = 1_800_000_000
LATER = NOW + 3_600
URL = "https://example.com/x"
LOGIN_URL = "https://portal.example.com/login"

_PATHS = json.loads((REFERENCE / "paths.json").read_text())
_COLLECTION = _PATHS["/v1/billing_portal/configurations"]
_ITEM = _PATHS["/v1/billing_portal/configurations/{configuration}"]


def _body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    return operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]


def _query_schema(operation: dict[str, Any]) -> dict[str, Any]:
    """The query parameters of a GET, as one object schema."""
    query = [parameter for parameter in operation["parameters"] if parameter["in"] == "query"]
    return {
        "type": "object",
        "properties": {parameter["name"]: parameter["schema"] for parameter in query},
        "required": [parameter["name"] for parameter in query if parameter.get("required")],
    }


CREATE_SCHEMA = _body_schema(_COLLECTION["post"])
UPDATE_SCHEMA = _body_schema(_ITEM["post"])
LIST_SCHEMA = _query_schema(_COLLECTION["get"])
RETRIEVE_SCHEMA = _query_schema(_ITEM["get"])


def _new(params: CreateConfigurationParams, configuration_id: str, livemode: bool, now: int) -> dict[str, Any]:
    return new_configuration(params, configuration_id, livemode, now, login_url=LOGIN_URL)


def _updated(configuration: dict[str, Any], params: UpdateConfigurationParams, now: int) -> dict[str, Any]:
    return updated_configuration(configuration, params, now, login_url=LOGIN_URL)


def _parse_retrieve(raw: dict[str, Any]) -> RetrieveConfigurationParams:
    """What the retrieve route does with its query string."""
    params = validate_params(RetrieveConfigurationParams, raw)
    check_expand(params.expand)
    return params


# (name, schema, model, parser, the smallest valid request)
CALLS = {
    "create": (CREATE_SCHEMA, CreateConfigurationParams, parse_create_configuration_params, {"features": {}}),
    "update": (UPDATE_SCHEMA, UpdateConfigurationParams, parse_update_configuration_params, {}),
    "list": (LIST_SCHEMA, ListConfigurationsParams, parse_list_configurations_params, {}),
    "retrieve": (RETRIEVE_SCHEMA, RetrieveConfigurationParams, _parse_retrieve, {}),
}
BODY_CALLS = ("create", "update")


# Walking Stripe's schema


def _accepts_empty(schema: dict[str, Any]) -> bool:
    return any(branch.get("enum") == [""] for branch in schema.get("anyOf", []))


def _value_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The non-"" branch of an `anyOf [X, {enum: [""]}]`, or the schema itself."""
    branches = [branch for branch in schema.get("anyOf", []) if branch.get("enum") != [""]]
    return branches[0] if branches else schema


def _sample(schema: dict[str, Any]) -> Any:
    """A smallest valid value for a parameter schema, in form-encoded shape (strings everywhere)."""
    schema = _value_schema(schema)
    kind = schema.get("type")
    if kind == "object":
        if "properties" not in schema:
            return {"k": "v"}
        return {name: _sample(schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "array":
        return [_sample(schema["items"])]
    if kind == "boolean":
        return "true"
    if kind == "integer":
        return "1"
    if "enum" in schema:
        return schema["enum"][0]
    return URL  # valid for URL parameters and for plain strings alike


def _walk(schema: dict[str, Any], path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every parameter of a schema (hash members and array items, at any depth), with its path."""
    value = _value_schema(schema)
    if path:
        yield path, schema
    if value.get("type") == "object":
        for name, member in value.get("properties", {}).items():
            yield from _walk(member, (*path, name))
    elif value.get("type") == "array":
        yield from _walk(value["items"], (*path, 0))


def _member(schema: dict[str, Any], key: str | int) -> dict[str, Any]:
    value = _value_schema(schema)
    return value["items"] if isinstance(key, int) else value["properties"][key]


def _request_with(call: str, path: tuple[str | int, ...], leaf: Any) -> dict[str, Any]:
    """The smallest valid request of `call` that holds `leaf` at `path` (valid samples for what it needs)."""
    schema, _model, _parse, minimal = CALLS[call]
    raw = copy.deepcopy(minimal)
    container: Any = raw
    for position, key in enumerate(path):
        member = _member(schema, key)
        if position == len(path) - 1:
            if isinstance(key, int):
                container[:] = [leaf]
            else:
                container[key] = leaf
            break
        if isinstance(key, int):
            container = container[0]
        else:
            if not isinstance(container.get(key), (dict, list)):
                container[key] = _sample(member)
            container = container[key]
        schema = member
    return raw


def _param(path: tuple[str | int, ...]) -> str:
    head, *rest = (str(part) for part in path)
    return head + "".join(f"[{part}]" for part in rest)


def _attribute(params: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        params = params[key] if isinstance(key, int) else getattr(params, key)
    return params


def _parameters(call: str, wanted: typing.Callable[[dict[str, Any]], bool]) -> list[Any]:
    return [
        pytest.param(call, path, schema, id=f"{call}:{_param(path)}")
        for path, schema in _walk(CALLS[call][0])
        if wanted(schema)
    ]


def _is_boolean(schema: dict[str, Any]) -> bool:
    return _value_schema(schema).get("type") == "boolean"


def _is_enum(schema: dict[str, Any]) -> bool:
    return bool(_value_schema(schema).get("enum"))


def _max_length(schema: dict[str, Any]) -> int | None:
    return _value_schema(schema).get("maxLength")


def _rejects(parse: typing.Callable[[dict[str, Any]], Any], raw: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as raised:
        parse(raw)
    return raised.value


# Model ↔ spec structure


def _nested_model(annotation: Any) -> type[StripeParams] | None:
    """The parameter model inside an annotation such as `list[ProductParams] | None`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, StripeParams):
        return annotation
    for argument in typing.get_args(annotation):
        found = _nested_model(argument)
        if found is not None:
            return found
    return None


def _hash_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The hash schema with named members behind a parameter (directly, or as an array's items)."""
    value = _value_schema(schema)
    if value.get("type") == "array":
        value = _value_schema(value["items"])
    return value if value.get("type") == "object" and "properties" in value else None


def _structure_mismatches(schema: dict[str, Any], model: type[StripeParams], where: str) -> list[str]:
    problems = []
    fields = model.model_fields
    properties = schema["properties"]
    if set(fields) != set(properties):
        problems.append(f"{where}: model {sorted(fields)} != spec {sorted(properties)}")
    required = {name for name, field in fields.items() if field.is_required()}
    if required != set(schema.get("required", [])):
        problems.append(f"{where}: required {sorted(required)} != spec {sorted(schema.get('required', []))}")
    for name in set(fields) & set(properties):
        nested_schema = _hash_schema(properties[name])
        nested_model = _nested_model(fields[name].annotation)
        label = f"{where}[{name}]" if where else name
        if nested_schema is None and nested_model is not None:
            problems.append(f"{label}: a hash in the model, not in the spec")
        elif nested_schema is not None and nested_model is None:
            problems.append(f"{label}: a hash in the spec, not in the model")
        elif nested_schema is not None and nested_model is not None:
            problems.extend(_structure_mismatches(nested_schema, nested_model, label))
    return problems


@pytest.mark.parametrize("call", list(CALLS))
def test_top_level_parameters_are_exactly_stripes(call: str) -> None:
    # Given Stripe's request schema of the call and this service's parameter model
    schema, model, _parse, _minimal = CALLS[call]

    # When their parameter names are compared
    # Then they are the same set
    assert set(model.model_fields) == set(schema["properties"])


@pytest.mark.parametrize("call", list(CALLS))
def test_every_nested_hash_has_stripes_members_and_required_members(call: str) -> None:
    # Given Stripe's request schema and the parameter model
    schema, model, _parse, _minimal = CALLS[call]

    # When both are walked hash by hash
    problems = _structure_mismatches(schema, model, "")

    # Then every hash has the same members, and the same required ones
    assert problems == []


@pytest.mark.parametrize("call", list(CALLS))
def test_unknown_parameters_are_refused_by_name(call: str) -> None:
    # Given a request with a parameter Stripe does not have
    _schema, _model, parse, minimal = CALLS[call]
    raw = {**minimal, "colour": "blue"}

    # When it is parsed
    error = _rejects(parse, raw)

    # Then
    assert (error.code, error.param) == ("parameter_unknown", "colour")
    assert error.message == "Received unknown parameter: colour"


@pytest.mark.parametrize(
    ("call", "raw", "param"),
    [
        ("create", {"features": {"colour": "blue"}}, "features[colour]"),
        ("create", {"features": {"invoice_history": {"enabled": "true", "colour": "x"}}},
         "features[invoice_history][colour]"),
        ("update", {"business_profile": {"colour": "blue"}}, "business_profile[colour]"),
        ("update", {"login_page": {"enabled": "true", "url": URL}}, "login_page[url]"),
    ],
)  # fmt: skip
def test_unknown_nested_parameters_are_refused_with_their_bracket_name(
    call: str, raw: dict[str, Any], param: str
) -> None:
    # Given an unknown member inside a known hash
    parse = CALLS[call][2]

    # When
    error = _rejects(parse, raw)

    # Then
    assert (error.code, error.param) == ("parameter_unknown", param)


def test_features_is_required_on_create() -> None:
    # Given a create request without features
    raw = {"name": "Plan A"}

    # When
    error = _rejects(parse_create_configuration_params, raw)

    # Then
    assert (error.code, error.param) == ("parameter_missing", "features")
    assert error.message == "Missing required param: features."


def test_no_parameter_is_required_on_update_or_list() -> None:
    # Given empty requests
    # When they are parsed
    update = parse_update_configuration_params({})
    listing = parse_list_configurations_params({})

    # Then nothing is set, and list takes Stripe's default limit
    assert update.model_fields_set == set()
    assert listing.limit == 10


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        ({"features": {"invoice_history": {}}}, "features[invoice_history][enabled]"),
        ({"features": {"subscription_cancel": {"enabled": "true", "cancellation_reason": {"enabled": "true"}}}},
         "features[subscription_cancel][cancellation_reason][options]"),
        ({"features": {"subscription_update": {"enabled": "true", "products": [{"prices": ["price_1"]}]}}},
         "features[subscription_update][products][0][product]"),
        ({"features": {}, "login_page": {}}, "login_page[enabled]"),
    ],
)  # fmt: skip
def test_missing_nested_required_members_are_named(raw: dict[str, Any], param: str) -> None:
    # Given a hash without one of its required members
    # When
    error = _rejects(parse_create_configuration_params, raw)

    # Then
    assert (error.code, error.param) == ("parameter_missing", param)


# Empty strings: "unset" where Stripe allows it, parameter_invalid_empty elsewhere


@pytest.mark.parametrize(
    ("call", "path", "schema"),
    [param for call in ("create", "update", "list", "retrieve") for param in _parameters(call, lambda _s: True)],
)
def test_an_empty_string_unsets_exactly_where_stripe_allows_it(
    call: str, path: tuple[str | int, ...], schema: dict[str, Any]
) -> None:
    # Given the smallest valid request with "" for this parameter
    parse = CALLS[call][2]
    raw = _request_with(call, path, "")

    # When it is parsed
    if _accepts_empty(schema):
        params = parse(raw)

        # Then a parameter the spec lets be unset is accepted, as "reset" (None)
        assert _attribute(params, path) is None
    else:
        error = _rejects(parse, raw)

        # Then any other one is Stripe's parameter_invalid_empty, naming it
        assert (error.code, error.param) == ("parameter_invalid_empty", _param(path))
        assert error.message.startswith(f"You passed an empty string for '{_param(path)}'.")


@pytest.mark.parametrize(
    ("raw", "field", "reset"),
    [
        ({"default_return_url": ""}, ("default_return_url",), None),
        ({"name": ""}, ("name",), None),
        ({"business_profile": {"headline": ""}}, ("business_profile", "headline"), None),
        ({"business_profile": {"privacy_policy_url": ""}}, ("business_profile", "privacy_policy_url"), None),
        ({"business_profile": {"terms_of_service_url": ""}}, ("business_profile", "terms_of_service_url"), None),
        ({"metadata": ""}, ("metadata",), {}),
        ({"features": {"customer_update": {"allowed_updates": ""}}},
         ("features", "customer_update", "allowed_updates"), []),
        ({"features": {"payment_method_update": {"enabled": "true", "payment_method_configuration": ""}}},
         ("features", "payment_method_update", "payment_method_configuration"), None),
        ({"features": {"subscription_cancel": {"cancellation_reason": {"enabled": "true", "options": ""}}}},
         ("features", "subscription_cancel", "cancellation_reason", "options"), []),
        ({"features": {"subscription_update": {"default_allowed_updates": ""}}},
         ("features", "subscription_update", "default_allowed_updates"), []),
        ({"features": {"subscription_update": {"products": ""}}}, ("features", "subscription_update", "products"),
         None),
        ({"features": {"subscription_update": {"schedule_at_period_end": {"conditions": ""}}}},
         ("features", "subscription_update", "schedule_at_period_end", "conditions"), []),
    ],
)  # fmt: skip
def test_an_update_with_an_empty_string_resets_the_field(
    raw: dict[str, Any], field: tuple[str, ...], reset: Any
) -> None:
    # Given a configuration where every unsettable field holds a value
    configuration = _new(parse_create_configuration_params(_everything()), "bpc_1", False, NOW)
    before = _get(configuration, field)
    assert before not in (None, [], {})

    # When the field is updated with ""
    updated = _updated(configuration, parse_update_configuration_params(raw), LATER)

    # Then it goes back to its empty value, and the object is still Stripe's shape
    assert _get(updated, field) == reset
    assert schema_errors("billing_portal.configuration", updated) == []


def test_an_empty_metadata_value_removes_only_that_key() -> None:
    # Given a configuration with two metadata keys
    configuration = _new(
        parse_create_configuration_params({"features": {}, "metadata": {"plan": "gold", "team": "billing"}}),
        "bpc_1",
        False,
        NOW,
    )

    # When one key is sent empty and a new one is added
    params = parse_update_configuration_params({"metadata": {"plan": "", "region": "eu"}})
    updated = _updated(configuration, params, LATER)

    # Then that key is gone, the untouched key stays, the new key is added
    assert updated["metadata"] == {"team": "billing", "region": "eu"}


def _with_metadata(count: int) -> dict[str, Any]:
    metadata = {f"old{index}": "v" for index in range(count)}
    return _new(parse_create_configuration_params({"features": {}, "metadata": metadata}), "bpc_1", False, NOW)


def test_an_update_cannot_take_metadata_over_50_keys_in_total() -> None:
    # Given a configuration with 30 keys
    configuration = _with_metadata(30)

    # When 21 new keys are merged in (the request alone is within 50)
    params = parse_update_configuration_params({"metadata": {f"new{index}": "v" for index in range(21)}})

    # Then
    with pytest.raises(InvalidRequestError) as raised:
        _updated(configuration, params, LATER)
    assert (raised.value.code, raised.value.param) == ("parameter_invalid", "metadata")


@pytest.mark.parametrize(
    ("existing", "update", "expected"),
    [
        (30, {f"new{index}": "v" for index in range(20)}, 50),
        (50, {"old0": "", "new": "v"}, 50),
        (50, {"old0": "changed"}, 50),
        (50, {"old0": "", "old1": ""}, 48),
    ],
)
def test_metadata_merges_up_to_50_keys_in_total(existing: int, update: dict[str, str], expected: int) -> None:
    # Given a configuration with some keys
    configuration = _with_metadata(existing)

    # When keys are added, changed or removed
    updated = _updated(configuration, parse_update_configuration_params({"metadata": update}), LATER)

    # Then the total stays within Stripe's 50
    assert len(updated["metadata"]) == expected


def test_an_empty_metadata_value_on_create_stores_no_key() -> None:
    # Given a create request with an empty metadata value
    params = parse_create_configuration_params({"features": {}, "metadata": {"plan": "", "team": "billing"}})

    # When the configuration is built
    configuration = _new(params, "bpc_1", False, NOW)

    # Then the empty key is not stored
    assert configuration["metadata"] == {"team": "billing"}


# Booleans: Stripe takes only true/false


_BOOLEANS = [param for call in CALLS for param in _parameters(call, _is_boolean)]


@pytest.mark.parametrize(("call", "path", "schema"), _BOOLEANS)
@pytest.mark.parametrize(("given", "expected"), [("true", True), ("false", False), (True, True), (False, False)])
def test_booleans_accept_true_and_false(
    call: str, path: tuple[str | int, ...], schema: dict[str, Any], given: Any, expected: bool
) -> None:
    # Given a request with this boolean as a form string or a JSON boolean
    raw = _request_with(call, path, given)

    # When
    params = CALLS[call][2](raw)

    # Then
    assert _attribute(params, path) is expected


@pytest.mark.parametrize(("call", "path", "schema"), _BOOLEANS)
@pytest.mark.parametrize(
    ("given", "code"),
    [("yes", "parameter_invalid"), ("1", "parameter_invalid"), ("0", "parameter_invalid"), (1, "parameter_invalid"),
     ("", "parameter_invalid_empty")],
)  # fmt: skip
def test_booleans_refuse_anything_else(
    call: str, path: tuple[str | int, ...], schema: dict[str, Any], given: Any, code: str
) -> None:
    # Given a request with something other than true/false for this boolean
    raw = _request_with(call, path, given)

    # When
    error = _rejects(CALLS[call][2], raw)

    # Then the error names the bracket parameter
    assert (error.code, error.param) == (code, _param(path))


def test_booleans_are_real_booleans_in_the_parsed_params() -> None:
    # Given "false" from a form body
    params = parse_create_configuration_params({"features": {"invoice_history": {"enabled": "false"}}})

    # When / Then it is False, not the (truthy) string
    assert params.features.invoice_history is not None
    assert params.features.invoice_history.enabled is False


# Enums


def _enum_values(schema: dict[str, Any]) -> list[str]:
    return list(_value_schema(schema)["enum"])


_ENUMS = [param for call in CALLS for param in _parameters(call, _is_enum)]


@pytest.mark.parametrize(("call", "path", "schema"), _ENUMS)
def test_every_enum_value_of_the_spec_is_accepted(
    call: str, path: tuple[str | int, ...], schema: dict[str, Any]
) -> None:
    for value in _enum_values(schema):
        # Given a request with this enum value
        raw = _request_with(call, path, value)

        # When
        params = CALLS[call][2](raw)

        # Then it is kept as given
        assert _attribute(params, path) == value


@pytest.mark.parametrize(("call", "path", "schema"), _ENUMS)
def test_a_value_outside_the_enum_is_refused_naming_the_bracket_param(
    call: str, path: tuple[str | int, ...], schema: dict[str, Any]
) -> None:
    # Given a request with a value Stripe's enum does not have
    raw = _request_with(call, path, "bogus_value")

    # When
    error = _rejects(CALLS[call][2], raw)

    # Then the error names the parameter in bracket notation and lists exactly Stripe's values
    assert (error.code, error.param) == ("parameter_invalid", _param(path))
    assert set(re.findall(r"'([^']*)'", error.message.split("must be one of", 1)[1])) == set(_enum_values(schema))


def test_enum_error_for_cancellation_mode_names_the_nested_param() -> None:
    # Given
    raw = {"features": {"subscription_cancel": {"enabled": "true", "mode": "whenever"}}}

    # When
    error = _rejects(parse_create_configuration_params, raw)

    # Then
    assert error.param == "features[subscription_cancel][mode]"
    assert error.message.startswith("Invalid features[subscription_cancel][mode]: must be one of")


# Lengths


_LIMITED = [param for call in CALLS for param in _parameters(call, lambda schema: _max_length(schema) is not None)]


@pytest.mark.parametrize(("call", "path", "schema"), _LIMITED)
def test_strings_up_to_their_maximum_length_are_accepted(
    call: str, path: tuple[str | int, ...], schema: dict[str, Any]
) -> None:
    # Given a request with a string exactly as long as the spec allows (or the service, where docs/api.md says so)
    limit = stated_max_length(path, _max_length(schema))
    assert limit is not None
    raw = _request_with(call, path, "a" * limit)

    # When
    params = CALLS[call][2](raw) if path != ("expand", 0) else validate_params(CALLS[call][1], raw)

    # Then it is kept whole
    assert _attribute(params, path) == "a" * limit


@pytest.mark.parametrize(("call", "path", "schema"), _LIMITED)
def test_strings_over_their_maximum_length_are_refused(
    call: str, path: tuple[str | int, ...], schema: dict[str, Any]
) -> None:
    # Given a request with a string one character over the spec's limit (or the service's, where docs/api.md says so)
    limit = stated_max_length(path, _max_length(schema))
    assert limit is not None
    raw = _request_with(call, path, "a" * (limit + 1))

    # When
    error = _rejects(CALLS[call][2], raw)

    # Then it is a parameter_invalid naming the parameter and the limit
    assert (error.code, error.param) == ("parameter_invalid", _param(path))
    assert str(limit) in error.message


@pytest.mark.parametrize(
    ("call", "raw", "limit"),
    [
        ("create", {"features": {}, "business_profile": {"headline": "h" * 61}}, 60),
        ("update", {"business_profile": {"headline": "h" * 61}}, 60),
        ("create", {"features": {}, "name": "n" * 257}, 256),
        ("update", {"name": "n" * 257}, 256),
    ],
)
def test_headline_is_at_most_60_and_name_at_most_256_characters(call: str, raw: dict[str, Any], limit: int) -> None:
    # Given one character too many
    # When
    error = _rejects(CALLS[call][2], raw)

    # Then the message states the limit in characters, as the service's other length errors do (no pydantic "items")
    assert error.code == "parameter_invalid"
    assert error.param in ("business_profile[headline]", "name")
    assert error.message == f"Invalid {error.param}: must be at most {limit} characters"


def test_headline_of_60_and_name_of_256_characters_are_accepted() -> None:
    # Given the longest allowed values
    raw = {"features": {}, "business_profile": {"headline": "h" * 60}, "name": "n" * 256}

    # When
    params = parse_create_configuration_params(raw)

    # Then
    assert params.business_profile is not None
    assert params.business_profile.headline == "h" * 60
    assert params.name == "n" * 256


# Metadata


@pytest.mark.parametrize("call", BODY_CALLS)
def test_metadata_takes_up_to_50_keys_of_40_characters_and_values_of_500(call: str) -> None:
    # Given the largest metadata Stripe allows
    metadata = {f"{index:02d}".ljust(40, "k"): "v" * 500 for index in range(50)}
    raw = {**CALLS[call][3], "metadata": metadata}

    # When
    params = CALLS[call][2](raw)

    # Then
    assert params.metadata == metadata


@pytest.mark.parametrize("call", BODY_CALLS)
def test_metadata_with_51_keys_is_refused(call: str) -> None:
    # Given one key too many
    raw = {**CALLS[call][3], "metadata": {f"key{index}": "v" for index in range(51)}}

    # When
    error = _rejects(CALLS[call][2], raw)

    # Then
    assert (error.code, error.param) == ("parameter_invalid", "metadata")


@pytest.mark.parametrize("call", BODY_CALLS)
def test_a_metadata_value_over_500_characters_is_refused(call: str) -> None:
    # Given
    raw = {**CALLS[call][3], "metadata": {"plan": "v" * 501}}

    # When
    error = _rejects(CALLS[call][2], raw)

    # Then
    assert (error.code, error.param) == ("parameter_invalid", "metadata[plan]")


@pytest.mark.parametrize("call", BODY_CALLS)
def test_a_metadata_key_over_40_characters_is_refused_naming_a_real_parameter(call: str) -> None:
    # Given a 41-character key
    key = "k" * 41
    raw = {**CALLS[call][3], "metadata": {key: "v"}}

    # When
    error = _rejects(CALLS[call][2], raw)

    # Then the error names the parameter the client sent (not a pydantic location such as "[[key]]")
    assert error.code == "parameter_invalid"
    assert error.param in ("metadata", f"metadata[{key}]")
    assert "[key]" not in error.message


@pytest.mark.parametrize("call", BODY_CALLS)
def test_metadata_values_must_be_strings(call: str) -> None:
    # Given a hash where a string value belongs
    raw = {**CALLS[call][3], "metadata": {"plan": {"nested": "x"}}}

    # When
    error = _rejects(CALLS[call][2], raw)

    # Then
    assert (error.code, error.param) == ("parameter_invalid", "metadata[plan]")


# Integers (adjustable quantity)


@pytest.mark.parametrize("given", ["1.5", "1e3", " 3", "three", True])
def test_integers_are_digits_only(given: Any) -> None:
    # Given a non-integer for an integer parameter
    raw = {
        "features": {
            "subscription_update": {
                "enabled": "true",
                "products": [
                    {
                        "prices": ["price_1"],
                        "product": "prod_1",
                        "adjustable_quantity": {"enabled": "true", "maximum": given},
                    }
                ],
            }
        }
    }

    # When
    error = _rejects(parse_create_configuration_params, raw)

    # Then
    assert error.code == "parameter_invalid_integer"
    assert error.param == "features[subscription_update][products][0][adjustable_quantity][maximum]"


# Expand


_EXPANDABLE = ("application", "business_profile", "features", "login_page")


@pytest.mark.parametrize("call", ["create", "update", "retrieve"])
@pytest.mark.parametrize("field", _EXPANDABLE)
def test_the_configurations_expandable_fields_are_accepted(call: str, field: str) -> None:
    # Given
    raw = {**CALLS[call][3], "expand": [field]}

    # When
    params = CALLS[call][2](raw)

    # Then
    assert params.expand == [field]


@pytest.mark.parametrize("call", ["create", "update", "retrieve"])
@pytest.mark.parametrize("field", ["configuration", "flow", "metadata", "data.features", "features.customer_update"])
def test_other_expansions_are_refused(call: str, field: str) -> None:
    # Given
    raw = {**CALLS[call][3], "expand": [field]}

    # When
    error = _rejects(CALLS[call][2], raw)

    # Then
    assert (error.code, error.param) == ("parameter_invalid", "expand")
    assert error.message == f"This property cannot be expanded ({field})."


@pytest.mark.parametrize("field", _EXPANDABLE)
def test_list_expands_the_fields_of_its_items(field: str) -> None:
    # Given
    raw = {"expand": [f"data.{field}"]}

    # When
    params = parse_list_configurations_params(raw)

    # Then
    assert params.expand == [f"data.{field}"]


@pytest.mark.parametrize("field", ["data.configuration", "data.bogus", "url", "data"])
def test_list_refuses_other_expansions(field: str) -> None:
    # Given
    raw = {"expand": [field]}

    # When
    error = _rejects(parse_list_configurations_params, raw)

    # Then
    assert (error.code, error.param) == ("parameter_invalid", "expand")


@pytest.mark.parametrize("field", _EXPANDABLE)
def test_list_refuses_an_item_field_without_the_data_prefix(field: str) -> None:
    # Given a configuration field named as if the list object had it (Stripe's list has only data.* fields)
    raw = {"expand": [field]}

    # When
    error = _rejects(parse_list_configurations_params, raw)

    # Then
    assert (error.code, error.param) == ("parameter_invalid", "expand")


# List parameters


@pytest.mark.parametrize(("given", "expected"), [("1", 1), ("10", 10), ("100", 100), (37, 37)])
def test_list_limit_between_1_and_100_is_accepted(given: Any, expected: int) -> None:
    # Given / When
    params = parse_list_configurations_params({"limit": given})

    # Then
    assert params.limit == expected


@pytest.mark.parametrize(
    ("given", "code"),
    [("0", "parameter_invalid"), ("101", "parameter_invalid"), ("-1", "parameter_invalid"),
     ("abc", "parameter_invalid_integer"), ("2.5", "parameter_invalid_integer"), ("", "parameter_invalid_empty")],
)  # fmt: skip
def test_list_limit_outside_1_to_100_is_refused(given: str, code: str) -> None:
    # Given / When
    error = _rejects(parse_list_configurations_params, {"limit": given})

    # Then
    assert (error.code, error.param) == (code, "limit")


def test_list_limit_defaults_to_10() -> None:
    assert parse_list_configurations_params({}).limit == 10


def test_list_refuses_starting_after_with_ending_before() -> None:
    # Given both cursors
    raw = {"starting_after": "bpc_a", "ending_before": "bpc_b"}

    # When
    error = _rejects(parse_list_configurations_params, raw)

    # Then
    assert error.param in ("starting_after", "ending_before")
    assert "ending_before" in error.message and "starting_after" in error.message


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_list_takes_one_cursor(cursor: str) -> None:
    # Given / When
    params = parse_list_configurations_params({cursor: "bpc_a", "active": "true", "is_default": "false"})

    # Then
    assert getattr(params, cursor) == "bpc_a"
    assert (params.active, params.is_default) == (True, False)


# Building the object: new_configuration


def _everything() -> dict[str, Any]:
    """A create request that sets every parameter Stripe has, in form-encoded shape."""
    return {
        "business_profile": {
            "headline": "Acme billing",
            "privacy_policy_url": "https://example.com/privacy",
            "terms_of_service_url": "https://example.com/terms",
        },
        "default_return_url": "https://example.com/account",
        "expand": ["features"],
        "features": {
            "customer_update": {"enabled": "true", "allowed_updates": ["email", "tax_id"]},
            "invoice_history": {"enabled": "true"},
            "payment_method_update": {"enabled": "true", "payment_method_configuration": "pmc_123"},
            "subscription_cancel": {
                "enabled": "true",
                "cancellation_reason": {"enabled": "true", "options": ["too_expensive", "unused"]},
                "mode": "immediately",
                "proration_behavior": "create_prorations",
            },
            "subscription_update": {
                "enabled": "true",
                "billing_cycle_anchor": "now",
                "default_allowed_updates": ["price", "quantity"],
                "products": [
                    {
                        "prices": ["price_1", "price_2"],
                        "product": "prod_1",
                        "adjustable_quantity": {"enabled": "true", "maximum": "10", "minimum": "2"},
                    },
                    {"prices": ["price_3"], "product": "prod_2"},
                ],
                "proration_behavior": "always_invoice",
                "schedule_at_period_end": {"conditions": [{"type": "decreasing_item_amount"}]},
                "trial_update_behavior": "continue_trial",
            },
        },
        "login_page": {"enabled": "false"},
        "metadata": {"plan": "gold"},
        "name": "Gold plan portal",
    }


def _get(configuration: dict[str, Any], field: tuple[str, ...]) -> Any:
    for key in field:
        configuration = configuration[key]
    return configuration


@pytest.mark.parametrize("livemode", [False, True])
def test_a_new_configuration_has_stripes_defaults_with_every_feature_off(livemode: bool) -> None:
    # Given the smallest create request
    params = parse_create_configuration_params({"features": {}})

    # When
    configuration = _new(params, "bpc_123", livemode, NOW)

    # Then
    assert schema_errors("billing_portal.configuration", configuration) == []
    assert configuration["id"] == "bpc_123"
    assert configuration["object"] == "billing_portal.configuration"
    assert configuration["livemode"] is livemode
    assert configuration["active"] is True
    assert configuration["is_default"] is False
    assert configuration["created"] == configuration["updated"] == NOW
    assert configuration["application"] is None
    assert configuration["default_return_url"] is None
    assert configuration["name"] is None
    assert configuration["metadata"] == {}
    assert configuration["business_profile"] == {
        "headline": None,
        "privacy_policy_url": None,
        "terms_of_service_url": None,
    }
    assert configuration["login_page"] == {"enabled": False, "url": None}
    features = configuration["features"]
    assert {name: feature["enabled"] for name, feature in features.items()} == {
        "customer_update": False,
        "invoice_history": False,
        "payment_method_update": False,
        "subscription_cancel": False,
        "subscription_update": False,
    }
    assert features["customer_update"]["allowed_updates"] == []
    assert features["payment_method_update"]["payment_method_configuration"] is None
    assert features["subscription_cancel"] == {
        "cancellation_reason": {"enabled": False, "options": []},
        "enabled": False,
        "mode": "at_period_end",
        "proration_behavior": "none",
    }
    assert features["subscription_update"]["default_allowed_updates"] == []
    assert features["subscription_update"]["proration_behavior"] == "none"
    assert features["subscription_update"]["schedule_at_period_end"] == {"conditions": []}


def test_a_new_configuration_carries_everything_given() -> None:
    # Given every parameter
    params = parse_create_configuration_params(_everything())

    # When
    configuration = _new(params, "bpc_123", True, NOW)

    # Then
    assert schema_errors("billing_portal.configuration", configuration) == []
    assert configuration["business_profile"] == {
        "headline": "Acme billing",
        "privacy_policy_url": "https://example.com/privacy",
        "terms_of_service_url": "https://example.com/terms",
    }
    assert configuration["default_return_url"] == "https://example.com/account"
    assert configuration["name"] == "Gold plan portal"
    assert configuration["metadata"] == {"plan": "gold"}
    features = configuration["features"]
    assert features["customer_update"] == {"allowed_updates": ["email", "tax_id"], "enabled": True}
    assert features["invoice_history"] == {"enabled": True}
    assert features["payment_method_update"] == {"enabled": True, "payment_method_configuration": "pmc_123"}
    assert features["subscription_cancel"] == {
        "cancellation_reason": {"enabled": True, "options": ["too_expensive", "unused"]},
        "enabled": True,
        "mode": "immediately",
        "proration_behavior": "create_prorations",
    }
    update = features["subscription_update"]
    assert update["enabled"] is True
    assert update["billing_cycle_anchor"] == "now"
    assert update["default_allowed_updates"] == ["price", "quantity"]
    assert update["proration_behavior"] == "always_invoice"
    assert update["schedule_at_period_end"] == {"conditions": [{"type": "decreasing_item_amount"}]}
    assert update["trial_update_behavior"] == "continue_trial"
    assert update["products"] == [
        {
            "adjustable_quantity": {"enabled": True, "maximum": 10, "minimum": 2},
            "prices": ["price_1", "price_2"],
            "product": "prod_1",
        },
        {
            "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1},
            "prices": ["price_3"],
            "product": "prod_2",
        },
    ]


_COMBINATIONS = [
    {"features": {}},
    {"features": {"invoice_history": {"enabled": "true"}}},
    {"features": {"customer_update": {"enabled": "true"}}},
    {"features": {"customer_update": {"enabled": "false", "allowed_updates": ""}}},
    {"features": {"customer_update": {"enabled": True, "allowed_updates": ["address", "email", "name", "phone",
                                                                            "shipping", "tax_id"]}}},
    {"features": {"payment_method_update": {"enabled": "true", "payment_method_configuration": ""}}},
    {"features": {"subscription_cancel": {"enabled": "true"}}},
    {"features": {"subscription_cancel": {"enabled": "true", "cancellation_reason": {"enabled": "false",
                                                                                      "options": ""}}}},
    {"features": {"subscription_cancel": {"enabled": "true", "mode": "immediately",
                                          "proration_behavior": "always_invoice"}}},
    {"features": {"subscription_update": {"enabled": "true"}}},
    {"features": {"subscription_update": {"enabled": "true", "products": ""}}},
    {"features": {"subscription_update": {"enabled": "true", "products": [{"prices": ["price_1"], "product": "p"}]}}},
    {"features": {"subscription_update": {"enabled": "false", "billing_cycle_anchor": "unchanged",
                                          "schedule_at_period_end": {}}}},
    {"features": {"subscription_update": {"enabled": "true", "schedule_at_period_end": {"conditions": [
        {"type": "shortening_interval"}, {"type": "decreasing_item_amount"}]}}}},
    {"features": {}, "business_profile": {"headline": ""}},
    {"features": {}, "business_profile": {"privacy_policy_url": "https://example.com/p"}},
    {"features": {}, "default_return_url": ""},
    {"features": {}, "default_return_url": "https://example.com/back"},
    {"features": {}, "login_page": {"enabled": "true"}},
    {"features": {}, "metadata": {"a": "1", "b": ""}},
    {"features": {}, "name": ""},
    {"features": {}, "name": "n" * 256, "business_profile": {"headline": "h" * 60}},
    _everything(),
]  # fmt: skip


@pytest.mark.parametrize("raw", _COMBINATIONS)
@pytest.mark.parametrize("livemode", [False, True])
def test_new_configurations_validate_against_stripes_schema(raw: dict[str, Any], livemode: bool) -> None:
    # Given a create request
    params = parse_create_configuration_params(raw)

    # When the object is built
    configuration = _new(params, "bpc_123", livemode, NOW)

    # Then Stripe's schema accepts it, and it is JSON as the API returns it
    assert schema_errors("billing_portal.configuration", configuration) == []
    assert json.loads(json.dumps(configuration)) == configuration


def test_new_configuration_does_not_share_state_between_objects() -> None:
    # Given two configurations from the same defaults
    params = parse_create_configuration_params({"features": {}})
    first = _new(params, "bpc_1", False, NOW)
    second = _new(params, "bpc_2", False, NOW)

    # When one is changed in place
    first["features"]["customer_update"]["allowed_updates"].append("email")
    first["metadata"]["x"] = "y"

    # Then the other is not
    assert second["features"]["customer_update"]["allowed_updates"] == []
    assert second["metadata"] == {}


# Updating the object: updated_configuration


def _base() -> dict[str, Any]:
    return _new(parse_create_configuration_params(_everything()), "bpc_base", False, NOW)


def test_an_update_merges_nested_hashes_without_dropping_siblings() -> None:
    # Given a configuration with everything set
    configuration = _base()

    # When one member of several hashes is updated
    params = parse_update_configuration_params(
        {
            "business_profile": {"terms_of_service_url": "https://example.com/new-terms"},
            "features": {
                "subscription_cancel": {"mode": "at_period_end"},
                "customer_update": {"allowed_updates": ["name"]},
                "subscription_update": {"schedule_at_period_end": {"conditions": [{"type": "shortening_interval"}]}},
            },
        }
    )
    updated = _updated(configuration, params, LATER)

    # Then only those members change
    assert updated["business_profile"] == {
        "headline": "Acme billing",
        "privacy_policy_url": "https://example.com/privacy",
        "terms_of_service_url": "https://example.com/new-terms",
    }
    assert updated["features"]["subscription_cancel"] == {
        **configuration["features"]["subscription_cancel"],
        "mode": "at_period_end",
    }
    assert updated["features"]["customer_update"] == {"allowed_updates": ["name"], "enabled": True}
    assert updated["features"]["subscription_update"] == {
        **configuration["features"]["subscription_update"],
        "schedule_at_period_end": {"conditions": [{"type": "shortening_interval"}]},
    }
    for untouched in ("invoice_history", "payment_method_update"):
        assert updated["features"][untouched] == configuration["features"][untouched]
    for field in ("default_return_url", "name", "metadata", "login_page", "active"):
        assert updated[field] == configuration[field]
    assert schema_errors("billing_portal.configuration", updated) == []


def test_an_update_keeps_identity_and_creation_time_and_bumps_updated() -> None:
    # Given
    configuration = _base()

    # When
    updated = _updated(configuration, parse_update_configuration_params({"name": "Renamed"}), LATER)

    # Then
    assert updated["name"] == "Renamed"
    assert updated["updated"] == LATER
    assert (updated["id"], updated["created"], updated["livemode"], updated["is_default"], updated["object"]) == (
        "bpc_base",
        NOW,
        False,
        False,
        "billing_portal.configuration",
    )


def test_an_update_does_not_change_the_object_it_was_given() -> None:
    # Given
    configuration = _base()
    before = copy.deepcopy(configuration)

    # When
    params = parse_update_configuration_params(
        {"metadata": "", "business_profile": {"headline": ""}, "features": {"customer_update": {"enabled": "false"}}}
    )
    _updated(configuration, params, LATER)

    # Then
    assert configuration == before


def test_an_empty_update_changes_only_updated() -> None:
    # Given
    configuration = _base()

    # When
    updated = _updated(configuration, parse_update_configuration_params({}), LATER)

    # Then
    assert {**updated, "updated": NOW} == configuration


@pytest.mark.parametrize("active", ["false", "true"])
def test_active_is_updated(active: str) -> None:
    # Given
    configuration = _base()

    # When
    updated = _updated(configuration, parse_update_configuration_params({"active": active}), LATER)

    # Then
    assert updated["active"] is (active == "true")


def test_updating_products_replaces_the_list_in_stripes_product_shape() -> None:
    # Given a configuration with two products
    configuration = _base()

    # When the products are replaced
    params = parse_update_configuration_params(
        {"features": {"subscription_update": {"products": [{"prices": ["price_9"], "product": "prod_9"}]}}}
    )
    updated = _updated(configuration, params, LATER)

    # Then
    assert updated["features"]["subscription_update"]["products"] == [
        {"adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1}, "prices": ["price_9"],
         "product": "prod_9"},
    ]  # fmt: skip
    assert updated["features"]["subscription_update"]["enabled"] is True
    assert schema_errors("billing_portal.configuration", updated) == []


def test_repeated_updates_keep_products_stable() -> None:
    # Given a configuration with products
    configuration = _base()
    products = configuration["features"]["subscription_update"]["products"]

    # When other members of subscription_update are updated twice
    once = _updated(
        configuration,
        parse_update_configuration_params({"features": {"subscription_update": {"proration_behavior": "none"}}}),
        LATER,
    )
    twice = _updated(
        once, parse_update_configuration_params({"features": {"subscription_update": {"enabled": "false"}}}), LATER
    )

    # Then the products are as they were
    assert twice["features"]["subscription_update"]["products"] == products


def test_enabling_the_login_page_gives_it_a_shareable_url_of_this_configuration() -> None:
    # Given a configuration without a login page
    configuration = _base()
    assert configuration["login_page"] == {"enabled": False, "url": None}

    # When the login page is enabled
    updated = _updated(configuration, parse_update_configuration_params({"login_page": {"enabled": "true"}}), LATER)

    # Then it has a URL on the portal's login page that names this configuration
    login_page = updated["login_page"]
    assert set(login_page) == {"enabled", "url"}
    assert login_page["enabled"] is True
    assert login_page["url"].startswith(LOGIN_URL + "?")
    assert "configuration=bpc_base" in login_page["url"]
    assert schema_errors("billing_portal.configuration", updated) == []


def test_disabling_the_login_page_removes_its_url() -> None:
    # Given a configuration with its login page enabled
    configuration = _updated(_base(), parse_update_configuration_params({"login_page": {"enabled": "true"}}), LATER)

    # When it is disabled
    updated = _updated(configuration, parse_update_configuration_params({"login_page": {"enabled": "false"}}), LATER)

    # Then
    assert updated["login_page"] == {"enabled": False, "url": None}


def test_a_login_page_enabled_on_create_has_its_url() -> None:
    # Given / When
    configuration = _new(
        parse_create_configuration_params({"features": {}, "login_page": {"enabled": "true"}}), "bpc_9", True, NOW
    )

    # Then
    assert configuration["login_page"]["enabled"] is True
    assert configuration["login_page"]["url"].startswith(LOGIN_URL)
    assert "bpc_9" in configuration["login_page"]["url"]


def test_an_update_of_every_parameter_validates_against_the_schema() -> None:
    # Given a configuration from the smallest create request
    configuration = _new(parse_create_configuration_params({"features": {}}), "bpc_1", True, NOW)
    raw = _everything()
    raw["active"] = "false"
    raw["features"]["customer_update"] = {"allowed_updates": ["phone"]}

    # When every parameter is updated
    updated = _updated(configuration, parse_update_configuration_params(raw), LATER)

    # Then
    assert schema_errors("billing_portal.configuration", updated) == []
    assert updated["active"] is False
    assert updated["features"]["customer_update"] == {"allowed_updates": ["phone"], "enabled": False}


def test_the_walk_covers_the_parameters_this_file_promises_to_check() -> None:
    # Given the parameters derived from the spec
    # When they are listed
    create = {_param(path) for path, _schema in _walk(CREATE_SCHEMA)}

    # Then the derived cases include these (so a broken walk cannot make the generated tests vacuous)
    for expected in (
        "features[subscription_cancel][mode]",
        "features[subscription_update][products][0][adjustable_quantity][maximum]",
        "business_profile[headline]",
        "metadata",
        "expand[0]",
    ):
        assert expected in create
    assert len(_BOOLEANS) >= 15 and len(_ENUMS) >= 10 and len(_LIMITED) >= 5
