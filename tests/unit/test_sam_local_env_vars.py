"""What `python -m local_gateway aws` writes for `sam local --env-vars`: every function's environment from
template.yaml with its references resolved, and loopback endpoints as the functions' containers reach this host.
(`make sam-local` runs the real `sam local` on it: tests/sam_local.)"""

from __future__ import annotations

import pytest

from local_gateway.__main__ import reachable_from_containers
from local_gateway.template import function_environments, functions, load_template

TEMPLATE = load_template()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://10.88.0.1:8000"),
        ("http://localhost:4566/", "http://10.88.0.1:4566/"),
        ("http://10.88.0.1:41457", "http://10.88.0.1:41457"),  # moto bound to the gateway already
        ("https://dynamodb.us-east-1.amazonaws.com", "https://dynamodb.us-east-1.amazonaws.com"),
    ],
)
def test_only_loopback_endpoints_are_renamed_for_the_containers(url: str, expected: str) -> None:
    assert reachable_from_containers(url, "10.88.0.1") == expected


def test_every_function_gets_its_whole_environment_resolved() -> None:
    refs = {name: f"local-{name}" for name in TEMPLATE["Resources"]}

    environments = function_environments(TEMPLATE, refs)

    assert set(environments) == set(functions(TEMPLATE))
    create = environments["CreateSessionFunction"]
    assert create["TABLE_NAME"] == "local-SessionsTable"  # a resource, as the local AWS names it
    assert create["LINK_TTL_SECONDS"] == "300"  # a parameter's default
    assert create["POWERTOOLS_SERVICE_NAME"] == "portal-sessions"  # from Globals
    for variables in environments.values():
        # declared for `sam local --env-vars` (which sets only declared variables), empty: AWS's own endpoints
        assert variables["AWS_ENDPOINT_URL"] == "" and variables["AWS_ENDPOINT_URL_DYNAMODB"] == ""
        assert all(isinstance(value, str) for value in variables.values())
