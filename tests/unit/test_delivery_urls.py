"""Which webhook URLs are refused and what each refusal says, and what the delivery check asks the resolver: the host
name of the URL, its port (443 or 80 by scheme, else the one written), for a stream socket."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from portal_sessions.outbound.delivery_safety import check_endpoint_url, checked_address
from portal_sessions.runtime.errors import InvalidRequestError, UnsafeUrlError

PUBLIC = "93.184.215.14"
NOT_VALID = "it is not a valid URL"
PRIVATE = "it points to a private, loopback or link-local address"


class Resolver:
    """Answers every name with one address, and keeps what it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[tuple[Any, ...]] = []

    def __call__(self, host: str, port: int, **options: Any) -> list[tuple[Any, ...]]:
        self.asked.append((host, port, options))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in self.addresses]


@pytest.mark.parametrize(
    ("url", "livemode", "reason"),
    [
        ("https:///hook", False, NOT_VALID),  # no host
        ("https://user:password@hooks.example.com/hook", False, NOT_VALID),  # credentials
        ("https://user@hooks.example.com/hook", False, NOT_VALID),
        ("https://hooks.example.com:0/hook", False, NOT_VALID),
        ("https://hooks.example.com:99999/hook", False, NOT_VALID),
        ("https://hooks.example.com:http/hook", False, NOT_VALID),
        ("ftp://hooks.example.com/", False, "it must use https"),
        ("http://hooks.example.com/hook", True, "live mode endpoints must use https"),
        ("https://10.0.0.1/hook", False, PRIVATE),
        ("https://localhost/hook", False, PRIVATE),
        ("https://localhost./hook", False, PRIVATE),  # a name's trailing dot changes nothing
        ("https://LOCALHOST.LOCALDOMAIN/hook", False, PRIVATE),
    ],
)
def test_each_refusal_says_why(url: str, livemode: bool, reason: str) -> None:
    with pytest.raises(InvalidRequestError) as saved:
        check_endpoint_url(url, livemode)
    with pytest.raises(UnsafeUrlError) as delivered:
        checked_address(url, livemode, resolver=Resolver(PUBLIC))

    assert (saved.value.message, saved.value.code, saved.value.param) == (
        f"Invalid URL: {reason}.",
        "url_invalid",
        "url",
    )
    assert str(delivered.value) == reason


@pytest.mark.parametrize(
    ("resolver", "reason"),
    [
        (Resolver(), "its host name does not resolve"),
        (Resolver("10.0.0.1"), "its host name resolves to a private, loopback or link-local address"),
    ],
)
def test_each_refusal_at_delivery_says_why(resolver: Resolver, reason: str) -> None:
    with pytest.raises(UnsafeUrlError) as refused:
        checked_address("https://hooks.example.com/hook", True, resolver=resolver)

    assert str(refused.value) == reason


def test_a_name_that_does_not_resolve_is_refused_saying_so() -> None:
    def failing(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnsafeUrlError) as refused:
        checked_address("https://hooks.example.com/hook", True, resolver=failing)

    assert str(refused.value) == "its host name does not resolve"


@pytest.mark.parametrize(
    ("url", "asked"),
    [
        ("https://hooks.example.com/stripe", ("hooks.example.com", 443)),
        ("http://hooks.example.com/stripe", ("hooks.example.com", 80)),
        ("https://Hooks.Example.com:8443/stripe", ("hooks.example.com", 8443)),
        ("http://hooks.example.com:8080/stripe", ("hooks.example.com", 8080)),
    ],
)
def test_the_resolver_is_asked_for_the_urls_host_and_port_over_tcp(url: str, asked: tuple[str, int]) -> None:
    resolver = Resolver(PUBLIC)

    assert checked_address(url, False, resolver=resolver) == PUBLIC
    assert resolver.asked == [(*asked, {"type": socket.SOCK_STREAM})]


@pytest.mark.parametrize("url", ["https://hooks.example.com:1/hook", "https://hooks.example.com:65535/hook"])
def test_any_port_from_1_to_65535_is_allowed(url: str) -> None:
    check_endpoint_url(url, True)
    assert checked_address(url, True, resolver=Resolver(PUBLIC)) == PUBLIC
