"""Stripe-shaped errors: their statuses and the `{"error": {...}}` body, checked against Stripe's schema."""

from __future__ import annotations

import pytest

from portal_sessions.runtime.errors import (
    AuthenticationError,
    InvalidRequestError,
    RateLimitError,
    RequestTooLargeError,
    ResourceMissingError,
    ServiceUnavailableError,
    StripeError,
)
from tests.support.contract import schema_errors

ERRORS = [
    pytest.param(StripeError("Something broke."), 500, id="stripe-error"),
    pytest.param(InvalidRequestError("Bad request."), 400, id="invalid-request"),
    pytest.param(
        InvalidRequestError("Missing required param: customer.", code="parameter_missing", param="customer"),
        400,
        id="invalid-request-with-code-and-param",
    ),
    pytest.param(ResourceMissingError("No such configuration: 'bpc_x'", param="configuration"), 400, id="missing"),
    pytest.param(ResourceMissingError("No such session", http_status=404), 404, id="missing-404"),
    pytest.param(RequestTooLargeError("Request too large."), 413, id="too-large"),
    pytest.param(AuthenticationError("Invalid API Key provided: sk_test_********1234"), 401, id="authentication"),
    pytest.param(RateLimitError("Too many requests."), 429, id="rate-limit"),
    pytest.param(ServiceUnavailableError("Retry shortly."), 503, id="unavailable"),
]


@pytest.mark.parametrize(("error", "status"), ERRORS)
def test_error_body_validates_against_stripes_error_schema(error: StripeError, status: int) -> None:
    # Given an error the API can report
    # When it is rendered
    body = error.to_dict()
    # Then Stripe's error schema accepts it
    assert schema_errors("error", body) == []


@pytest.mark.parametrize(("error", "status"), ERRORS)
def test_error_has_its_http_status(error: StripeError, status: int) -> None:
    # Given an error the API can report
    # When its status is read
    # Then it is the one Stripe uses for it
    assert error.http_status == status


def test_error_body_with_code_and_param_has_exactly_those_fields() -> None:
    # Given an error with a code and a parameter
    error = InvalidRequestError("Received unknown parameter: colour", code="parameter_unknown", param="colour")
    # When it is rendered
    body = error.to_dict()
    # Then it is Stripe's shape, field for field
    assert body == {
        "error": {
            "type": "invalid_request_error",
            "message": "Received unknown parameter: colour",
            "code": "parameter_unknown",
            "param": "colour",
        }
    }


def test_error_body_omits_code_and_param_when_unset() -> None:
    # Given an error without code or parameter
    error = InvalidRequestError("Invalid JSON in the request body.")
    # When it is rendered
    body = error.to_dict()
    # Then only type and message appear (no nulls, which the schema would refuse)
    assert body == {"error": {"type": "invalid_request_error", "message": "Invalid JSON in the request body."}}


@pytest.mark.parametrize(
    ("error", "error_type", "code"),
    [
        (AuthenticationError("x"), "invalid_request_error", None),
        (RateLimitError("x"), "invalid_request_error", "rate_limit"),
        (ResourceMissingError("x"), "invalid_request_error", "resource_missing"),
        (ServiceUnavailableError("x"), "api_error", None),
    ],
)
def test_error_type_and_code_follow_stripe(error: StripeError, error_type: str, code: str | None) -> None:
    # Given an error of a specific class
    # When it is rendered
    rendered = error.to_dict()["error"]
    # Then its type and code are Stripe's for that case
    assert rendered["type"] == error_type
    assert rendered.get("code") == code


def test_error_schema_refuses_a_body_without_type() -> None:
    # Given an error body missing its required type (a check that the validator is not vacuous)
    body = {"error": {"message": "no type"}}
    # When it is validated
    # Then the schema refuses it
    assert schema_errors("error", body) != []


def test_error_message_is_the_exception_text() -> None:
    # Given an error raised with a message
    error = InvalidRequestError("Not a valid URL", code="url_invalid", param="return_url")
    # When it is shown as an exception
    # Then its text is the message
    assert str(error) == "Not a valid URL"
