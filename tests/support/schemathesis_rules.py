"""The rules of this API that no OpenAPI document can state, for Schemathesis: `schemathesis.toml` at the repo root
loads this file, so the plain CLI (`schemathesis run <base>/v1/openapi.json -c all`, run from the repo root) knows
them, and so does the suite (tests/e2e/test_schemathesis.py).

A 400 for one of these rules is the service being right about generated data the document calls valid, not the
document being wrong. Only these rejections are set aside; every other failure stands. Loaded by file path, so it
imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData

Rule = Callable[[str, dict[str, Any]], bool]

BEYOND_A_SCHEMA: tuple[Rule, ...] = (
    # A well-formed id that names no object: Stripe's 400 resource_missing for a parameter (404 for a path)
    lambda operation, error: error.get("code") == "resource_missing",
    # A recovery deadline outside the window the service takes (in the future, at most 30 days ahead: relative to now)
    lambda operation, error: error.get("param") == "after_expiration[customer_login][expires_at]",
    # A session needs a return_url unless its configuration has a default_return_url: a stored object's state
    lambda operation, error: error.get("param") == "return_url" and "default_return_url" in error.get("message", ""),
    # A flow needs its feature enabled on the session's configuration: a stored object's state
    lambda operation, error: error.get("param") == "flow_data[type]" and "does not have `features." in error["message"],
    # A session a step before expired cannot be expired again: a stored object's state
    lambda operation, error: operation == "POST /v1/billing_portal/sessions/{session}/expire"
    and "has already expired" in error.get("message", ""),
    # A mode holds at most 16 webhook endpoints, as a Stripe account does: the stored endpoints' count
    lambda operation, error: error.get("code") == "webhook_endpoint_limit_reached",
    # An event is resent only to an enabled endpoint that listens for its type: a stored object's state
    lambda operation, error: operation == "POST /v1/events/{event}/retry" and error.get("param") == "webhook_endpoint"
    and ("is disabled" in error.get("message", "") or "does not listen" in error.get("message", "")),
    # Lists take starting_after or ending_before, not both: query parameters cannot say "not both"
    lambda operation, error: error.get("code") == "parameters_exclusive",
    # Listing sessions takes exactly one of customer and customer_account: query parameters cannot say "one of"
    lambda operation, error: operation == "GET /v1/billing_portal/sessions"
    and error.get("code") == "parameter_missing" and error.get("param") == "customer",
    # A webhook URL must reach a public address (a format cannot say which hosts are private: 10.0.0.1, 0, 127.1)
    lambda operation, error: error.get("code") == "url_invalid" and "private" in error.get("message", ""),
)  # fmt: skip

# A session URL whose session a step before expired: the 410 page the document declares (a stored object's state)
_SESSION_PAGES = ("GET /p/session/{token}", "HEAD /p/session/{token}")


def holds_an_empty_hash(value: Any) -> bool:
    if isinstance(value, dict):
        return not value or any(holds_an_empty_hash(item) for item in value.values())
    return isinstance(value, list) and any(holds_an_empty_hash(item) for item in value)


def keeps_failure(failure: Any, case: Any, response: Any) -> bool:
    """Every failure but a rejection of generated valid data for one of the rules above, and invalid data that never
    reached the wire (a form cannot send an empty hash: Schemathesis leaves it out, which is valid)."""
    if isinstance(failure, AcceptedNegativeData):
        in_a_form = (case.media_type or "").startswith("application/x-www-form-urlencoded")
        return not (in_a_form and holds_an_empty_hash(case.body))
    operation = f"{case.operation.method.upper()} {case.operation.path}"
    if isinstance(failure, RejectedPositiveData) and response.status_code == 410:
        return operation not in _SESSION_PAGES
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return True
    return not any(rule(operation, error) for rule in BEYOND_A_SCHEMA)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    return keeps_failure(failure, case, response)
