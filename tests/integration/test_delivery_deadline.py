"""One webhook attempt has one deadline for all of it: a receiver that answers a byte at a time, or with interim
`100 Continue` for ever, or a name whose lookup hangs, is given up on at the deadline (and no later than a second
after), and the request goes to the address that was checked, with the URL's host in `Host` (and over https, the
certificate checked against that host)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from portal_sessions.outbound.delivery_safety import Resolver, post
from portal_sessions.runtime.errors import DeliveryFailedError
from tests.support.webhook_receiver import stalling_receiver, tls_for_loopback, webhook_receiver

DEADLINE = 1.0
BODY, HEADERS = b"{}", {"Content-Type": "application/json"}


def timed_post(url: str, **options: Any) -> tuple[float, str]:
    """How long a failed attempt took, and why it failed; on a thread, so an attempt that overruns fails the test
    instead of hanging it."""
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        started = time.monotonic()
        try:
            post(url, BODY, HEADERS, livemode=False, local_receivers=True, timeout=DEADLINE, **options)
        except DeliveryFailedError as failed:
            outcome["reason"] = str(failed)
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
    assert reason == "timed out"
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
    assert reason == "timed out"
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
    assert reason == "timed out resolving its host name"


def test_the_request_goes_to_the_checked_address_with_the_urls_host_name() -> None:
    # A name only the given resolver knows: connecting by name (a second lookup) would fail
    with webhook_receiver() as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
        looked_up: list[str] = []

        def resolver(host: str, *_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
            looked_up.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        status = post(f"http://hooks.example.test:{port}/webhook", BODY, HEADERS, livemode=False,
                      local_receivers=True, resolver=resolver)  # fmt: skip

    assert status == 200 and looked_up == ["hooks.example.test"]
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


def test_a_name_that_resolves_to_loopback_is_never_connected_to_when_deployed() -> None:
    with webhook_receiver() as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])

        def resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        with pytest.raises(Exception, match="private, loopback or link-local"):
            post(f"http://hooks.example.test:{port}/webhook", BODY, HEADERS, livemode=False, resolver=resolver)

    assert receiver.received == []
