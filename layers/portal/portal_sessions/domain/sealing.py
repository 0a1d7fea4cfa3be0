"""Sealing stored responses so a table dump reveals no live session URL.

AES-256-GCM from `cryptography` (an AEAD: secret and tamper-evident), with a random 96-bit nonce per seal. The key is
derived from the caller's API key, so only a caller holding that key, replaying its own request, can open what was
stored for it. `cryptography` is imported on the first seal or open: only requests with an Idempotency-Key pay for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from ..runtime.errors import SealBrokenError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12  # GCM's native nonce size; random nonces stay safe far beyond one key's number of seals
_TAG_BYTES = 16
_ASSOCIATED_DATA = b"portal-sessions sealed response v2"  # what a seal bound to nothing carries
_BOUND_PREFIX = b"portal-sessions sealed v3\n"


def _associated_data(bound_to: str | None) -> bytes:
    return _ASSOCIATED_DATA if bound_to is None else _BOUND_PREFIX + bound_to.encode("utf-8")


def derive_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()


def _aead(key: bytes) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def seal(plaintext: str, key: bytes, *, bound_to: str | None = None) -> str:
    """`bound_to` names where the seal belongs (e.g. its record): it opens only where the same name is given."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = _aead(key).encrypt(nonce, plaintext.encode("utf-8"), _associated_data(bound_to))
    return base64.b64encode(nonce + ciphertext).decode("ascii")


def unseal(sealed: str, key: bytes, *, bound_to: str | None = None) -> str:
    from cryptography.exceptions import InvalidTag

    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise SealBrokenError from None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise SealBrokenError
    try:
        plaintext = _aead(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(bound_to))
    except InvalidTag:
        raise SealBrokenError from None
    return plaintext.decode("utf-8")
