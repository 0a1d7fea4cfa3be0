"""What Lambda hands a handler under test: API Gateway's HTTP events and a context; and the JSON of a response,
checked against Stripe's schema."""

from __future__ import annotations

import json
from typing import Any

from local_gateway.gateway import build_event
from local_gateway.template import http_routes
from tests.support.contract import contract_problems
from tests.support.settings import TEMPLATE


class FakeContext:
    """The parts of Lambda's context object the handlers and Powertools read."""

    function_name = "test-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_event(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | str = b""
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway would send, built by the same code as the local gateway's."""
    raw = body.encode() if isinstance(body, str) else body
    for route in http_routes(TEMPLATE):
        found = route.pattern.match(path)
        if found and route.method == method:
            all_headers = {"host": "api.example.test", "x-forwarded-proto": "https", **(headers or {})}
            if raw:
                all_headers.setdefault("content-length", str(len(raw)))
            return build_event(route, found.groupdict(), method, path, all_headers, raw, "192.0.2.10")
    raise AssertionError(f"no route in template.yaml for {method} {path}")


def json_body(response: dict[str, Any]) -> Any:
    """The response's JSON, checked against Stripe's schema first: every object a test reads is a contract check."""
    body = json.loads(response["body"])
    problems = contract_problems(body)
    assert problems == [], f"response does not match Stripe's schema: {problems}"
    return body
