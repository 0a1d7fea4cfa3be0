"""Validators for Stripe's published schemas (copied into tests/reference from Stripe's OpenAPI spec).

OpenAPI 3.0's `nullable` is rewritten as `anyOf: [{type: null}, …]`, and references the extract does
not carry (payment_intent, card, … inside `error`) accept anything.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

REFERENCE = Path(__file__).parent / "reference"
_SCHEMA_FILES = ("billing_portal_session.schema.json", "billing_portal_configuration.schema.json", "error.schema.json")
_REF_PREFIX = "#/components/schemas/"


def _convert(node: Any, known: set[str]) -> Any:
    if isinstance(node, list):
        return [_convert(item, known) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix(_REF_PREFIX)
        return {"$ref": f"#/$defs/{name}"} if name in known else {}
    converted = {key: _convert(value, known) for key, value in node.items() if not key.startswith("x-")}
    if converted.pop("nullable", False):
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


def _add_2026_10_28(raw: dict[str, Any]) -> None:
    """What API version 2026-10-28 (the SDK's) adds, as tests/reference/README.md describes it."""
    flow = raw["portal_flows_flow"]
    flow["properties"]["type"]["enum"] += ["customer_update", "subscription_pause"]
    flow["properties"]["customer_update"] = {"type": "object", "nullable": True, "additionalProperties": False}
    flow["properties"]["subscription_pause"] = {
        "type": "object",
        "nullable": True,
        "required": ["subscription"],
        "properties": {"subscription": {"type": "string", "maxLength": 5000}},
    }
    raw["billing_portal.session"]["properties"]["after_expiration"] = {
        "type": "object",
        "nullable": True,
        "required": ["type", "customer_login"],
        "properties": {
            "type": {"type": "string", "enum": ["customer_login"]},
            "customer_login": {
                "type": "object",
                "properties": {"expires_at": {"type": "integer", "nullable": True}},
            },
        },
    }


@cache
def _definitions() -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in _SCHEMA_FILES:
        raw.update(json.loads((REFERENCE / name).read_text()))
    _add_2026_10_28(raw)
    known = set(raw)
    return {name: _convert(schema, known) for name, schema in raw.items()}


@cache
def validator(component: str) -> Draft202012Validator:
    """A validator for one component, e.g. 'billing_portal.session' or 'error'."""
    return Draft202012Validator({"$ref": f"#/$defs/{component}", "$defs": _definitions()})


def schema_errors(component: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(component).iter_errors(instance)
    ]


def fixture(component: str) -> dict[str, Any]:
    return json.loads((REFERENCE / "fixtures.json").read_text())[component]


def create_parameters() -> set[str]:
    """The top-level parameters of Stripe's create call for portal sessions."""
    paths = json.loads((REFERENCE / "paths.json").read_text())
    body = paths["/v1/billing_portal/sessions"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    return set(body["schema"]["properties"])
