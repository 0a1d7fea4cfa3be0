"""Validators for Stripe's published schemas: the extract of Stripe's OpenAPI spec that the layer carries
(portal_sessions/api_gateway/reference, with API version 2026-10-28's additions), and Stripe's example objects and
request schemas in tests/reference.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

import portal_sessions
from portal_sessions.api_gateway.schemas import stripe_schemas

REFERENCE = Path(__file__).resolve().parents[1] / "reference"  # tests/reference
PUBLISHED_SCHEMAS = Path(portal_sessions.__file__).parent / "api_gateway" / "reference"  # shipped in the layer


def published_component(name: str) -> dict[str, Any]:
    """One component exactly as Stripe publishes it (OpenAPI 3.0, without 2026-10-28's additions)."""
    for path in sorted(PUBLISHED_SCHEMAS.glob("*.schema.json")):
        components = json.loads(path.read_text())
        if name in components:
            return components[name]  # type: ignore[no-any-return]
    raise KeyError(name)


@cache
def validator(component: str) -> Draft202012Validator:
    """A validator for one component, e.g. 'billing_portal.session' or 'error'."""
    return Draft202012Validator({"$ref": f"#/$defs/{component}", "$defs": stripe_schemas("#/$defs/")})


def schema_errors(component: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(component).iter_errors(instance)
    ]


def fixture(component: str) -> dict[str, Any]:
    example: dict[str, Any] = json.loads((REFERENCE / "fixtures.json").read_text())[component]
    return example


def create_parameters() -> set[str]:
    """The top-level parameters of Stripe's create call for portal sessions."""
    paths = json.loads((REFERENCE / "paths.json").read_text())
    body = paths["/v1/billing_portal/sessions"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    return set(body["schema"]["properties"])


# Limits this service states as deviations from Stripe's 5000 characters (docs/api.md, "What differs from Stripe").
MAX_ID, MAX_URL = 255, 2048
ID_PARAMETERS = frozenset({
    "customer", "customer_account", "configuration", "on_behalf_of", "starting_after", "ending_before",
    "subscription", "id", "price", "coupon", "promotion_code", "payment_method_configuration", "product", "prices",
})  # fmt: skip
URL_PARAMETERS = frozenset({"return_url", "default_return_url", "privacy_policy_url", "terms_of_service_url"})


def stated_max_length(path: tuple[str | int, ...], published: int | None) -> int | None:
    """The limit the service states for a parameter (by its path) whose published limit is `published`."""
    name = next((part for part in reversed(path) if isinstance(part, str)), "")
    deviation = MAX_ID if name in ID_PARAMETERS else MAX_URL if name in URL_PARAMETERS else None
    if deviation is None:
        return published
    return deviation if published is None else min(published, deviation)


_COMPONENTS = {"billing_portal.session", "billing_portal.configuration"}


def contract_problems(body: Any) -> list[str]:
    """What in a response body (an object, a list of them, or an error) does not match Stripe's schema, less the
    service's documented deviations; empty if it matches."""
    if not isinstance(body, dict):
        return ["not a JSON object"]
    if "error" in body:
        return schema_errors("error", body)
    if body.get("object") == "list":
        problems = [] if isinstance(body.get("has_more"), bool) and isinstance(body.get("url"), str) else ["list"]
        return problems + [problem for item in body.get("data", []) for problem in contract_problems(item)]
    if body.get("object") in _COMPONENTS:
        problems = schema_errors(body["object"], body)
        # Documented deviations: with only customer_account there is no customer id to show; and after creation
        # (retrieve, list, expire, events) a session's url is null, since only its token's hash is kept.
        if body.get("customer") is None and body.get("customer_account") is not None:
            problems = [problem for problem in problems if not problem.startswith("customer: None")]
        if body.get("url", "") is None:
            problems = [problem for problem in problems if not problem.startswith("url: None")]
        return problems
    return [f"unknown object {body.get('object')!r}"]
