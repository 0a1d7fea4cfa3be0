"""The signed, short-lived hand-off a visited session carries to the portal."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from portal_sessions.domain.handoff import (
    AUDIENCES,
    ISSUER,
    MAX_TOKEN_LENGTH,
    RECOVERY_AUDIENCES,
    Keyring,
    check_handoff_size,
    issue_handoff_token,
    longest_token_length,
    parse_keyring,
    verify_handoff_token,
)
from portal_sessions.domain.session import PortalSession
from portal_sessions.runtime.errors import InvalidRequestError
from tests.support.factories import a_session

SIGNING_KEY = "unit-test-signing-key-0123456789abcdefghijklmnop"
OTHER_KEY = "another-signing-key-0123456789abcdefghijklmnopqr"
TEST_MODE_KEY = "test-mode-signing-key-0123456789abcdefghijklmno"
LIVE = Keyring(signing_kid="live-1", keys={"live-1": SIGNING_KEY})
TEST = Keyring(signing_kid="test-1", keys={"test-1": TEST_MODE_KEY})
FLOW = {
    "after_completion": {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"},
    "subscription_cancel": None,
    "subscription_update": {"subscription": "sub_1"},
    "subscription_update_confirm": None,
    "type": "subscription_update",
}


def session(**changes: Any) -> PortalSession:
    """A live session whose hand-off carries every claim: a flow, a locale, on_behalf_of (the round trip below checks
    each of these fields)."""
    fields = {
        "id": "bps_123456789012345678901234",
        "customer": "cus_1",
        "return_url": "https://example.com/account",
        "livemode": True,
        "configuration": "bpc_DefaultLiveConfiguration",
        "flow": FLOW,
        "locale": "fr",
        "on_behalf_of": "acct_1",
    }
    return a_session(**(fields | changes))


def issue(
    now: int | None = None, ttl_seconds: int = 60, keyring: Keyring = LIVE, recovery: bool = False, **changes: Any
) -> str:
    issued_at = int(time.time()) if now is None else now
    return issue_handoff_token(
        session(**changes), now=issued_at, ttl_seconds=ttl_seconds, keyring=keyring, recovery=recovery
    )


def verify(token: str, keys: dict[str, str] | None = None, audience: str = AUDIENCES[True]) -> dict[str, Any]:
    """As a live portal verifies."""
    return verify_handoff_token(token, keys=dict(LIVE.keys) if keys is None else keys, audience=audience)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified_payload(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def signed(claims: dict[str, Any], key: str = SIGNING_KEY, kid: str = "live-1") -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})


# --- round trip --------------------------------------------------------------------------------------------------


def test_round_trip_carries_the_session() -> None:
    # Given a hand-off issued for a session
    token = issue()
    # When the portal verifies it
    claims = verify(token)
    # Then it carries exactly what the portal needs about the session; a claim with no value is left out
    assert set(claims) == {
        "iss", "aud", "iat", "exp", "jti", "sid", "livemode", "customer", "configuration", "flow", "locale",
        "on_behalf_of", "return_url",
    }  # fmt: skip
    assert claims["sid"] == "bps_123456789012345678901234"
    assert claims["customer"] == "cus_1"
    assert claims["livemode"] is True
    assert claims["configuration"] == "bpc_DefaultLiveConfiguration"
    assert claims["flow"] == {
        "after_completion": {"type": "portal_homepage"},
        "subscription_update": {"subscription": "sub_1"},
        "type": "subscription_update",
    }
    assert claims["locale"] == "fr"
    assert claims["on_behalf_of"] == "acct_1"
    assert claims["return_url"] == "https://example.com/account"
    assert claims["aud"] == AUDIENCES[True] == "billing_portal"  # what deployed live portals already check
    assert claims["iss"] == ISSUER


def test_a_hand_off_for_a_customer_account_carries_the_account() -> None:
    claims = verify(issue(customer=None, customer_account="acct_1Nv0FGQ9RKHgCVdK"))

    assert claims["customer_account"] == "acct_1Nv0FGQ9RKHgCVdK" and "customer" not in claims


def test_a_flows_lists_keep_their_items_without_their_nulls() -> None:
    flow = FLOW | {
        "type": "subscription_update_confirm",
        "subscription_update": None,
        "subscription_update_confirm": {
            "discounts": [{"coupon": "SAVE10", "promotion_code": None}],
            "items": [
                {"id": "si_1", "price": "price_1", "quantity": None},
                {"id": "si_2", "price": None, "quantity": 2},
            ],
            "subscription": "sub_1",
        },
    }

    claims = verify(issue(flow=flow))

    assert claims["flow"]["subscription_update_confirm"] == {
        "discounts": [{"coupon": "SAVE10"}],
        "items": [{"id": "si_1", "price": "price_1"}, {"id": "si_2", "quantity": 2}],
        "subscription": "sub_1",
    }


def test_a_hand_off_is_for_the_portal_unless_a_recovery_one_is_asked_for() -> None:
    token = issue_handoff_token(session(), now=int(time.time()), ttl_seconds=60, keyring=LIVE)

    assert unverified_payload(token)["aud"] == AUDIENCES[True]


def test_claims_are_utf_8_not_escapes_so_a_non_ascii_id_costs_its_bytes() -> None:
    token = issue(customer="cus_é")

    payload = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    assert '"customer":"cus_é"'.encode() in payload and b"\\u" not in payload


def test_the_header_names_the_signing_key() -> None:
    assert jwt.get_unverified_header(issue())["kid"] == "live-1"
    assert jwt.get_unverified_header(issue(keyring=TEST, livemode=False))["kid"] == "test-1"


# --- test and live never cross -----------------------------------------------------------------------------------


def test_a_test_hand_off_fails_live_verification_and_a_live_one_test_verification() -> None:
    # Given a test-mode hand-off and a live one, each signed with its own mode's keyring
    test_handoff = issue(keyring=TEST, livemode=False)
    live_handoff = issue(keyring=LIVE, livemode=True)

    # Then each verifies in its own mode only
    assert verify(test_handoff, keys=dict(TEST.keys), audience=AUDIENCES[False])["livemode"] is False
    assert verify(live_handoff)["livemode"] is True
    with pytest.raises(jwt.InvalidTokenError):
        verify(test_handoff)  # a live portal
    with pytest.raises(jwt.InvalidTokenError):
        verify(live_handoff, keys=dict(TEST.keys), audience=AUDIENCES[False])  # a test portal


def test_the_audience_separates_the_modes_even_under_one_key() -> None:
    # Given (by mistake) the same key in both modes' keyrings
    same = Keyring(signing_kid="live-1", keys={"live-1": SIGNING_KEY})
    test_handoff = issue(keyring=same, livemode=False)

    # Then a live portal still refuses the test hand-off: its audience is the test portal's
    with pytest.raises(jwt.InvalidAudienceError):
        verify(test_handoff)


@pytest.mark.parametrize("livemode", [True, False])
def test_a_recovery_hand_off_is_never_a_portal_hand_off(livemode: bool) -> None:
    keyring = LIVE if livemode else TEST
    recovery = issue(keyring=keyring, livemode=livemode, recovery=True)

    assert verify(recovery, keys=dict(keyring.keys), audience=RECOVERY_AUDIENCES[livemode])["sid"]
    with pytest.raises(jwt.InvalidAudienceError):
        verify(recovery, keys=dict(keyring.keys), audience=AUDIENCES[livemode])


# --- key rotation ------------------------------------------------------------------------------------------------


def test_rotation_overlaps_old_and_new_keys_by_key_id() -> None:
    # Given a hand-off signed before a rotation, and the new key added (not yet signing), then made the signing one
    before = issue(keyring=LIVE)
    added = Keyring(signing_kid="live-1", keys={"live-1": SIGNING_KEY, "live-2": OTHER_KEY})
    rotated = Keyring(signing_kid="live-2", keys=added.keys)
    after = issue(keyring=rotated)
    assert jwt.get_unverified_header(after)["kid"] == "live-2"

    # Then a portal holding both keys accepts both hand-offs
    assert verify(before, keys=dict(added.keys))["sid"] == verify(after, keys=dict(added.keys))["sid"]
    # And one that has not yet learned the new key refuses the new hand-off (why the new key is added first)
    with pytest.raises(jwt.InvalidTokenError):
        verify(after, keys={"live-1": SIGNING_KEY})
    # And once the old key is removed, what it signed is refused
    with pytest.raises(jwt.InvalidTokenError):
        verify(before, keys={"live-2": OTHER_KEY})


def test_a_key_id_naming_another_key_does_not_verify() -> None:
    # Given a hand-off whose header names a key the portal holds, but signed with another key
    forged = signed(unverified_payload(issue()), key=OTHER_KEY, kid="live-1")
    with pytest.raises(jwt.InvalidSignatureError):
        verify(forged)


@pytest.mark.parametrize(
    "text",
    [
        "just-a-plain-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "[]",
        '{"live-1": "0123456789abcdefghijklmnopqrstuvwxyz"}',
        '{"signing_kid": "live-2", "live-1": "0123456789abcdefghijklmnopqrstuvwxyz"}',
        '{"signing_kid": "live-1", "live-1": "too-short"}',
        '{"signing_kid": "live 1", "live 1": "0123456789abcdefghijklmnopqrstuvwxyz"}',
        '{"signing_kid": "live-1", "live-1": 12345678901234567890123456789012345}',
    ],
)
def test_a_secret_that_is_not_a_keyring_is_refused_without_showing_a_key(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_keyring(text)
    assert "0123456789" not in str(refused.value) and "too-short" not in str(refused.value)


def test_a_keyring_names_its_signing_key() -> None:
    keyring = parse_keyring('{"signing_kid": "b", "a": "' + "a" * 32 + '", "b": "' + "b" * 32 + '"}')
    assert (keyring.signing_kid, keyring.signing_key, set(keyring.keys)) == ("b", "b" * 32, {"a", "b"})


# --- size --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("livemode", [True, False])
def test_the_longest_token_length_bounds_every_hand_off_of_the_session(livemode: bool) -> None:
    longest_kid = Keyring(signing_kid="k" * 64, keys={"k" * 64: SIGNING_KEY})
    big = {"customer": "cus_" + "é" * 250, "return_url": "https://example.com/" + "a" * 2000, "livemode": livemode}
    bound = longest_token_length(session(**big))
    for recovery in (False, True):
        assert len(issue(keyring=longest_kid, recovery=recovery, **big)) <= bound
    assert bound - len(issue(keyring=longest_kid, **big)) < 20  # a bound, not a guess


def test_the_longest_token_length_is_reached_by_the_longest_hand_off() -> None:
    # A test mode recovery hand-off has the longest audience; with the longest key id and times of ten digits
    longest_kid = Keyring(signing_kid="k" * 64, keys={"k" * 64: SIGNING_KEY})
    big = {"customer": "cus_" + "é" * 250, "return_url": "https://example.com/" + "a" * 2000, "livemode": False}

    longest = issue(keyring=longest_kid, recovery=True, now=9_999_999_999 - 60, **big)

    assert len(longest) == longest_token_length(session(**big))


def test_a_session_whose_hand_off_could_pass_the_limit_is_refused_and_one_at_the_limit_is_not() -> None:
    by_length = {
        longest_token_length(session(return_url=url)): url
        for url in ("https://example.com/" + "a" * size for size in range(5000, 6000))
    }
    check_handoff_size(session(return_url=by_length[MAX_TOKEN_LENGTH]))

    with pytest.raises(InvalidRequestError) as refused:
        check_handoff_size(session(return_url=by_length[MAX_TOKEN_LENGTH + 1]))

    assert (refused.value.code, refused.value.param) == ("parameter_invalid", None)
    assert refused.value.message == (
        f"This session's portal hand-off would be {MAX_TOKEN_LENGTH + 1} characters, more than the "
        f"{MAX_TOKEN_LENGTH} a redirect can carry: shorten its ids or return URLs."
    )


@pytest.mark.parametrize("ttl_seconds", [5, 60, 3600, 86400])
def test_lifetime_is_never_more_than_60_seconds(ttl_seconds: int) -> None:
    # Given a hand-off issued with some configured lifetime
    now = int(time.time())
    token = issue(now=now, ttl_seconds=ttl_seconds)
    # When its claims are read
    claims = verify(token)
    # Then it was issued now and lives min(ttl, 60) seconds
    assert claims["iat"] == now
    assert claims["exp"] - claims["iat"] == min(ttl_seconds, 60)


def test_each_hand_off_has_its_own_id() -> None:
    # Given two hand-offs of the same session at the same second
    now = int(time.time())
    first, second = issue(now=now), issue(now=now)
    # When their ids are compared
    # Then they differ, so the portal can refuse a replay
    assert unverified_payload(first)["jti"] != unverified_payload(second)["jti"]
    # and each id is 128 random bits
    assert len(base64.urlsafe_b64decode(unverified_payload(first)["jti"] + "==")) == 16


def test_hand_off_is_hs256() -> None:
    # Given a hand-off
    token = issue()
    # When its header is read
    header = jwt.get_unverified_header(token)
    # Then it is signed with HS256
    assert header["alg"] == "HS256"


# --- what the portal refuses -------------------------------------------------------------------------------------


def test_verify_rejects_a_token_signed_with_another_key() -> None:
    # Given a hand-off signed with a different key
    token = issue(keyring=Keyring(signing_kid="live-1", keys={"live-1": OTHER_KEY}))
    # When it is verified
    # Then the signature is refused
    with pytest.raises(jwt.InvalidSignatureError):
        verify(token)


def test_verify_rejects_an_expired_token() -> None:
    # Given a hand-off issued an hour ago
    token = issue(now=int(time.time()) - 3600)
    # When it is verified now
    # Then it is expired
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token)


def test_verify_allows_only_the_small_leeway_after_expiry() -> None:
    # Given a hand-off that expired 3 seconds ago (within the 5-second leeway) and one 30 seconds ago
    now = int(time.time())
    recent = issue(now=now - 63)
    stale = issue(now=now - 90)
    # When both are verified
    # Then only the recent one passes
    assert verify(recent)["sid"]
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(stale)


def test_verify_rejects_a_tampered_payload() -> None:
    # Given a valid hand-off whose payload is rewritten to another customer, keeping the signature
    token = issue()
    header, _payload, signature = token.split(".")
    claims = unverified_payload(token)
    claims["customer"] = "cus_attacker"
    forged = ".".join([header, b64url(json.dumps(claims).encode()), signature])
    # When it is verified
    # Then the signature no longer matches
    with pytest.raises(jwt.InvalidSignatureError):
        verify(forged)


def test_verify_rejects_an_unsigned_alg_none_token() -> None:
    # Given the same claims in an unsigned `alg: none` token
    claims = unverified_payload(issue())
    header = b64url(json.dumps({"alg": "none", "kid": "live-1", "typ": "JWT"}).encode())
    unsigned = f"{header}.{b64url(json.dumps(claims).encode())}."
    # When it is verified
    # Then it is refused
    with pytest.raises(jwt.InvalidTokenError):
        verify(unsigned)


@pytest.mark.parametrize(
    ("claim", "value", "error"),
    [
        ("aud", "someone_else", jwt.InvalidAudienceError),
        ("iss", "not-portal-sessions", jwt.InvalidIssuerError),
    ],
)
def test_verify_rejects_another_audience_or_issuer(claim: str, value: str, error: type[Exception]) -> None:
    # Given a correctly signed token meant for someone else
    claims = unverified_payload(issue()) | {claim: value}
    token = signed(claims)
    # When it is verified
    # Then it is refused
    with pytest.raises(error):
        verify(token)


@pytest.mark.parametrize("claim", ["sid", "jti", "exp", "iat"])
def test_verify_requires_the_session_id_token_id_and_times(claim: str) -> None:
    # Given a correctly signed token missing one required claim
    claims = unverified_payload(issue())
    del claims[claim]
    token = signed(claims)
    # When it is verified
    # Then it is refused
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify(token)
