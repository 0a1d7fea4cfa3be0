"""The signed hand-off that carries a visited session to the portal, which verifies it without calling back.

Test and live never cross: each mode has its own signing secret and its own audiences, so a test hand-off fails a live
portal's verification twice over (unknown key id, wrong audience), and the other way round.

A signing secret is a keyring, a JSON object: `signing_kid` names the key that signs, every other member is a key
id and its key, e.g. `{"signing_kid": "live-2", "live-1": "<old key>", "live-2": "<new key>"}`. The JWT header
names the key (`kid`), so a portal that holds the keyring accepts old and new keys while a rotation overlaps.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..runtime.errors import InvalidRequestError, ServiceUnavailableError
from .session import PortalSession

ALGORITHM = "HS256"
AUDIENCES = {True: "billing_portal", False: "billing_portal_test"}  # live keeps the audience portals know
# A recovery hand-off (to the login page, for an expired session) can never be used as a portal hand-off.
RECOVERY_AUDIENCES = {True: "billing_portal_login", False: "billing_portal_login_test"}
AUDIENCE = AUDIENCES[True]
RECOVERY_AUDIENCE = RECOVERY_AUDIENCES[True]
ISSUER = "portal-sessions"
SIGNING_KEY_MAX_AGE_SECONDS = 300
SIGNING_KID_MEMBER = "signing_kid"
KID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MIN_KEY_LENGTH = 32
MAX_TTL_SECONDS = 60
# A hand-off token is at most this long, so that with a portal URL of at most MAX_PORTAL_URL_LENGTH characters the
# redirect's Location stays within the 8 KB request line that servers and proxies commonly accept.
MAX_PORTAL_URL_LENGTH = 512
MAX_TOKEN_LENGTH = 8192 - MAX_PORTAL_URL_LENGTH - len("&recovery=")


class _Utf8JsonEncoder(json.JSONEncoder):
    """Claims as UTF-8 rather than \\u escapes: a non-ASCII id costs 2-4 bytes, not 6-12, of the size budget."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**{**options, "ensure_ascii": False})


@dataclass(frozen=True)
class Keyring:
    """The keys of one mode: the one that signs, and every key a portal should still accept, by key id."""

    signing_kid: str
    keys: Mapping[str, str]

    @property
    def signing_key(self) -> str:
        return self.keys[self.signing_kid]


def parse_keyring(text: str) -> Keyring:
    """The keyring in a signing secret's text; ValueError (naming no key) if it is not a valid one."""
    try:
        members = json.loads(text)
    except ValueError:
        raise ValueError("a hand-off signing secret must be a JSON object") from None
    if not isinstance(members, dict):
        raise ValueError("a hand-off signing secret must be a JSON object")
    signing_kid = members.pop(SIGNING_KID_MEMBER, None)
    if signing_kid not in members:
        raise ValueError(f"a hand-off signing secret's `{SIGNING_KID_MEMBER}` must name one of its keys")
    for kid, key in members.items():
        if not KID_PATTERN.fullmatch(kid) or not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"a hand-off signing secret holds key ids of 1-64 letters, digits, '.', '_' or '-', each with a key "
                f"of at least {MIN_KEY_LENGTH} characters"
            )
    return Keyring(signing_kid=signing_kid, keys=members)


def load_keyring(secret_id: str) -> Keyring:
    """One mode's keyring, from Secrets Manager through Powertools' cache."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from ..runtime.parameter_providers import secrets_provider

    try:
        text = str(secrets_provider().get(secret_id, max_age=SIGNING_KEY_MAX_AGE_SECONDS))
    except GetParameterError:
        raise ServiceUnavailableError("The portal hand-off cannot be signed right now.") from None
    try:
        return parse_keyring(text)
    except ValueError:  # a broken secret: the link stays valid for when it is fixed
        raise ServiceUnavailableError("The portal hand-off cannot be signed right now.") from None


def handoff_claims(session: PortalSession, *, now: int, ttl_seconds: int, recovery: bool = False) -> dict[str, Any]:
    """What the portal needs, and nothing else; a claim with no value is left out (docs/handoff.md)."""
    audiences = RECOVERY_AUDIENCES if recovery else AUDIENCES
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": audiences[session.livemode],
        "iat": now,
        "exp": now + min(ttl_seconds, MAX_TTL_SECONDS),
        "jti": secrets.token_urlsafe(16),  # lets the portal refuse a replay
        "sid": session.id,
        "livemode": session.livemode,
        "customer": session.customer,
        "customer_account": session.customer_account,
        "configuration": session.configuration,
        "flow": _without_nulls(session.flow),
        "locale": session.locale,
        "on_behalf_of": session.on_behalf_of,
        "return_url": session.return_url,
    }
    return {name: value for name, value in claims.items() if value is not None}


def issue_handoff_token(
    session: PortalSession, *, now: int, ttl_seconds: int, keyring: Keyring, recovery: bool = False
) -> str:
    """The portal hand-off (or with recovery=True, the login page's), signed with the mode's signing key."""
    import jwt  # here: creating a session checks the hand-off's size, but never signs one

    claims = handoff_claims(session, now=now, ttl_seconds=ttl_seconds, recovery=recovery)
    return jwt.encode(
        claims,
        keyring.signing_key,
        algorithm=ALGORITHM,
        headers={"kid": keyring.signing_kid},
        json_encoder=_Utf8JsonEncoder,
    )


def check_handoff_size(session: PortalSession) -> None:
    """Refuse, when it is created, a session whose hand-off could make the redirect longer than 8 KB."""
    try:
        length = longest_token_length(session)
    except UnicodeEncodeError:
        raise InvalidRequestError("Invalid string: it contains a lone surrogate, which is not text.") from None
    if length > MAX_TOKEN_LENGTH:
        raise InvalidRequestError(
            f"This session's portal hand-off would be {length} characters, more than the {MAX_TOKEN_LENGTH} a "
            "redirect can carry: shorten its ids or return URLs.",
            code="parameter_invalid",
        )


def longest_token_length(session: PortalSession) -> int:
    """The longest its hand-off (or recovery hand-off) can be: the longest key id, times of ten digits; as PyJWT
    encodes them (compact JSON, then base64url). UnicodeEncodeError for a string that is no text (a lone surrogate)."""
    claims = handoff_claims(session, now=9_999_999_999 - MAX_TTL_SECONDS, ttl_seconds=MAX_TTL_SECONDS)
    claims["aud"] = max((*AUDIENCES.values(), *RECOVERY_AUDIENCES.values()), key=len)
    header = {"alg": ALGORITHM, "kid": "k" * 64, "typ": "JWT"}
    signature = 32  # HMAC-SHA256

    def encoded(value: dict[str, Any]) -> int:
        text = json.dumps(value, separators=(",", ":"), cls=_Utf8JsonEncoder)
        return len(base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"="))

    return encoded(header) + 1 + encoded(claims) + 1 + len(base64.urlsafe_b64encode(bytes(signature)).rstrip(b"="))


def verify_handoff_token(
    token: str, *, keys: Mapping[str, str], audience: str, leeway_seconds: int = 5
) -> dict[str, Any]:
    """What a portal does: pick the key its `kid` names from the portal's own mode's keyring, then check signature,
    audience, issuer and expiry; raises jwt.InvalidTokenError (a hand-off of the other mode names no key here)."""
    import jwt

    kid = jwt.get_unverified_header(token).get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise jwt.InvalidSignatureError("The hand-off is signed with a key this portal does not hold.")
    return jwt.decode(
        token,
        keys[kid],
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=ISSUER,
        leeway=leeway_seconds,
        options={"require": ["exp", "iat", "sid", "jti"]},
    )


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
