"""The local gateway's request framing: a Content-Length it cannot honour is a JSON 400 or 413, as API Gateway
answers, and never a read past its 10 MiB cap or a crashed request thread."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest

from local_gateway.gateway import MAX_PAYLOAD_BYTES, GatewayServer, make_server
from local_gateway.template import http_routes
from tests.support.settings import TEMPLATE


class RecordingRuntime:
    """Stands in for the functions: records what it is invoked with and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(event.get("body"))
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@pytest.fixture
def gateway() -> Iterator[tuple[GatewayServer, RecordingRuntime]]:
    server = make_server("127.0.0.1", 0, http_routes(TEMPLATE), {})
    runtime = RecordingRuntime()
    server.runtime = runtime  # type: ignore[assignment]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, runtime
    server.shutdown()
    server.server_close()


def exchange(server: GatewayServer, head: bytes, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send a POST with these header lines and body, keep the connection open, and read the answer (5 s at most)."""
    with socket.create_connection(server.server_address[:2], timeout=5) as connection:
        connection.sendall(b"POST /v1/billing_portal/sessions HTTP/1.1\r\nHost: local\r\n" + head + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < _length(received):
            chunk = connection.recv(65536)  # socket.timeout if the gateway waits for more than it was sent
            if not chunk:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), received[:200]
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def _length(received: bytes) -> int:
    for line in received.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.mark.parametrize("length", [b"-1", b"-20000000"])
def test_a_negative_content_length_is_a_400_without_reading_the_stream(gateway: Any, length: bytes) -> None:
    # Given a request that declares a negative length and sends a body with no end in sight
    server, runtime = gateway

    # When
    status, body = exchange(server, b"Content-Length: " + length + b"\r\n", b"customer=cus_1&" * 1000)

    # Then it is answered at once (not read to EOF), and the function never runs
    assert status == 400
    assert "message" in body
    assert runtime.bodies == []


@pytest.mark.parametrize("length", [b"abc", b"1e3", b"0x10", b"5, 5", b"", b"\xff", b"9" * 400])
def test_a_content_length_that_is_not_a_number_is_a_400(gateway: Any, length: bytes) -> None:
    # Given a Content-Length that is not a decimal number (or one too long to be any)
    server, runtime = gateway

    # When
    status, body = exchange(server, b"Content-Length: " + length + b"\r\n", b"customer=cus_1")

    # Then a JSON 400 (or 413 for the absurdly long number), and the request thread survives to answer the next
    assert status in (400, 413)
    assert "message" in body
    assert runtime.bodies == []
    assert exchange(server, b"Content-Length: 2\r\n", b"{}")[0] == 200


def test_a_content_length_past_the_cap_is_a_413(gateway: Any) -> None:
    server, runtime = gateway

    status, body = exchange(server, b"Content-Length: " + str(MAX_PAYLOAD_BYTES + 1).encode() + b"\r\n")

    assert status == 413
    assert runtime.bodies == []


def test_a_body_within_its_declared_length_reaches_the_function(gateway: Any) -> None:
    server, runtime = gateway

    status, _ = exchange(server, b"Content-Type: application/json\r\nContent-Length: 2\r\n", b"{}")

    assert status == 200
    assert runtime.bodies == ["{}"]


def test_a_request_line_too_long_to_read_is_a_json_414(gateway: tuple[GatewayServer, RecordingRuntime]) -> None:
    # Given a URI longer than the gateway reads (a generated query string can be), as http.server refuses it
    server, runtime = gateway
    with socket.create_connection(server.server_address[:2], timeout=5) as connection:
        connection.sendall(b"GET /v1/events?types=" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: local\r\n\r\n")
        received = b""
        while chunk := connection.recv(65536):
            received += chunk

    # Then the answer is JSON, as every other refusal of the gateway's, and no function ran
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 "), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"message": HTTPStatus.REQUEST_URI_TOO_LONG.phrase}  # Python's own reason phrase
    assert runtime.bodies == []


def test_a_chunked_body_is_read_whole_and_the_next_request_on_the_connection_is_answered(
    gateway: tuple[GatewayServer, RecordingRuntime],
) -> None:
    # Given a POST whose body comes in chunks (as a client streaming its body sends it), then a GET, on one connection
    server, runtime = gateway
    with socket.create_connection(server.server_address[:2], timeout=5) as connection:
        connection.sendall(
            b"POST /v1/billing_portal/sessions HTTP/1.1\r\nHost: local\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"9\r\ncustomer=\r\n5\r\ncus_1\r\n0\r\n\r\n"
            b"GET /v1/billing_portal/configurations HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n"
        )
        received = b""
        while chunk := connection.recv(65536):
            received += chunk

    # Then the function got the whole body, and the GET its own answer (not the chunks' end read as a request)
    assert base64.b64decode(runtime.bodies[0]) == b"customer=cus_1"  # no content type: passed on as bytes
    assert received.count(b"HTTP/1.1 200 ") == 2, received


def test_a_malformed_chunked_body_is_a_json_400_and_the_connection_closes(
    gateway: tuple[GatewayServer, RecordingRuntime],
) -> None:
    server, runtime = gateway
    with socket.create_connection(server.server_address[:2], timeout=5) as connection:
        connection.sendall(
            b"POST /v1/billing_portal/sessions HTTP/1.1\r\nHost: local\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        )
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body) == {"message": "Bad Request"}
    assert runtime.bodies == []
