"""API keys: read from the request like Stripe does, checked against the operator's SHA-256 hashes."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from ..runtime.errors import AuthenticationError, ServiceUnavailableError
from ..runtime.parameter_providers import ssm_parameters
from .sealing import derive_key

_MODES = {"sk_test_": False, "sk_live_": True, "rk_test_": False, "rk_live_": True}
RESTRICTED_PREFIXES = ("rk_test_", "rk_live_")
# What any key can look like (Stripe's, and new_api_key's): a key outside it is refused before anything is read, so a
# flood of junk keys costs no SSM or DynamoDB call.
_KEY_SHAPE = re.compile(r"[sr]k_(?:test|live)_[A-Za-z0-9]{24,247}")
KEY_HASHES_MAX_AGE_SECONDS = 60  # a key added to or removed from the parameter takes effect within a minute
_NO_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
)


@dataclass(frozen=True)
class Caller:
    """Who called: only the mode and a short, non-secret fingerprint of the key (for logs)."""

    livemode: bool
    key_fingerprint: str
    sealing_key: bytes = field(default=b"", repr=False)  # derived from the API key; seals stored responses
    restricted: bool = False  # an rk_ key: may only create sessions
    masked_key: str = ""


@dataclass(frozen=True)
class ManagedKey:
    """A key made with the admin command: kept as its digest, with what an operator needs to recognise it."""

    key_id: str
    name: str
    livemode: bool
    restricted: bool
    created: int
    masked: str
    revoked_at: int | None = None


def new_api_key(*, livemode: bool, restricted: bool) -> str:
    prefix = ("rk_" if restricted else "sk_") + ("live_" if livemode else "test_")
    return prefix + secrets.token_urlsafe(36).replace("-", "").replace("_", "")[:48]


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def parse_key_hashes(text: str) -> frozenset[str]:
    """The operator's list: SHA-256 hex digests separated by commas, spaces or newlines."""
    return frozenset(part.lower() for part in text.replace(",", " ").split() if part)


def load_key_hashes(parameter_name: str) -> frozenset[str]:
    """The accepted keys' digests, from SSM through Powertools' cache."""
    try:
        value = ssm_parameters().get(parameter_name, max_age=KEY_HASHES_MAX_AGE_SECONDS)
    except GetParameterError:
        raise ServiceUnavailableError("API keys cannot be checked right now. Please retry shortly.") from None
    return parse_key_hashes(str(value))


def api_key_from_authorization(authorization: str | None) -> str:
    """`Bearer KEY`, or HTTP Basic with the key as user name and an empty password."""
    if not authorization or not authorization.strip():
        raise AuthenticationError(_NO_KEY_MESSAGE)
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            user, _, _password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 inside
            user = ""
        if user:
            return user
        raise AuthenticationError(_NO_KEY_MESSAGE)  # curl -u ":" sends an empty user name
    raise AuthenticationError(
        "Invalid API Key provided: the Authorization header must be 'Bearer YOUR_SECRET_KEY' "
        "or HTTP Basic with the key as user name."
    )


def authenticate(
    authorization: str | None,
    known_hashes: Iterable[str] | Callable[[], Iterable[str]],
    find_managed_key: Callable[[str], ManagedKey | None] | None = None,
) -> Caller:
    """The caller, if the key is one of the operator's digests (full access) or a managed key not revoked.

    `known_hashes` may be a loader, called only for a key of a valid shape.
    """
    api_key = api_key_from_authorization(authorization)
    livemode = next((mode for prefix, mode in _MODES.items() if api_key.startswith(prefix)), None)
    if livemode is None or not _KEY_SHAPE.fullmatch(api_key):
        raise AuthenticationError(f"Invalid API Key provided: {mask_key(api_key)}")
    digest = key_hash(api_key)
    restricted = api_key.startswith(RESTRICTED_PREFIXES)
    listed = known_hashes() if callable(known_hashes) else known_hashes
    known = digest in listed and not restricted
    if not known and find_managed_key is not None:
        managed = find_managed_key(digest)  # read on every request, so a revocation applies at once
        known = managed is not None and managed.revoked_at is None and managed.livemode == livemode
    if not known:
        raise AuthenticationError(f"Invalid API Key provided: {mask_key(api_key)}")
    return Caller(
        livemode=livemode,
        key_fingerprint=digest[:12],
        sealing_key=derive_key(api_key, "idempotent-responses"),
        restricted=restricted,
        masked_key=mask_key(api_key),
    )


def mask_key(api_key: str) -> str:
    """Stripe's masking: the key's prefix, asterisks, and its last four characters."""
    prefix = next((p for p in (*_MODES, "pk_test_", "pk_live_") if api_key.startswith(p)), "")
    hidden = len(api_key) - len(prefix) - 4
    if hidden < 8:  # too short to show any of it safely
        return prefix + "*" * 8
    return prefix + "*" * min(hidden, 40) + api_key[-4:]
