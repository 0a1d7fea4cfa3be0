"""One webhook attempt has one deadline for all of it: a receiver that answers a byte at a time, or with interim
`100 Continue` for ever, or never takes the connection, or a name whose lookup hangs, is given up on at the deadline
(and no later than a second after), and the request goes to the address that was checked, with the URL's host in
`Host` (and over https, the certificate checked against that host). A failed attempt names what went wrong, in the
fixed words an attempt's record shows."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from portal_sessions.outbound.delivery_safety import Resolver, post
from portal_sessions.runtime.errors import DeliveryFailedError, UnsafeUrlError
from tests.support.webhook_receiver import stalling_receiver, tls_for_loopback, webhook_receiver

DEADLINE = 1.0
BODY, HEADERS = b"{}", {"Content-Type": "application/json"}


def timed_post(url: str, **options: Any) -> tuple[float, str]:
    """How long a failed attempt took, and why it failed (its reason, and its kind as an attempt's record shows it);
    on a thread, so an attempt that overruns fails the test instead of hanging it."""
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        started = time.monotonic()
        try:
            post(url, BODY, HEADERS, livemode=False, local_receivers=True, timeout=DEADLINE, **options)
        except DeliveryFailedError as failed:
            outcome["reason"] = f"{failed} ({failed.kind})"
        outcome["took"] = time.monotonic() - started

    runner = threading.Thread(target=attempt, daemon=True)
    runner.start()
    runner.join(DEADLINE + 5)
    assert not runner.is_alive(), "the attempt ran past its deadline"
    return outcome["took"], outcome.get("reason", "answered")


@pytest.mark.parametrize("kind", ["drip", "continue"])
def test_a_receiver_that_never_finishes_its_answer_is_given_up_on_at_the_deadline(kind: str) -> None:
    with stalling_receiver(kind) as receiver:
        took, reason = timed_post(receiver.url)

    assert took <= DEADLINE + 1.0
    assert reason == "timed out (timeout)"
    assert len(receiver.hosts) == 1  # it was reached, and kept talking


@pytest.mark.parametrize("kind", ["handshake", "drip", "continue"])
def test_over_https_too_a_receiver_that_never_finishes_is_given_up_on_at_the_deadline(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an https receiver whose certificate the client trusts (live endpoints are https), stalling in the
    # handshake itself, or in its answer once TLS is up
    with tls_for_loopback(tmp_path) as (server_context, certificate):
        monkeypatch.setenv("SSL_CERT_FILE", certificate)
        with stalling_receiver(kind, tls=server_context) as receiver:
            took, reason = timed_post(receiver.url)

    assert took <= DEADLINE + 1.0
    assert reason == "timed out (timeout)"
    assert len(receiver.hosts) == (0 if kind == "handshake" else 1)  # past TLS, it read the request


def test_a_lookup_that_hangs_is_given_up_on_at_the_deadline() -> None:
    released = threading.Event()

    def hanging_resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
        released.wait(10)
        return []

    try:
        took, reason = timed_post("http://hooks.example.test/webhook", resolver=hanging_resolver)
    finally:
        released.set()

    assert took <= DEADLINE + 1.0
    assert reason == "timed out resolving its host name (timeout)"


def test_the_request_goes_to_the_checked_address_with_the_urls_host_name() -> None:
    # A name only the given resolver knows: connecting by name (a second lookup) would fail; and an address other than
    # the one a connection to no host at all would reach (127.0.0.1)
    with webhook_receiver(address="127.0.0.2") as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
        looked_up: list[tuple[Any, ...]] = []

        def resolver(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
            looked_up.append((*args, kwargs))
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port))]

        status = post(f"http://hooks.example.test:{port}/webhook", BODY, HEADERS, livemode=False,
                      local_receivers=True, resolver=resolver)  # fmt: skip

    assert status == 200 and looked_up == [("hooks.example.test", port, {"type": socket.SOCK_STREAM})]
    (delivered,) = receiver.received
    assert delivered.headers["host"] == f"hooks.example.test:{port}"


def resolving_to_loopback(port: int) -> Resolver:
    """A resolver that alone knows the receivers' names, each at 127.0.0.1 (the system's has no such names)."""

    def resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    return resolver


def test_over_https_the_checked_address_is_connected_to_and_the_certificate_checked_against_the_host_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an https receiver on the checked address whose trusted certificate names the URL's host only (not
    # 127.0.0.1): a handshake checked against the address instead of the name would fail
    with tls_for_loopback(tmp_path, host_name="hooks.example.test") as (server_context, certificate):
        monkeypatch.setenv("SSL_CERT_FILE", certificate)
        with webhook_receiver(tls=server_context) as receiver:
            port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
            status = post(f"https://hooks.example.test:{port}/webhook", BODY, HEADERS, livemode=True,
                          local_receivers=True, resolver=resolving_to_loopback(port))  # fmt: skip

    assert status == 200
    (delivered,) = receiver.received
    assert delivered.headers["host"] == f"hooks.example.test:{port}"


def test_over_https_a_certificate_for_another_name_is_refused_and_nothing_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an https receiver at the checked address whose certificate, trusted, names another host than the URL's
    with tls_for_loopback(tmp_path, host_name="another.example.test") as (server_context, certificate):
        monkeypatch.setenv("SSL_CERT_FILE", certificate)
        with webhook_receiver(tls=server_context) as receiver:
            port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
            with pytest.raises(DeliveryFailedError) as failed:
                post(f"https://hooks.example.test:{port}/webhook", BODY, HEADERS, livemode=True,
                     local_receivers=True, resolver=resolving_to_loopback(port))  # fmt: skip

    # Then the attempt fails as a TLS error, before a byte of the event was sent
    assert failed.value.kind == "tls_error"
    assert receiver.received == []


@pytest.mark.parametrize("answer", ["an error", "no address"])
def test_a_name_that_does_not_resolve_is_a_dns_failure(answer: str) -> None:
    def resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
        if answer == "an error":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return []

    with pytest.raises(UnsafeUrlError) as refused:
        post("https://hooks.example.test/webhook", BODY, HEADERS, livemode=True, resolver=resolver)

    assert refused.value.kind == "dns_failure"


def test_a_live_endpoint_over_http_is_never_connected_to_even_under_the_local_switch() -> None:
    with webhook_receiver() as receiver, pytest.raises(UnsafeUrlError, match="live mode endpoints must use https"):
        post(receiver.url, BODY, HEADERS, livemode=True, local_receivers=True)

    assert receiver.received == []


@pytest.mark.parametrize(("path", "requested"), [("/hooks/stripe?account=1&x=%20", "/hooks/stripe?account=1&x=%20"),
                                                ("", "/"), ("?only=query", "/?only=query")])  # fmt: skip
def test_the_request_goes_to_the_urls_path_and_query(path: str, requested: str) -> None:
    with webhook_receiver() as receiver:
        origin = receiver.url.removesuffix("/webhook")
        status = post(origin + path, BODY, HEADERS, livemode=False, local_receivers=True)

    assert status == 200 and [delivered.path for delivered in receiver.received] == [requested]


@pytest.mark.parametrize("answer", [200, 204, 299, 300, 301, 302, 400, 410, 500, 503])
def test_only_a_2xx_answer_is_a_delivery_and_a_redirect_is_not_followed(answer: int) -> None:
    with webhook_receiver([answer]) as receiver:
        try:
            outcome: int | tuple[int | None, str] = post(receiver.url, BODY, HEADERS, livemode=False,
                                                         local_receivers=True)  # fmt: skip
        except DeliveryFailedError as failed:
            outcome = (failed.status, failed.kind)

    assert outcome == (answer if 200 <= answer < 300 else (answer, "http_status"))
    assert len(receiver.received) == 1


def test_a_name_that_resolves_to_loopback_is_never_connected_to_when_deployed() -> None:
    with webhook_receiver() as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])

        def resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        with pytest.raises(Exception, match="private, loopback or link-local"):
            post(f"http://hooks.example.test:{port}/webhook", BODY, HEADERS, livemode=False, resolver=resolver)

    assert receiver.received == []


def test_a_receiver_that_never_takes_the_connection_is_given_up_on_at_the_deadline() -> None:
    # Given a listener whose queue of connections is full and never taken: the kernel drops a further connection's
    # opening packet, so connecting waits (as for an address that does not answer)
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
        waiting = [socket.socket() for _ in range(3)]
        try:
            for queued in waiting:
                queued.setblocking(False)
                queued.connect_ex(("127.0.0.1", port))
            took, reason = timed_post(f"http://127.0.0.1:{port}/webhook")
        finally:
            for queued in waiting:
                queued.close()

    assert took <= DEADLINE + 1.0
    assert reason == "timed out (timeout)"


@contextmanager
def misbehaving_receiver(kind: str, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A receiver that reads the request, then: `close`s without an answer, `reset`s the connection, or answers
    `garbage` that is no HTTP; with `tls`, over TLS. Its URL."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(DEADLINE + 5)

        def serve() -> None:
            try:
                connection, _address = listener.accept()
                if tls is not None:
                    connection = tls.wrap_socket(connection, server_side=True)
            except OSError:  # the sender gave up, or refused the certificate
                return
            with connection:
                connection.recv(65536)
                if kind == "reset":  # closing with a zero linger time sends a reset
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif kind == "garbage":
                    connection.sendall(b"no HTTP here\r\n\r\n")

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}/webhook"
        server.join(DEADLINE + 5)


@pytest.mark.parametrize(
    ("kind", "failure"), [("close", "connection_reset"), ("reset", "connection_reset"), ("garbage", "no_answer")]
)
def test_a_receiver_that_ends_without_an_answer_is_named_for_how(kind: str, failure: str) -> None:
    with misbehaving_receiver(kind) as url, pytest.raises(DeliveryFailedError) as failed:
        post(url, BODY, HEADERS, livemode=False, local_receivers=True, timeout=DEADLINE)

    assert failed.value.kind == failure and failed.value.status is None


def test_a_receiver_whose_certificate_is_not_trusted_is_a_tls_error(tmp_path: Path) -> None:
    # Given an https receiver whose self-signed certificate the client was not told to trust
    with (
        tls_for_loopback(tmp_path) as (server_context, _certificate),
        misbehaving_receiver("close", server_context) as url,
    ):
        with pytest.raises(DeliveryFailedError) as failed:
            post(url, BODY, HEADERS, livemode=False, local_receivers=True, timeout=DEADLINE)

    assert failed.value.kind == "tls_error"


def test_a_refused_connection_is_named_so() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    with pytest.raises(DeliveryFailedError) as failed:  # the port is closed: nothing listens there
        post(f"http://127.0.0.1:{port}/webhook", BODY, HEADERS, livemode=False, local_receivers=True, timeout=DEADLINE)

    assert failed.value.kind == "connection_refused"
