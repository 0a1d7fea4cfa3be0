"""Webhook signatures (checked by the official SDK's verifier), subscriptions, back-off, and where deliveries may go."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
import stripe

from portal_sessions.domain.webhooks import (
    CreatedRangeParams,
    EndpointSecrets,
    created_bounds,
    new_signing_secret,
    retry_delays,
    signature_header,
    wants,
)
from portal_sessions.outbound.delivery_safety import check_endpoint_url, checked_address
from portal_sessions.runtime.errors import InvalidRequestError, SealBrokenError, UnsafeUrlError

PAYLOAD = json.dumps({"id": "evt_1", "object": "event", "type": "billing_portal.session.created"}).encode()


def test_the_official_sdk_verifies_our_signature_and_refuses_another_secret() -> None:
    secret = new_signing_secret()
    header = signature_header(PAYLOAD, secret, int(time.time()))

    event = stripe.Webhook.construct_event(PAYLOAD, header, secret)
    assert event.id == "evt_1" and event.type == "billing_portal.session.created"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(PAYLOAD, header, new_signing_secret())
    with pytest.raises(stripe.SignatureVerificationError):  # a body changed in transit
        stripe.Webhook.construct_event(PAYLOAD.replace(b"evt_1", b"evt_2"), header, secret)


def test_an_old_signature_is_refused_so_each_retry_is_signed_afresh() -> None:
    secret = new_signing_secret()
    stale = signature_header(PAYLOAD, secret, int(time.time()) - 600)

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(PAYLOAD, stale, secret)


def test_secrets_look_like_stripes_and_are_sealed_to_their_endpoint() -> None:
    secret = new_signing_secret()
    box = EndpointSecrets("master-key")
    sealed = box.seal("we_1", secret)

    assert secret.startswith("whsec_") and len(secret) >= 32
    assert secret not in sealed and secret.removeprefix("whsec_") not in sealed
    assert box.open("we_1", sealed) == secret
    with pytest.raises(SealBrokenError):  # copied onto another endpoint, it does not open
        box.open("we_2", sealed)
    with pytest.raises(SealBrokenError):  # nor under another master key
        EndpointSecrets("other-key").open("we_1", sealed)


OLD_KEY = "o" * 64  # as CloudFormation generates the secret: 64 letters and digits, no keyring
NEW_KEY = "n" * 64


def rotated(**keys: str) -> str:
    """The secret's text after a rotation: a keyring naming the key that seals from now on."""
    return json.dumps({"sealing_kid": "2026-12", **keys})


def test_after_a_rotation_new_secrets_are_sealed_under_the_new_key_and_old_ones_still_open() -> None:
    # Given a secret sealed before any rotation, under the plain key the template generated
    old_secret = new_signing_secret()
    sealed_before = EndpointSecrets(OLD_KEY).seal("we_1", old_secret)

    # When the key is rotated: a keyring with the new key sealing, and the old one kept (as `initial`) to open
    keyring = EndpointSecrets(rotated(initial=OLD_KEY, **{"2026-12": NEW_KEY}))
    new_secret = new_signing_secret()
    sealed_after = keyring.seal("we_2", new_secret)

    # Then both open; the new one records its key's id, and opens without the old key, not without the new one
    assert keyring.open("we_1", sealed_before) == old_secret
    assert keyring.open("we_2", sealed_after) == new_secret
    assert sealed_after.startswith("2026-12:")
    assert EndpointSecrets(rotated(**{"2026-12": NEW_KEY})).open("we_2", sealed_after) == new_secret
    with pytest.raises(SealBrokenError):
        EndpointSecrets(OLD_KEY).open("we_2", sealed_after)
    with pytest.raises(SealBrokenError):  # the old key dropped too early: refused, never another key tried
        EndpointSecrets(rotated(**{"2026-12": NEW_KEY})).open("we_1", sealed_before)


def test_before_any_rotation_sealed_secrets_keep_the_format_earlier_versions_open() -> None:
    # A deployment rolled back (or a canary's old version) still opens what the new one sealed
    sealed = EndpointSecrets(OLD_KEY).seal("we_1", "whsec_x")
    assert ":" not in sealed


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"sealing_kid": "missing", "k1": NEW_KEY}),  # names no key of its own
        json.dumps({"k1": NEW_KEY}),  # names none
        json.dumps({"sealing_kid": "k1", "k1": "short"}),  # a key too short to seal with
        json.dumps({"sealing_kid": "k:1", "k:1": NEW_KEY}),  # an id that cannot be told from the sealed text
        json.dumps(["not", "a", "keyring"]),
    ],
)
def test_a_broken_keyring_is_refused_naming_no_key(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        EndpointSecrets(text)
    assert NEW_KEY not in str(refused.value)


def _endpoint(enabled_events: list[str], status: str = "enabled") -> dict[str, Any]:
    return {"enabled_events": enabled_events, "status": status}


def test_extensions_are_opt_in_by_name_or_star() -> None:
    stripes = _endpoint(["billing_portal.session.created", "billing_portal.configuration.updated"])

    assert wants(stripes, "billing_portal.session.created")
    assert not wants(stripes, "billing_portal.session.visited")
    assert wants(_endpoint(["billing_portal.session.visited"]), "billing_portal.session.visited")
    assert wants(_endpoint(["*"]), "billing_portal.session.expired")
    assert not wants(_endpoint(["*"], status="disabled"), "billing_portal.session.created")


def test_back_off_lasts_up_to_three_days_live_and_a_few_hours_in_test() -> None:
    live, test = retry_delays(True), retry_delays(False)

    assert all(later >= earlier for earlier, later in zip(live, live[1:], strict=False))
    assert 2 * 86400 < sum(live) <= 3 * 86400
    assert len(test) == 3 and sum(test) <= 4 * 3600


def test_created_filters_become_inclusive_bounds() -> None:
    assert created_bounds(None) == (None, None)
    assert created_bounds(100) == (100, 100)
    assert created_bounds(CreatedRangeParams(gt=100, lt=200)) == (101, 199)
    assert created_bounds(CreatedRangeParams(gte=100, lte=200)) == (100, 200)
    assert created_bounds(CreatedRangeParams(gt=150, gte=100)) == (151, None)


# Where deliveries may go


def resolver_to(*addresses: str) -> Any:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    return resolve


@pytest.mark.parametrize(
    ("url", "livemode"),
    [
        ("http://hooks.example.com/stripe", True),  # live mode needs https
        ("https://127.0.0.1/hook", False),  # loopback: inside Lambda, the Runtime API
        ("https://169.254.169.254/latest/meta-data/", False),  # the instance metadata service
        ("https://10.0.0.8/hook", True),
        ("https://[::1]/hook", False),
        ("https://[::ffff:127.0.0.1]/hook", False),  # loopback, spelled as IPv6
        ("https://localhost/hook", False),
        ("ftp://hooks.example.com/", False),
    ],
)
def test_urls_that_are_refused_when_saved_and_when_delivering(url: str, livemode: bool) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        check_endpoint_url(url, livemode)
    assert (refused.value.code, refused.value.param) == ("url_invalid", "url")
    with pytest.raises(UnsafeUrlError):
        checked_address(url, livemode, resolver=resolver_to("93.184.215.14"))


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.10", "172.16.5.5", "127.0.0.1", "169.254.169.254",
                                     "100.64.0.1", "fd00:ec2::254", "::1", "0.0.0.0"])  # fmt: skip
def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery(address: str) -> None:
    url = "https://hooks.example.com/stripe"
    check_endpoint_url(url, True)  # names are only resolved at delivery

    with pytest.raises(UnsafeUrlError):
        checked_address(url, True, resolver=resolver_to(address))


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2002:a9fe:a9fe::", "::a9fe:a9fe"],  # NAT64, 6to4, IPv4-compatible
)
def test_a_name_that_resolves_to_an_ipv6_form_of_an_ipv4_address_is_refused_at_delivery(address: str) -> None:
    # Python calls some of these global; a translator or tunnel would take them to the IPv4 address they carry
    with pytest.raises(UnsafeUrlError):
        checked_address("https://hooks.example.com/stripe", True, resolver=resolver_to(address))


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(UnsafeUrlError):
        checked_address("https://hooks.example.com/", True, resolver=resolver_to("93.184.215.14", "10.0.0.1"))


def test_the_address_checked_is_the_one_connected_to() -> None:
    assert checked_address("https://hooks.example.com/", True, resolver=resolver_to("93.184.215.14")) == (
        "93.184.215.14"
    )


def test_the_local_switch_allows_loopback_over_http_in_test_mode_only() -> None:
    local = "http://127.0.0.1:4242/webhook"

    check_endpoint_url(local, False, local_receivers=True)
    assert checked_address(local, False, local_receivers=True, resolver=resolver_to("127.0.0.1")) == "127.0.0.1"
    with pytest.raises(InvalidRequestError):
        check_endpoint_url(local, True, local_receivers=True)  # live mode still needs https
    with pytest.raises(UnsafeUrlError):  # and it opens loopback only, not private networks
        checked_address("http://10.0.0.1/", False, local_receivers=True, resolver=resolver_to("10.0.0.1"))


@pytest.mark.parametrize(
    "address",
    ["::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe", "fec0::1", "fec0:ffff::a"],  # IPv4-translated, site-local
)
def test_ipv6_outside_the_global_unicast_range_is_refused_at_save_and_at_delivery(address: str) -> None:
    # Python calls these global; only 2000::/3 is handed out as global unicast
    with pytest.raises(InvalidRequestError):
        check_endpoint_url(f"https://[{address}]/hook", False)
    with pytest.raises(UnsafeUrlError):
        checked_address("https://hooks.example.com/stripe", True, resolver=resolver_to(address))


def test_a_global_unicast_ipv6_address_is_allowed() -> None:
    check_endpoint_url("https://[2606:4700::1111]/hook", True)
    assert checked_address("https://hooks.example.com/", True, resolver=resolver_to("2606:4700::1111")) == (
        "2606:4700::1111"
    )


@pytest.mark.parametrize(
    "host", ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0", "0xa9fea9fe", "0300.0250.0.1", "10.0x10203"]
)
def test_numeric_ipv4_forms_the_resolver_reads_are_refused_at_save(host: str) -> None:
    # getaddrinfo reads these as 127.0.0.1, 0.0.0.0, 169.254.169.254, 192.168.0.1, 10.1.2.3 (inet_aton's rules)
    with pytest.raises(InvalidRequestError) as refused:
        check_endpoint_url(f"https://{host}/hook", False)
    assert "private" in refused.value.message


@pytest.mark.parametrize("host", ["1.1", "0x5db8d70e", "93.12097294", "hooks.example.com", "0x7f.example.com"])
def test_public_numeric_forms_and_names_pass_the_save_check(host: str) -> None:
    check_endpoint_url(f"https://{host}/hook", True)
