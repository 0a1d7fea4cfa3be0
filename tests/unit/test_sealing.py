"""Sealed responses: what opens and what is refused (the integration tests prove the sealing of stored responses)."""

from __future__ import annotations

import base64

import pytest

from portal_sessions.domain.sealing import derive_key, seal, unseal
from portal_sessions.runtime.errors import SealBrokenError

KEY = derive_key("sk_test_SealingKey000000000000001", "idempotent-responses")


@pytest.mark.parametrize("plaintext", ["", "{}", "é ✓ 🙂" * 100])
def test_what_is_sealed_opens_as_it_was_even_when_empty(plaintext: str) -> None:
    assert unseal(seal(plaintext, KEY), KEY) == plaintext


def test_a_character_that_is_not_base64_makes_a_seal_broken() -> None:
    # Altered in storage, even where a lenient decoder would skip the character and the rest would still open
    sealed = seal('{"id": "bps_1"}', KEY)

    with pytest.raises(SealBrokenError):
        unseal(sealed[:10] + "!" + sealed[10:], KEY)


@pytest.mark.parametrize("size", [0, 5, 27])
def test_a_seal_too_short_for_a_nonce_and_a_tag_is_broken(size: int) -> None:
    with pytest.raises(SealBrokenError):
        unseal(base64.b64encode(b"x" * size).decode(), KEY)


def test_another_key_or_purpose_cannot_open_it() -> None:
    sealed = seal("secret", KEY)

    with pytest.raises(SealBrokenError):
        unseal(sealed, derive_key("sk_test_SealingKey000000000000002", "idempotent-responses"))
    with pytest.raises(SealBrokenError):
        unseal(sealed, derive_key("sk_test_SealingKey000000000000001", "another-purpose"))
