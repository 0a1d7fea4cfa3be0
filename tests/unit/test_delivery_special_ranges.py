"""Every special-purpose address range (IANA's registries, RFC 6890 and after) that is not a public receiver is refused
as a webhook's address: written in the URL (when saved and at delivery) and as what a name resolves to (at delivery),
with the local runner's switch on or off (it opens loopback only)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from portal_sessions.outbound.delivery_safety import check_endpoint_url, checked_address
from portal_sessions.runtime.errors import InvalidRequestError, UnsafeUrlError

SPECIAL_ADDRESSES = [
    # multicast: Python calls most of it global
    pytest.param("224.0.0.1", id="ipv4-multicast-local-network"),
    pytest.param("224.0.0.251", id="ipv4-multicast-mdns"),
    pytest.param("232.1.1.1", id="ipv4-multicast-source-specific"),
    pytest.param("233.252.0.1", id="ipv4-multicast-test-net"),
    pytest.param("239.255.255.250", id="ipv4-multicast-admin-scoped"),
    pytest.param("ff02::1", id="ipv6-multicast-link-local"),
    pytest.param("ff05::2", id="ipv6-multicast-site-local"),
    pytest.param("ff0e::1", id="ipv6-multicast-global-scope"),
    pytest.param("ff3e::8000:1", id="ipv6-multicast-source-specific"),
    pytest.param("::ffff:224.0.0.1", id="ipv4-mapped-multicast"),
    pytest.param("64:ff9b::e000:1", id="nat64-multicast"),
    pytest.param("2002:e000:1::", id="6to4-multicast"),
    # IPv4 special-purpose
    pytest.param("0.0.0.0", id="ipv4-unspecified"),
    pytest.param("0.1.2.3", id="ipv4-this-network"),
    pytest.param("255.255.255.255", id="ipv4-limited-broadcast"),
    pytest.param("240.0.0.1", id="ipv4-reserved"),
    pytest.param("250.1.2.3", id="ipv4-reserved-high"),
    pytest.param("100.64.0.1", id="ipv4-shared-cgnat"),
    pytest.param("100.127.255.254", id="ipv4-shared-cgnat-last"),
    pytest.param("192.0.0.170", id="ipv4-nat64-discovery"),
    pytest.param("192.0.0.8", id="ipv4-dummy"),
    pytest.param("192.0.2.1", id="ipv4-documentation-1"),
    pytest.param("198.51.100.7", id="ipv4-documentation-2"),
    pytest.param("203.0.113.9", id="ipv4-documentation-3"),
    pytest.param("198.18.0.1", id="ipv4-benchmarking"),
    pytest.param("198.19.255.254", id="ipv4-benchmarking-last"),
    pytest.param("169.254.0.1", id="ipv4-link-local"),
    pytest.param("10.255.255.255", id="ipv4-private-10"),
    pytest.param("172.31.255.254", id="ipv4-private-172"),
    pytest.param("192.168.255.255", id="ipv4-private-192"),
    pytest.param("::ffff:10.0.0.1", id="ipv4-mapped-private"),
    pytest.param("::ffff:0.0.0.0", id="ipv4-mapped-unspecified"),
    pytest.param("::ffff:255.255.255.255", id="ipv4-mapped-broadcast"),
    # IPv6 special-purpose
    pytest.param("::", id="ipv6-unspecified"),
    pytest.param("fe80::1", id="ipv6-link-local"),
    pytest.param("fc00::1", id="ipv6-unique-local-fc"),
    pytest.param("fd12:3456::1", id="ipv6-unique-local-fd"),
    pytest.param("2001:db8::1", id="ipv6-documentation"),
    pytest.param("100::1", id="ipv6-discard-only"),
    pytest.param("2001::1", id="ipv6-teredo"),
    pytest.param("2001:2::1", id="ipv6-benchmarking"),
    pytest.param("2001:10::1", id="ipv6-orchid"),
    pytest.param("2001:20::1", id="ipv6-orchid-v2"),
    pytest.param("fec0::1", id="ipv6-site-local"),
    pytest.param("3fff::1", id="ipv6-documentation-2"),
    pytest.param("5f00::1", id="ipv6-srv6-sids"),
    pytest.param("100:0:0:1::1", id="ipv6-dummy-prefix"),
]
PUBLIC_ADDRESSES = ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]


def resolver_to(address: str) -> Any:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolve


def _literal_url(address: str) -> str:
    return f"https://[{address}]/hook" if ":" in address else f"https://{address}/hook"


@pytest.mark.parametrize("local_receivers", [False, True], ids=["deployed", "local-switch"])
@pytest.mark.parametrize("address", SPECIAL_ADDRESSES)
def test_a_special_address_in_the_url_is_refused_when_saved_and_delivering(address: str, local_receivers: bool) -> None:
    url = _literal_url(address)

    with pytest.raises(InvalidRequestError):
        check_endpoint_url(url, False, local_receivers=local_receivers)
    with pytest.raises(UnsafeUrlError):
        checked_address(url, False, local_receivers=local_receivers, resolver=resolver_to("93.184.215.14"))


@pytest.mark.parametrize("local_receivers", [False, True], ids=["deployed", "local-switch"])
@pytest.mark.parametrize("address", SPECIAL_ADDRESSES)
def test_a_name_that_resolves_to_a_special_address_is_refused_at_delivery(address: str, local_receivers: bool) -> None:
    with pytest.raises(UnsafeUrlError):
        checked_address(
            "https://hooks.example.com/stripe", True, local_receivers=local_receivers, resolver=resolver_to(address)
        )


@pytest.mark.parametrize("address", ["127.8.8.8", "127.255.255.254"])
def test_all_of_loopback_is_refused_without_the_local_switch(address: str) -> None:
    with pytest.raises(InvalidRequestError):
        check_endpoint_url(_literal_url(address), False)
    with pytest.raises(UnsafeUrlError):
        checked_address("https://hooks.example.com/", False, resolver=resolver_to(address))


def test_a_link_local_answer_with_a_zone_is_refused_at_delivery() -> None:
    with pytest.raises(UnsafeUrlError):
        checked_address("https://hooks.example.com/", True, resolver=resolver_to("fe80::1%eth0"))


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_a_public_address_is_delivered_to(address: str) -> None:
    # The other side of the line: the refusals above are not a resolver or a URL the check cannot read
    url = _literal_url(address)

    check_endpoint_url(url, True)
    assert checked_address(url, True, resolver=resolver_to(address)) == address
    assert checked_address("https://hooks.example.com/", True, resolver=resolver_to(address)) == address
