"""Sealing stored responses so a table dump reveals no live session URL.

A stream cipher from HMAC-SHA256 as the PRF (keystream = HMAC(key, nonce || counter)), then an HMAC tag over
nonce and ciphertext (encrypt-then-MAC); standard library only. The key is derived from the caller's API key,
so only a caller holding that key, replaying its own request, can open what was stored for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_NONCE_BYTES = 16
_TAG_BYTES = 16


class SealBrokenError(Exception):
    """The sealed value was altered, or sealed under another key."""


def derive_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()


def _xor_keystream(key: bytes, nonce: bytes, data: bytes) -> bytes:
    blocks = (hmac.new(key, nonce + n.to_bytes(4, "big"), hashlib.sha256).digest() for n in range(len(data) // 32 + 1))
    return bytes(a ^ b for a, b in zip(data, b"".join(blocks), strict=False))


def _tag(key: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    return hmac.new(key, b"tag" + nonce + ciphertext, hashlib.sha256).digest()[:_TAG_BYTES]


def seal(plaintext: str, key: bytes) -> str:
    data = plaintext.encode("utf-8")
    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = _xor_keystream(key, nonce, data)
    return base64.b64encode(nonce + ciphertext + _tag(key, nonce, ciphertext)).decode("ascii")


def unseal(sealed: str, key: bytes) -> str:
    raw = base64.b64decode(sealed)
    nonce, ciphertext, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if len(raw) < _NONCE_BYTES + _TAG_BYTES or not hmac.compare_digest(tag, _tag(key, nonce, ciphertext)):
        raise SealBrokenError
    return _xor_keystream(key, nonce, ciphertext).decode("utf-8")
