"""The signed, short-lived hand-off a visited session carries to the portal."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from portal_sessions.handoff import AUDIENCE, ISSUER, issue_handoff_token, verify_handoff_token
from portal_sessions.session import PortalSession

SIGNING_KEY = "unit-test-signing-key-0123456789abcdefghijklmnop"
OTHER_KEY = "another-signing-key-0123456789abcdefghijklmnopqr"
FLOW = {
    "after_completion": {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"},
    "subscription_cancel": None,
    "subscription_update": {"subscription": "sub_1"},
    "subscription_update_confirm": None,
    "type": "subscription_update",
}


def session(**changes: Any) -> PortalSession:
    fields: dict[str, Any] = {
        "id": "bps_123456789012345678901234",
        "livemode": True,
        "customer": "cus_1",
        "customer_account": None,
        "configuration": "bpc_DefaultLiveConfiguration",
        "flow": FLOW,
        "locale": "fr",
        "on_behalf_of": "acct_1",
        "return_url": "https://example.com/account",
        "created": 1_767_225_600,
        "expires_at": 1_767_225_900,
    }
    return PortalSession(**(fields | changes))


def issue(now: int | None = None, ttl_seconds: int = 60, key: str = SIGNING_KEY, **changes: Any) -> str:
    issued_at = int(time.time()) if now is None else now
    return issue_handoff_token(session(**changes), now=issued_at, ttl_seconds=ttl_seconds, signing_key=key)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified_payload(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


# --- round trip --------------------------------------------------------------------------------------------------


def test_round_trip_carries_the_session() -> None:
    # Given a hand-off issued for a session
    token = issue()
    # When the portal verifies it
    claims = verify_handoff_token(token, signing_key=SIGNING_KEY)
    # Then it carries everything the portal needs about the session
    assert claims["sid"] == "bps_123456789012345678901234"
    assert claims["customer"] == "cus_1"
    assert claims["customer_account"] is None
    assert claims["livemode"] is True
    assert claims["configuration"] == "bpc_DefaultLiveConfiguration"
    assert claims["flow"] == FLOW
    assert claims["locale"] == "fr"
    assert claims["on_behalf_of"] == "acct_1"
    assert claims["return_url"] == "https://example.com/account"
    assert claims["aud"] == AUDIENCE
    assert claims["iss"] == ISSUER


@pytest.mark.parametrize(
    ("customer", "account", "subject"),
    [("cus_1", None, "cus_1"), (None, "acct_9", "acct_9"), ("cus_1", "acct_9", "cus_1")],
)
def test_subject_is_the_customer_or_else_the_account(customer: str | None, account: str | None, subject: str) -> None:
    # Given a session for a customer, an account, or both
    token = issue(customer=customer, customer_account=account)
    # When it is verified
    claims = verify_handoff_token(token, signing_key=SIGNING_KEY)
    # Then the subject is the customer when there is one, else the account
    assert claims["sub"] == subject


@pytest.mark.parametrize("ttl_seconds", [5, 60, 3600, 86400])
def test_lifetime_is_never_more_than_60_seconds(ttl_seconds: int) -> None:
    # Given a hand-off issued with some configured lifetime
    now = int(time.time())
    token = issue(now=now, ttl_seconds=ttl_seconds)
    # When its claims are read
    claims = verify_handoff_token(token, signing_key=SIGNING_KEY)
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
    token = issue(key=OTHER_KEY)
    # When it is verified
    # Then the signature is refused
    with pytest.raises(jwt.InvalidSignatureError):
        verify_handoff_token(token, signing_key=SIGNING_KEY)


def test_verify_rejects_an_expired_token() -> None:
    # Given a hand-off issued an hour ago
    token = issue(now=int(time.time()) - 3600)
    # When it is verified now
    # Then it is expired
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_handoff_token(token, signing_key=SIGNING_KEY)


def test_verify_allows_only_the_small_leeway_after_expiry() -> None:
    # Given a hand-off that expired 3 seconds ago (within the 5-second leeway) and one 30 seconds ago
    now = int(time.time())
    recent = issue(now=now - 63)
    stale = issue(now=now - 90)
    # When both are verified
    # Then only the recent one passes
    assert verify_handoff_token(recent, signing_key=SIGNING_KEY)["sid"]
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_handoff_token(stale, signing_key=SIGNING_KEY)


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
        verify_handoff_token(forged, signing_key=SIGNING_KEY)


def test_verify_rejects_an_unsigned_alg_none_token() -> None:
    # Given the same claims in an unsigned `alg: none` token
    claims = unverified_payload(issue())
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{header}.{b64url(json.dumps(claims).encode())}."
    # When it is verified
    # Then it is refused
    with pytest.raises(jwt.InvalidTokenError):
        verify_handoff_token(unsigned, signing_key=SIGNING_KEY)


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
    token = jwt.encode(claims, SIGNING_KEY, algorithm="HS256")
    # When it is verified
    # Then it is refused
    with pytest.raises(error):
        verify_handoff_token(token, signing_key=SIGNING_KEY)


@pytest.mark.parametrize("claim", ["sid", "jti", "exp", "iat"])
def test_verify_requires_the_session_id_token_id_and_times(claim: str) -> None:
    # Given a correctly signed token missing one required claim
    claims = unverified_payload(issue())
    del claims[claim]
    token = jwt.encode(claims, SIGNING_KEY, algorithm="HS256")
    # When it is verified
    # Then it is refused
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify_handoff_token(token, signing_key=SIGNING_KEY)
