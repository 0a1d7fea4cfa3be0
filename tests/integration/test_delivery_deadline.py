"""One webhook attempt has one deadline for all of it: a receiver that answers a byte at a time, or with interim
`100 Continue` for ever, or a name whose lookup hangs, is given up on at the deadline (and no later than a second
after), and the request goes to the address that was checked, with the URL's host in `Host`."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from portal_sessions.outbound.delivery_safety import post
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


def test_a_name_that_resolves_to_loopback_is_never_connected_to_when_deployed() -> None:
    with webhook_receiver() as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])

        def resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        with pytest.raises(Exception, match="private, loopback or link-local"):
            post(f"http://hooks.example.test:{port}/webhook", BODY, HEADERS, livemode=False, resolver=resolver)

    assert receiver.received == []
