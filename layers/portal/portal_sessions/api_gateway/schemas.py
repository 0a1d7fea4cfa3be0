"""Stripe's published schemas for these objects (an extract of its OpenAPI spec, kept in `reference/`), with what
API version 2026-10-28 adds, as JSON Schema 2020-12 (the dialect of OpenAPI 3.1)."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

_FILES = ("billing_portal_session.schema.json", "billing_portal_configuration.schema.json", "error.schema.json")
_STRIPE_PREFIX = "#/components/schemas/"


@cache
def _stripe_components() -> dict[str, Any]:
    raw: dict[str, Any] = {}
    folder = resources.files(__package__) / "reference"
    for name in _FILES:
        raw.update(json.loads((folder / name).read_text(encoding="utf-8")))
    _add_2026_10_28(raw)
    return raw


def _add_2026_10_28(raw: dict[str, Any]) -> None:
    """The newer API version's flow types and `after_expiration` (not in the published extract)."""
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
            "customer_login": {"type": "object", "properties": {"expires_at": {"type": "integer", "nullable": True}}},
        },
    }


def _convert(node: Any, known: set[str], prefix: str) -> Any:
    # OpenAPI 3.0's `nullable` becomes `anyOf [null, …]`; references the extract does not carry accept anything.
    if isinstance(node, list):
        return [_convert(item, known, prefix) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix(_STRIPE_PREFIX)
        return {"$ref": prefix + name} if name in known else {}
    converted = {key: _convert(value, known, prefix) for key, value in node.items() if not key.startswith("x-")}
    if converted.pop("nullable", False):
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


def stripe_schemas(ref_prefix: str) -> dict[str, Any]:
    """Every component, named as Stripe names them, with references under `ref_prefix`."""
    raw = copy.deepcopy(_stripe_components())
    known = set(raw)
    return {name: _convert(schema, known, ref_prefix) for name, schema in raw.items()}
