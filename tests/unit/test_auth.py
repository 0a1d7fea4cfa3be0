"""API keys: reading the Authorization header like Stripe, checking SHA-256 hashes, masking in errors."""

from __future__ import annotations

import base64
import hashlib

import pytest

from portal_sessions.domain.auth import (
    api_key_from_authorization,
    authenticate,
    key_hash,
    mask_key,
    parse_key_hashes,
)
from portal_sessions.runtime.errors import AuthenticationError

TEST_KEY = "sk_test_51HxAmPlEkEy0123456789Aso0"
LIVE_KEY = "sk_live_51HxAmPlEkEy0123456789Zz99"
KNOWN = frozenset({key_hash(TEST_KEY), key_hash(LIVE_KEY)})
NO_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
)


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def refusal(authorization: str | None, known: frozenset[str] = KNOWN) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as raised:
        authenticate(authorization, known)
    return raised.value


# --- reading the header ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(f"Bearer {TEST_KEY}", id="bearer"),
        pytest.param(f"bearer {TEST_KEY}", id="lowercase-bearer"),
        pytest.param(f"  Bearer   {TEST_KEY}  ", id="extra-spaces"),
        pytest.param(basic(TEST_KEY), id="basic-key-and-empty-password"),
        pytest.param(basic(TEST_KEY, "ignored"), id="basic-with-password"),
        pytest.param("basic " + base64.b64encode(f"{TEST_KEY}:".encode()).decode(), id="lowercase-basic"),
    ],
)
def test_key_is_read_from_bearer_or_basic(authorization: str) -> None:
    # Given the key sent the ways Stripe's clients send it (curl -u KEY: sends Basic with an empty password)
    # When the header is read
    # Then the key comes out
    assert api_key_from_authorization(authorization) == TEST_KEY


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_missing_header_is_stripes_no_key_error(authorization: str | None) -> None:
    # Given no Authorization header, or an empty one
    # When the caller is authenticated
    error = refusal(authorization)
    # Then it is a 401 with Stripe's exact message
    assert error.http_status == 401
    assert error.error_type == "invalid_request_error"
    assert error.message == NO_KEY_MESSAGE


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer", id="bearer-without-key"),
        pytest.param("Bearer    ", id="bearer-with-blank-key"),
        pytest.param(TEST_KEY, id="no-scheme"),
        pytest.param(f"Token {TEST_KEY}", id="other-scheme"),
        pytest.param("Digest " + basic(TEST_KEY).removeprefix("Basic "), id="other-scheme-carrying-basics-key"),
        pytest.param("Basic !!!not-base64!!!", id="basic-not-base64"),
        pytest.param(basic("", "sk_test_inpassword"), id="basic-empty-user"),
        pytest.param("Basic " + base64.b64encode(b"\xff\xfe:").decode(), id="basic-not-utf8"),
    ],
)
def test_malformed_header_is_a_401(authorization: str) -> None:
    # Given an Authorization header that carries no readable key
    # When the caller is authenticated
    error = refusal(authorization)
    # Then it is a 401 invalid_request_error
    assert error.http_status == 401
    assert error.error_type == "invalid_request_error"


# --- checking the key --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "livemode"), [(TEST_KEY, False), (LIVE_KEY, True)])
def test_known_key_authenticates_in_its_mode(key: str, livemode: bool) -> None:
    # Given a key whose hash the operator listed
    # When the caller is authenticated
    caller = authenticate(f"Bearer {key}", KNOWN)
    # Then the mode follows the key's prefix
    assert caller.livemode is livemode


def test_known_key_sent_as_basic_authenticates() -> None:
    # Given a known key sent with HTTP Basic
    # When the caller is authenticated
    caller = authenticate(basic(LIVE_KEY), KNOWN)
    # Then it is accepted
    assert caller.livemode is True


def test_unknown_key_is_refused_with_a_masked_key() -> None:
    # Given a well-formed test key the operator did not list
    key = "sk_test_4eC39HqLyjWDarjtT1zdp7dcAso0"
    # When the caller is authenticated
    error = refusal(f"Bearer {key}")
    # Then Stripe's message shows only the prefix and the last four characters
    assert error.http_status == 401
    assert error.message == "Invalid API Key provided: sk_test_" + "*" * 24 + "Aso0"


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("pk_test_51HxAmPlEkEy0123456789Aso0", id="publishable"),
        pytest.param("rk_live_51HxAmPlEkEy0123456789Aso0", id="restricted"),
        pytest.param("whatever-random-string-1234", id="random"),
        pytest.param("SK_TEST_51HxAmPlEkEy0123456789Aso0", id="uppercase-prefix"),
    ],
)
def test_key_without_a_secret_key_prefix_is_refused_even_if_listed(key: str) -> None:
    # Given a key that is not sk_test_/sk_live_, whose hash is nevertheless listed
    known = KNOWN | {key_hash(key)}
    # When the caller is authenticated
    error = refusal(f"Bearer {key}", known)
    # Then it is a 401
    assert error.http_status == 401
    assert error.message.startswith("Invalid API Key provided: ")


def test_refusal_with_no_known_keys() -> None:
    # Given an operator list that is empty
    # When a well-formed key is presented
    error = refusal(f"Bearer {TEST_KEY}", frozenset())
    # Then it is refused
    assert error.http_status == 401


# --- masking -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("sk_test_4eC39HqLyjWDarjtT1zdp7dcAso0", "sk_test_"),
        ("sk_live_" + "Q" * 99 + "WXYZ", "sk_live_"),
        ("pk_test_abcdefghijkl1234", "pk_test_"),
        ("pk_live_abcdefghijkl1234", "pk_live_"),
        ("rk_test_abcdefghijkl1234", "rk_test_"),
        ("sk_test_12345678WXYZ", "sk_test_"),  # the shortest that shows its last four: eight hidden
        ("no-prefix-key-abcdefgh1234", ""),
    ],
)
def test_mask_keeps_prefix_and_last_four_and_hides_the_rest(key: str, prefix: str) -> None:
    # Given a key long enough to show its last four characters
    # When it is masked
    masked = mask_key(key)
    # Then it is the prefix, asterisks only (at most 40, as Stripe shows), and the last four characters
    assert masked == prefix + "*" * min(len(key) - len(prefix) - 4, 40) + key[-4:]
    assert key[len(prefix) : -4] not in masked


@pytest.mark.parametrize("key", ["sk_test_short", "sk_live_12345678901", "abc", "sk_test_"])
def test_mask_of_a_short_key_shows_none_of_it(key: str) -> None:
    # Given a key too short to reveal four characters safely
    # When it is masked
    masked = mask_key(key)
    # Then only the known prefix (if any) and asterisks are shown
    prefix = key[:8] if key.startswith("sk_") else ""
    assert masked == prefix + "*" * 8


def test_unknown_key_message_reveals_nothing_but_prefix_and_last_four() -> None:
    # Given an unknown key whose middle is distinctive
    key = "sk_live_SECRETMIDDLEPART1234abcd"
    # When the caller is authenticated
    error = refusal(f"Bearer {key}")
    # Then no character of the middle appears in the message
    shown = error.message.removeprefix("Invalid API Key provided: ")
    assert shown == "sk_live_" + "*" * (len(key) - 12) + "abcd"
    assert "SECRET" not in error.message


# --- the operator's list -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "aaa,bbb,ccc",
        "aaa bbb ccc",
        "aaa\nbbb\nccc\n",
        " aaa , bbb\n\n ccc ,, ",
        "AAA,Bbb,ccc",
    ],
)
def test_parse_key_hashes_splits_on_commas_spaces_and_newlines(text: str) -> None:
    # Given the operator's list in one of the accepted layouts
    # When it is parsed
    # Then it is the set of lowercase digests, without empties
    assert parse_key_hashes(text) == frozenset({"aaa", "bbb", "ccc"})


def test_uppercase_listed_hash_still_authenticates() -> None:
    # Given the operator listed the key's digest in uppercase
    known = parse_key_hashes(key_hash(TEST_KEY).upper())
    # When the caller is authenticated
    caller = authenticate(f"Bearer {TEST_KEY}", known)
    # Then the key is accepted
    assert caller.livemode is False


def test_key_hash_is_sha256_hex() -> None:
    # Given a key
    # When it is hashed
    # Then it is its SHA-256 hex digest
    assert key_hash(TEST_KEY) == hashlib.sha256(TEST_KEY.encode()).hexdigest()


def test_fingerprint_is_a_short_digest_prefix_not_the_key() -> None:
    # Given a known key
    # When the caller is authenticated
    caller = authenticate(f"Bearer {TEST_KEY}", KNOWN)
    # Then the fingerprint is the start of the digest and holds no part of the key
    assert caller.key_fingerprint == key_hash(TEST_KEY)[:12]
    assert TEST_KEY not in caller.key_fingerprint
    assert TEST_KEY[8:16] not in caller.key_fingerprint


@pytest.mark.parametrize("secret_part", ["Ab3dEf7h", "Ab3dEf7hAb3dEf7hAb3dEf7"])  # 8 and 23 characters
def test_a_listed_key_shorter_than_24_characters_after_its_prefix_is_refused(secret_part: str) -> None:
    # Given a short key the operator listed: every request logs 48 bits of its unsalted digest, enough to search
    # every key of 8 (or a few more) characters offline
    key = "sk_test_" + secret_part
    # When it is sent, then it is refused as a key of no valid shape
    error = refusal(f"Bearer {key}", KNOWN | {key_hash(key)})
    assert error.http_status == 401


def test_a_listed_key_of_24_characters_after_its_prefix_authenticates() -> None:
    key = "sk_live_" + "Ab3dEf7h" * 3
    assert authenticate(f"Bearer {key}", KNOWN | {key_hash(key)}).livemode is True
