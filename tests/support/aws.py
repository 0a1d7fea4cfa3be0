"""boto3 clients for what tests set up and inspect, made once per service and endpoint settings and kept across tests.

Making a client costs about 10 ms (its endpoint rules and event hooks are copied for it); a test's fixtures made eight
each. A kept client is still mocked by each test's own `mock_aws`: moto registers its stub among botocore's built-in
handlers when imported, so every client made after that answers from whichever mock is active. Clients that a test
hooks into (botocore events) are made per test, not here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def one_request_at_a_time(client: Any) -> Iterator[None]:
    """Each request of this client's to moto runs alone, as DynamoDB runs each atomically: moto's in-process backend
    is not thread-safe (an update reads, changes and writes an item while other threads do the same, and a
    transaction deep-copies every table). The callers' threads still overlap; only moto's work on one request at a
    time is serialised. DynamoDB Local is a server and needs nothing."""
    lock = threading.Lock()
    holding = threading.local()

    def acquire(**_: Any) -> None:  # before each attempt is sent (moto answers it there)
        if not getattr(holding, "lock", False):
            lock.acquire()
            holding.lock = True

    def release(**_: Any) -> None:  # once the call has its answer, or its error
        if getattr(holding, "lock", False):
            holding.lock = False
            lock.release()

    events = client.meta.events
    events.register_first("before-send.dynamodb", acquire)
    events.register("after-call.dynamodb", release)
    events.register("after-call-error.dynamodb", release)
    try:
        yield
    finally:
        events.unregister("before-send.dynamodb", acquire)
        events.unregister("after-call.dynamodb", release)
        events.unregister("after-call-error.dynamodb", release)
