"""The service's OpenAPI 3.1 document, built from the models that validate requests and Stripe's object schemas."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .api_version import LATEST
from .configuration import (
    CreateConfigurationParams,
    ListConfigurationsParams,
    RetrieveConfigurationParams,
    UpdateConfigurationParams,
)
from .params import CreateSessionParams, ListSessionsParams, RetrieveSessionParams
from .schemas import stripe_schemas
from .webhooks import (
    CreateWebhookEndpointParams,
    ListEventsParams,
    ListWebhookEndpointsParams,
    RetrieveEventParams,
    RetrieveWebhookEndpointParams,
    UpdateWebhookEndpointParams,
)

_REF = "#/components/schemas/"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    params: type[BaseModel] | None  # form or JSON body for POST, query string for GET
    response: str | None  # a component name; None for the session URL (a redirect or a page)
    extension: bool = False  # not in Stripe's API


OPERATIONS = (
    Operation("post", "/v1/billing_portal/sessions", "Create a portal session", CreateSessionParams,
              "billing_portal.session"),
    Operation("get", "/v1/billing_portal/sessions", "List a customer's portal sessions", ListSessionsParams,
              "billing_portal.session.list", extension=True),
    Operation("get", "/v1/billing_portal/sessions/{session}", "Retrieve a portal session", RetrieveSessionParams,
              "billing_portal.session", extension=True),
    Operation("post", "/v1/billing_portal/sessions/{session}/expire", "Expire a portal session",
              RetrieveSessionParams, "billing_portal.session", extension=True),
    Operation("post", "/v1/billing_portal/configurations", "Create a portal configuration",
              CreateConfigurationParams, "billing_portal.configuration"),
    Operation("get", "/v1/billing_portal/configurations", "List portal configurations", ListConfigurationsParams,
              "billing_portal.configuration.list"),
    Operation("get", "/v1/billing_portal/configurations/{configuration}", "Retrieve a portal configuration",
              RetrieveConfigurationParams, "billing_portal.configuration"),
    Operation("post", "/v1/billing_portal/configurations/{configuration}", "Update a portal configuration",
              UpdateConfigurationParams, "billing_portal.configuration"),
    Operation("get", "/p/session/{token}", "Open a session URL (redirects to the portal)", None, None,
              extension=True),
    Operation("head", "/p/session/{token}", "Check a session URL without visiting it", None, None, extension=True),
    Operation("get", "/v1/openapi.json", "This document", None, None, extension=True),
    # Webhooks
    Operation("post", "/v1/webhook_endpoints", "Create a webhook endpoint (the only response with its secret)",
              CreateWebhookEndpointParams, "webhook_endpoint"),
    Operation("get", "/v1/webhook_endpoints", "List webhook endpoints", ListWebhookEndpointsParams,
              "webhook_endpoint.list"),
    Operation("get", "/v1/webhook_endpoints/{webhook_endpoint}", "Retrieve a webhook endpoint",
              RetrieveWebhookEndpointParams, "webhook_endpoint"),
    Operation("post", "/v1/webhook_endpoints/{webhook_endpoint}", "Update a webhook endpoint",
              UpdateWebhookEndpointParams, "webhook_endpoint"),
    Operation("delete", "/v1/webhook_endpoints/{webhook_endpoint}", "Delete a webhook endpoint", None,
              "deleted_webhook_endpoint"),
    Operation("get", "/v1/events", "List events of the last 30 days", ListEventsParams, "event.list"),
    Operation("get", "/v1/events/{event}", "Retrieve an event", RetrieveEventParams, "event"),
)  # fmt: skip

_NULLABLE_STRING = {"anyOf": [{"type": "null"}, {"type": "string"}]}
_WEBHOOK_SCHEMAS: dict[str, Any] = {
    "webhook_endpoint": {
        "type": "object",
        "required": ["id", "object", "api_version", "application", "created", "description", "enabled_events",
                     "livemode", "metadata", "status", "url"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["webhook_endpoint"]},
            "api_version": _NULLABLE_STRING,
            "application": _NULLABLE_STRING,
            "created": {"type": "integer"},
            "description": _NULLABLE_STRING,
            "enabled_events": {"type": "array", "items": {"type": "string"}},
            "livemode": {"type": "boolean"},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "secret": {"type": "string", "description": "Only in the create response."},
            "status": {"type": "string", "enum": ["enabled", "disabled"]},
            "url": {"type": "string"},
        },
    },
    "deleted_webhook_endpoint": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["webhook_endpoint"]},
            "deleted": {"type": "boolean", "enum": [True]},
        },
    },
    "event": {
        "type": "object",
        "required": ["id", "object", "api_version", "created", "data", "livemode", "pending_webhooks", "request",
                     "type"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["event"]},
            "api_version": _NULLABLE_STRING,
            "created": {"type": "integer"},
            "data": {
                "type": "object",
                "required": ["object"],
                "properties": {"object": {"type": "object"}, "previous_attributes": {"type": "object"}},
            },
            "livemode": {"type": "boolean"},
            "pending_webhooks": {"type": "integer", "minimum": 0},
            "request": {
                "type": "object",
                "properties": {"id": _NULLABLE_STRING, "idempotency_key": _NULLABLE_STRING},
            },
            "type": {"type": "string"},
        },
    },
}  # fmt: skip

_SESSION_EXTENSIONS = {
    "expires_at": {"type": "integer", "description": "When the URL (or, once visited, the session) stops working."},
    "status": {"type": "string", "enum": ["open", "visited", "expired"]},
    "visited_at": {"anyOf": [{"type": "null"}, {"type": "integer"}], "description": "The first visit."},
}


def _list_schema(item: str, url: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "url"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": {"$ref": _REF + item}},
            "has_more": {"type": "boolean"},
            "url": {"type": "string", "pattern": f"^{url}"},
        },
    }


def _components() -> dict[str, Any]:
    schemas = stripe_schemas(_REF)
    session = schemas["billing_portal.session"]
    session["properties"].update(_SESSION_EXTENSIONS)
    # An extension: after creation the URL cannot be shown again (only its hash is kept).
    session["properties"]["url"] = {"anyOf": [{"type": "null"}, session["properties"]["url"]]}
    schemas["billing_portal.session.list"] = _list_schema("billing_portal.session", "/v1/billing_portal/sessions")
    schemas["billing_portal.configuration.list"] = _list_schema(
        "billing_portal.configuration", "/v1/billing_portal/configurations"
    )
    schemas.update(_WEBHOOK_SCHEMAS)
    schemas["webhook_endpoint.list"] = _list_schema("webhook_endpoint", "/v1/webhook_endpoints")
    schemas["event.list"] = _list_schema("event", "/v1/events")
    models = dict.fromkeys(operation.params for operation in OPERATIONS if operation.params is not None)
    _, params = models_json_schema([(model, "validation") for model in models], ref_template=_REF + "{model}")
    schemas.update(params.get("$defs", {}))
    return schemas


def _operation(operation: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": operation.method + operation.path.replace("/", "_").replace("{", "").replace("}", ""),
        "responses": {"default": {"description": "Error", "content": _json("error")}},
    }
    if operation.extension:
        described["x-extension"] = True  # not part of Stripe's API
    names = [part[1:-1] for part in operation.path.split("/") if part.startswith("{")]
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names
    ]
    if operation.params is not None and operation.method == "get":
        parameters.append({
            "name": "params", "in": "query", "style": "deepObject", "explode": True,
            "schema": {"$ref": _REF + operation.params.__name__},
        })  # fmt: skip
    elif operation.params is not None:
        body = {"$ref": _REF + operation.params.__name__}
        described["requestBody"] = {
            "content": {
                "application/x-www-form-urlencoded": {"schema": body},
                "application/json": {"schema": body},
            }
        }
    if parameters:
        described["parameters"] = parameters
    if operation.response is not None:
        described["responses"]["200"] = {"description": "Successful response.", "content": _json(operation.response)}
        described["security"] = [{"bearer": []}, {"basic": []}]
    elif operation.path == "/v1/openapi.json":
        described["responses"]["200"] = {"description": "This document.", "content": {"application/json": {}}}
    else:
        described["responses"].update({
            "302": {"description": "To the portal (`handoff`), or to its login page (`recovery`)."},
            "200": {"description": "HEAD: the link can be used."},
            "404": {"description": "An HTML page: no such link.", "content": {"text/html": {}}},
            "410": {"description": "An HTML page: the link has expired.", "content": {"text/html": {}}},
        })  # fmt: skip
    return described


def _json(component: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + component}}}


@cache
def _document_without_server() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Portal sessions (Stripe-compatible billing_portal API)",
            "version": LATEST,
            "description": "Stripe's billing_portal sessions and configurations, webhook endpoints and events; "
            "operations marked x-extension are this service's own.",
        },
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    return {**_document_without_server(), "servers": [{"url": server_url}]}
