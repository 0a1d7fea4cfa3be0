"""The service's OpenAPI 3.1 document, built from the models that validate requests and Stripe's object schemas."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..domain.webhooks import (
    CreateWebhookEndpointParams,
    ListEventsParams,
    ListWebhookEndpointsParams,
    ResendEventParams,
    RetrieveEventParams,
    RetrieveWebhookEndpointParams,
    UpdateWebhookEndpointParams,
)
from ..stripe_wire.api_version import LATEST
from ..stripe_wire.configuration_params import (
    CreateConfigurationParams,
    ListConfigurationsParams,
    RetrieveConfigurationParams,
    UpdateConfigurationParams,
)
from ..stripe_wire.params import CreateSessionParams, ListSessionsParams, RetrieveSessionParams
from ..stripe_wire.stripe_params import ID_PATTERN, MAX_ID
from .schemas import stripe_schemas

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
    Operation("post", "/v1/events/{event}/retry", "Resend an event to one webhook endpoint (stripe events resend)",
              ResendEventParams, "event"),
)  # fmt: skip

# OpenAPI links: what a response lets a client do next (Schemathesis' stateful tests follow them). A session URL's token
# is taken from its `url` with a regex extractor (Schemathesis' extension of runtime expressions).
_ID = "$response.body#/id"
LINKS: dict[str, dict[str, Any]] = {
    "post_v1_billing_portal_sessions": {
        "RetrieveSession": {"operationId": "get_v1_billing_portal_sessions_session",
                            "parameters": {"path.session": _ID}},
        "ExpireSession": {"operationId": "post_v1_billing_portal_sessions_session_expire",
                          "parameters": {"path.session": _ID}},
        "ListSessions": {"operationId": "get_v1_billing_portal_sessions",
                         "parameters": {"query.customer": "$response.body#/customer"}},
        "VisitSession": {"operationId": "get_p_session_token",
                         "parameters": {"path.token": "$response.body#/url#regex:/p/session/([^/?#]+)$"}},
        "CheckSession": {"operationId": "head_p_session_token",
                         "parameters": {"path.token": "$response.body#/url#regex:/p/session/([^/?#]+)$"}},
    },
    "post_v1_billing_portal_configurations": {
        "RetrieveConfiguration": {"operationId": "get_v1_billing_portal_configurations_configuration",
                                  "parameters": {"path.configuration": _ID}},
        "UpdateConfiguration": {"operationId": "post_v1_billing_portal_configurations_configuration",
                                "parameters": {"path.configuration": _ID}},
        "ListConfigurations": {"operationId": "get_v1_billing_portal_configurations",
                               "parameters": {"query.ending_before": _ID}},
    },
}  # fmt: skip

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
    # A stated deviation: a session made with only customer_account has no customer id to show.
    session["properties"]["customer"] = {"anyOf": [{"type": "null"}, session["properties"]["customer"]]}
    schemas["billing_portal.session.list"] = _list_schema("billing_portal.session", "/v1/billing_portal/sessions")
    schemas["billing_portal.configuration.list"] = _list_schema(
        "billing_portal.configuration", "/v1/billing_portal/configurations"
    )
    schemas.update(_params_schemas())
    schemas.update({name + _FORM: _form_schema(schema) for name, schema in _params_schemas().items()})
    schemas.update(_WEBHOOK_SCHEMAS)
    schemas["webhook_endpoint.list"] = _list_schema("webhook_endpoint", "/v1/webhook_endpoints")
    schemas["event.list"] = _list_schema("event", "/v1/events")
    return schemas


_FORM = "Form"  # suffix of a params model's schema as a form carries it
_FORM_KEY = r"^(?:[^\[\]]*[^\[\]0-9][^\[\]]*|[0-9]{7,})$"  # wire.py reads up to 6 digits in brackets as an index


def _form_schema(node: Any) -> Any:
    """A params schema without null (JSON's way to leave a parameter out): a form has no null, only absent."""
    if isinstance(node, list):
        return [_form_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": node["$ref"] + _FORM}
    converted = _without_null({key: _form_schema(value) for key, value in node.items()})
    if "propertyNames" in converted:  # a hash's keys go in brackets: no brackets in them, and no array index
        converted["propertyNames"] = {**converted["propertyNames"], "pattern": _FORM_KEY}
    # An empty hash or array has no form of its own (it would be sent as "", which unsets or is refused)
    for branch in converted.get("anyOf", [converted]):
        unsettable = {"type": "string", "enum": [""]} in converted.get("anyOf", [])
        if branch.get("type") == "object" and "properties" in branch and not branch.get("required"):
            branch.setdefault("minProperties", 1)
        if branch.get("type") == "array" and not unsettable:
            branch.setdefault("minItems", 1)
    if converted.get("maxItems") == 0:  # an array that must be empty (nothing to expand) is only ever left out
        converted.pop("minItems", None)
    return converted


@cache
def _params_schemas() -> dict[str, Any]:
    models = dict.fromkeys(operation.params for operation in OPERATIONS if operation.params is not None)
    _, params = models_json_schema([(model, "validation") for model in models], ref_template=_REF + "{model}")
    schemas: dict[str, Any] = params.get("$defs", {})
    for schema in schemas.values():  # JSON's null leaves a parameter out: not a value for a required one
        for name in schema.get("required", []):
            branches = schema["properties"][name].get("anyOf")
            if branches is not None:
                schema["properties"][name]["anyOf"] = [branch for branch in branches if branch != {"type": "null"}]
    return schemas


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema as a query string or form can carry it: absent rather than null, no pydantic titles."""
    schema = {key: value for key, value in schema.items() if key not in ("title",) and value is not None}
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if "anyOf" in schema:
        del schema["anyOf"]
        if len(branches) == 1:
            return {**branches[0], **schema}  # the outer keywords (e.g. expand's enum of items) are the precise ones
        schema["anyOf"] = branches
    return schema


def _is_structured(schema: dict[str, Any]) -> bool:
    """An object or an array (sent `a[b]=x`, `a[0]=x`), directly or in a branch; refs here are to models."""
    if schema.get("type") in ("object", "array") or "$ref" in schema:
        return True
    return any(_is_structured(branch) for branch in schema.get("anyOf", []))


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Each field a query parameter of its own, as Stripe's spec declares them; a query string carries its hashes
    and arrays as a form does (no null, no empty ones)."""
    schema = _params_schemas()[model.__name__]
    parameters = []
    for name, field_schema in schema["properties"].items():
        described = _form_schema(field_schema)
        structured = _is_structured(described)
        parameters.append({
            "name": name, "in": "query", "required": name in schema.get("required", []),
            "style": "deepObject" if structured else "form", "explode": True, "schema": described,
        })  # fmt: skip
    return parameters


def _form_encoding(model: type[BaseModel]) -> dict[str, Any]:
    """Stripe's encoding of form bodies, as its spec declares it: `deepObject` (brackets) for each hash and array,
    and for each parameter of several forms (such as a URL or "" to unset)."""
    schema = _params_schemas()[model.__name__]
    return {
        name: {"style": "deepObject", "explode": True}
        for name, field_schema in schema["properties"].items()
        if _is_structured(_without_null(field_schema)) or "anyOf" in _without_null(field_schema)
    }


def _path_parameter(name: str) -> dict[str, Any]:
    if name == "token":  # a session URL's secret: any text, a hash of it is looked up
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    # An object id: at most MAX_ID characters, a stated deviation from Stripe (which allows 5000)
    schema = {"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": ID_PATTERN}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _operation(operation: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": operation_id(operation),
        "responses": {"default": {"description": "Error", "content": _json("error")}, **_GATEWAY_RESPONSES},
    }
    if operation.extension:
        described["x-extension"] = True  # not part of Stripe's API
    names = [part[1:-1] for part in operation.path.split("/") if part.startswith("{")]
    parameters: list[dict[str, Any]] = [_path_parameter(name) for name in names]
    if operation.params is not None and operation.method == "get":
        parameters.extend(_query_parameters(operation.params))
    elif operation.params is not None:
        name = operation.params.__name__
        form = {"schema": {"$ref": _REF + name + _FORM}, "encoding": _form_encoding(operation.params)}
        json_body = {"schema": {"$ref": _REF + name}}
        content = {"application/x-www-form-urlencoded": form, "application/json": json_body}
        required = bool(_params_schemas()[name].get("required") or _params_schemas()[name].get("anyOf"))
        described["requestBody"] = {"content": content, "required": required}
    if parameters:
        described["parameters"] = parameters
    if operation.response is not None:
        described["responses"]["200"] = {"description": "Successful response.", "content": _json(operation.response)}
        described["security"] = [{"bearer": []}, {"basic": []}]
        links = LINKS.get(operation_id(operation))
        if links:
            described["responses"]["200"]["links"] = links
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


def operation_id(operation: Operation) -> str:
    return operation.method + operation.path.replace("/", "_").replace("{", "").replace("}", "")


# What the gateway answers itself, before any function runs (API Gateway's own shape, not Stripe's): a request line
# longer than it reads.
_GATEWAY_ERROR = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
_GATEWAY_RESPONSES = {
    "414": {"description": "Request line too long: refused by the gateway", "content": {
        "application/json": {"schema": _GATEWAY_ERROR}}},
}  # fmt: skip


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
