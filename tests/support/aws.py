"""boto3 clients for what tests set up and inspect, made once per service and endpoint settings and kept across tests.

Making a client costs about 10 ms (its endpoint rules and event hooks are copied for it); a test's fixtures made eight
each. A kept client is still mocked by each test's own `mock_aws`: moto registers its stub among botocore's built-in
handlers when imported, so every client made after that answers from whichever mock is active. Clients that a test
hooks into (botocore events) are made per test, not here.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

_clients: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}


def aws_client(service_name: str) -> Any:
    """The client of this service for the endpoints in force now (DynamoDB Local's, or moto's)."""
    endpoints = tuple(
        sorted((name, value) for name, value in os.environ.items() if name.startswith("AWS_ENDPOINT_URL"))
    )
    key = (service_name, endpoints)
    if key not in _clients:
        _clients[key] = boto3.client(service_name)  # type: ignore[call-overload]
    return _clients[key]
