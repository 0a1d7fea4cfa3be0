"""Object ids, request ids and the secret URL tokens of sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
import string

_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24  # Stripe's ids carry 24 characters after the prefix

# 32 bytes = 256 bits of entropy, base64url without padding is 43 characters.
URL_TOKEN_BYTES = 32
_URL_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_object_id(prefix: str) -> str:
    """`bps_…`-style id: a prefix and 24 random base62 characters (about 143 bits)."""
    number = int.from_bytes(secrets.token_bytes(24), "big")  # one draw, not 24 (ids are made on every request)
    characters = []
    for _ in range(_ID_LENGTH):
        number, digit = divmod(number, 62)
        characters.append(_ID_ALPHABET[digit])
    return f"{prefix}_" + "".join(characters)


def new_request_id() -> str:
    return new_object_id("req")[:18]  # Stripe's request ids are `req_` and 14 characters


def new_url_token() -> str:
    return secrets.token_urlsafe(URL_TOKEN_BYTES)


def is_well_formed_url_token(token: str) -> bool:
    return bool(_URL_TOKEN_PATTERN.fullmatch(token))


def url_token_hash(token: str) -> str:
    """What the table stores in place of the token, so a table dump reveals no live URL."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()
