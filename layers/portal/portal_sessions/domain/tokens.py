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


_SESSION_ID_PREFIX = "bps_"
_SESSION_ID_DIGITS = 43  # base62 digits of a 256-bit number
_SESSION_ID_LENGTH = len(_SESSION_ID_PREFIX) + _SESSION_ID_DIGITS


def session_id_for(token_hash: str) -> str:
    """A session's public id: its URL token's hash in base62, so retrieve-by-id finds the item by its key (no index).

    The id reveals only what a table dump shows (the hash), never the token.
    """
    number = int(token_hash, 16)
    digits = []
    for _ in range(_SESSION_ID_DIGITS):
        number, digit = divmod(number, 62)
        digits.append(_ID_ALPHABET[digit])
    return _SESSION_ID_PREFIX + "".join(reversed(digits))


def token_hash_of(session_id: str) -> str | None:
    """The URL token hash a session id stands for; None if the string is no session id (then nothing is looked up)."""
    if len(session_id) != _SESSION_ID_LENGTH or not session_id.startswith(_SESSION_ID_PREFIX):
        return None
    number = 0
    for character in session_id[len(_SESSION_ID_PREFIX) :]:
        digit = _ID_ALPHABET.find(character)
        if digit < 0:
            return None
        number = number * 62 + digit
    if number >= 1 << 256:
        return None
    return f"{number:064x}"
