"""The OpenAPI document the service publishes: valid, complete against template.yaml, and true to responses."""

from __future__ import annotations

import json
from typing import Any

import configurations_handler
import create_session_handler
import pytest
import sessions_handler
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from local_gateway.template import DEFAULT_ROUTE, http_routes
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import TEMPLATE, TEST_KEY

FORM = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture
def document(service_env: dict) -> dict[str, Any]:
    response = sessions_handler.lambda_handler(http_event("GET", "/v1/openapi.json"), FakeContext())
    assert response["statusCode"] == 200
    return json.loads(response["body"])  # not json_body: this is no Stripe object


def conforms(document: dict[str, Any], component: str, instance: Any) -> list[str]:
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return [error.message for error in Draft202012Validator(schema).iter_errors(instance)]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "https://api.example.test"}]


def test_the_document_lists_exactly_the_routes_of_the_template(document: dict[str, Any]) -> None:
    # Given the routes API Gateway serves (template.yaml's HttpApi events)
    served = {(route.method.lower(), route.path) for route in http_routes(TEMPLATE) if route.path != DEFAULT_ROUTE}

    # When the document's operations are listed
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations}

    # Then they are the same
    assert documented == served


def test_extensions_are_marked_and_stripes_operations_are_not(document: dict[str, Any]) -> None:
    paths = document["paths"]

    assert "x-extension" not in paths["/v1/billing_portal/sessions"]["post"]
    assert paths["/v1/billing_portal/sessions"]["get"]["x-extension"] is True
    assert paths["/v1/billing_portal/sessions/{session}/expire"]["post"]["x-extension"] is True


def test_request_schemas_come_from_the_validating_models(document: dict[str, Any]) -> None:
    create = document["paths"]["/v1/billing_portal/sessions"]["post"]["requestBody"]["content"]
    ref = create["application/x-www-form-urlencoded"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]

    assert {"customer", "return_url", "flow_data", "after_expiration"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_real_responses_conform_to_the_documented_schemas(document: dict[str, Any]) -> None:
    # Given responses of several operations
    session = json_body(create_session_handler.lambda_handler(
        http_event("POST", "/v1/billing_portal/sessions", headers=FORM,
                   body="customer=cus_1&return_url=https://example.com&flow_data[type]=customer_update"),
        FakeContext(),
    ))  # fmt: skip
    retrieved = json_body(sessions_handler.lambda_handler(
        http_event("GET", f"/v1/billing_portal/sessions/{session['id']}", headers=FORM), FakeContext()
    ))  # fmt: skip
    configurations_event = http_event("GET", "/v1/billing_portal/configurations", headers=FORM)
    configurations = json_body(configurations_handler.lambda_handler(configurations_event, FakeContext()))
    error = json_body(create_session_handler.lambda_handler(
        http_event("POST", "/v1/billing_portal/sessions", headers=FORM, body="colour=red"), FakeContext()
    ))  # fmt: skip

    # Then each matches the schema the document gives for it
    assert conforms(document, "billing_portal.session", session) == []
    assert conforms(document, "billing_portal.session", retrieved) == []
    assert conforms(document, "billing_portal.configuration.list", configurations) == []
    assert conforms(document, "error", error) == []


def test_the_documented_schemas_can_reject(document: dict[str, Any]) -> None:
    # A schema that accepted anything would make the check above meaningless
    assert conforms(document, "billing_portal.session", {"id": 1, "object": "nope"}) != []


def test_a_json_null_in_an_update_leaves_the_field_as_it_was(service_env: dict) -> None:
    # Found by Schemathesis: a JSON null was taken as "reset to null", which Stripe's schema does not allow for these
    headers = {"content-type": "application/json", "authorization": f"Bearer {TEST_KEY}"}
    path = "/v1/billing_portal/configurations/bpc_DefaultTestConfiguration"
    before = json_body(configurations_handler.lambda_handler(http_event("GET", path, headers=FORM), FakeContext()))
    body = {"features": {"subscription_update": {"trial_update_behavior": None, "proration_behavior": None,
                                                 "schedule_at_period_end": None},
                         "subscription_cancel": {"mode": None}}}  # fmt: skip

    # When
    response = configurations_handler.lambda_handler(
        http_event("POST", path, headers=headers, body=json.dumps(body)), FakeContext()
    )

    # Then (json_body checks the response against Stripe's schema) nothing changed
    after = json_body(response)
    assert after["features"] == before["features"]
