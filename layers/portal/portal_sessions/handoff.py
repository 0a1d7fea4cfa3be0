"""The signed hand-off that carries a visited session to the portal, which verifies it without calling back."""

from __future__ import annotations

import secrets
from typing import Any

import jwt
from aws_lambda_powertools.utilities import parameters

from .errors import ServiceUnavailableError
from .session import PortalSession

ALGORITHM = "HS256"
AUDIENCE = "billing_portal"
RECOVERY_AUDIENCE = "billing_portal_login"  # a recovery hand-off cannot be used as a portal hand-off
ISSUER = "portal-sessions"
SIGNING_KEY_MAX_AGE_SECONDS = 300


def load_signing_key(secret_id: str) -> str:
    """The HS256 key, from Secrets Manager through Powertools' cache."""
    try:
        return str(parameters.get_secret(secret_id, max_age=SIGNING_KEY_MAX_AGE_SECONDS))
    except parameters.exceptions.GetParameterError:
        raise ServiceUnavailableError("The portal hand-off cannot be signed right now.") from None


def issue_handoff_token(
    session: PortalSession, *, now: int, ttl_seconds: int, signing_key: str, audience: str = AUDIENCE
) -> str:
    """The portal hand-off; with RECOVERY_AUDIENCE, the hand-off to the login page that recovers an expired session."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": audience,
        "sub": session.customer or session.customer_account,
        "jti": secrets.token_urlsafe(16),  # lets the portal refuse a replay
        "iat": now,
        "exp": min(now + ttl_seconds, now + 60),
        "sid": session.id,
        "customer": session.customer,
        "customer_account": session.customer_account,
        "livemode": session.livemode,
        "configuration": session.configuration,
        "flow": session.flow,
        "locale": session.locale,
        "on_behalf_of": session.on_behalf_of,
        "return_url": session.return_url,
    }
    return jwt.encode(claims, signing_key, algorithm=ALGORITHM)


def verify_handoff_token(
    token: str, *, signing_key: str, leeway_seconds: int = 5, audience: str = AUDIENCE
) -> dict[str, Any]:
    """What the portal does: check signature, audience, issuer and expiry; raises jwt.InvalidTokenError."""
    return jwt.decode(
        token,
        signing_key,
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=ISSUER,
        leeway=leeway_seconds,
        options={"require": ["exp", "iat", "sid", "jti"]},
    )
