"""The document's Stripe operations take exactly the parameters of Stripe's published spec (tests/reference/paths.json):
the same names, in the same place, required alike, encoded alike (style, explode); lengths as Stripe's, except the
deviations docs/api.md states (ids at most 255 characters, URLs at most 2,048)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal_sessions.api_gateway.openapi import openapi_document
from tests.support.contract import REFERENCE, stated_max_length

STRIPE = json.loads((REFERENCE / "paths.json").read_text())
OURS = openapi_document("https://api.example.test")
FORM = "application/x-www-form-urlencoded"
# Parameters API version 2026-10-28 adds (the SDK's version), after the published spec's 2026-07-29
NEWER_VERSION = {("post", "/v1/billing_portal/sessions"): {"after_expiration"}}
STRIPE_OPERATIONS = [(method, path) for path, operations in STRIPE.items() for method in operations]


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return OURS["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    return schema


def shape(parameter: dict[str, Any]) -> tuple[str, str, bool, str, bool]:
    style = parameter.get("style", "form" if parameter["in"] == "query" else "simple")  # OpenAPI's defaults
    explode = parameter.get("explode", style == "form")
    return parameter["name"], parameter["in"], parameter.get("required", False), style, explode


def max_length(schema: dict[str, Any]) -> int | None:
    branches = [schema, *schema.get("anyOf", [])]
    lengths = [branch["maxLength"] for branch in branches if "maxLength" in branch]
    return lengths[0] if lengths else None


def test_every_stripe_operation_is_in_the_document() -> None:
    assert STRIPE_OPERATIONS
    for method, path in STRIPE_OPERATIONS:
        assert method in OURS["paths"].get(path, {}), f"{method.upper()} {path}"


@pytest.mark.parametrize(("method", "path"), STRIPE_OPERATIONS)
def test_path_and_query_parameters_are_stripes(method: str, path: str) -> None:
    stripe, ours = STRIPE[path][method], OURS["paths"][path][method]

    assert sorted(map(shape, ours.get("parameters", []))) == sorted(map(shape, stripe.get("parameters", [])))


@pytest.mark.parametrize(("method", "path"), STRIPE_OPERATIONS)
def test_query_parameter_lengths_are_stripes_or_the_stated_deviations(method: str, path: str) -> None:
    stripe = {parameter["name"]: parameter for parameter in STRIPE[path][method].get("parameters", [])}
    for parameter in OURS["paths"][path][method].get("parameters", []):
        published = max_length(stripe[parameter["name"]]["schema"])
        assert max_length(parameter["schema"]) == stated_max_length((parameter["name"],), published), parameter["name"]


@pytest.mark.parametrize(("method", "path"), [operation for operation in STRIPE_OPERATIONS if operation[0] == "post"])
def test_form_bodies_are_stripes(method: str, path: str) -> None:
    stripe = STRIPE[path][method]["requestBody"]["content"][FORM]
    ours = OURS["paths"][path][method]["requestBody"]["content"][FORM]
    stripe_schema, our_schema = stripe["schema"], resolved(ours["schema"])
    newer = NEWER_VERSION.get((method, path), set())

    # Then the same parameters, required alike, unknown ones refused
    assert set(our_schema["properties"]) - newer == set(stripe_schema["properties"])
    assert set(our_schema.get("required", [])) == set(stripe_schema.get("required", []))
    assert our_schema["additionalProperties"] is stripe_schema["additionalProperties"] is False
    # encoded alike: Stripe's deepObject for each hash and array
    assert {name: encoding for name, encoding in ours["encoding"].items() if name not in newer} == stripe["encoding"]
    # with Stripe's lengths, or the stated deviations
    for name, published in stripe_schema["properties"].items():
        assert max_length(our_schema["properties"][name]) == stated_max_length((name,), max_length(published)), name


def test_a_session_needs_a_customer_or_a_customer_account_as_the_service_enforces() -> None:
    create = resolved(OURS["paths"]["/v1/billing_portal/sessions"]["post"]["requestBody"]["content"][FORM]["schema"])

    assert [branch["required"] for branch in create["anyOf"]] == [["customer"], ["customer_account"]]


def test_the_stated_deviations_are_in_the_api_reference() -> None:
    reference = (REFERENCE.parents[1] / "docs" / "api.md").read_text()
    differences = reference[reference.index("\n## What differs from Stripe") + 1 :].split("\n## ", 1)[0]

    assert "255 characters" in differences
    assert "2,048 characters" in differences
