"""Object ids, request ids and the secret URL tokens of sessions."""

from __future__ import annotations

import hashlib
import re

import pytest

from portal_sessions.domain.tokens import (
    is_well_formed_url_token,
    new_object_id,
    new_request_id,
    new_url_token,
    session_id_for,
    token_hash_of,
    url_token_hash,
)
from tests.support.factories import MALFORMED_URL_TOKENS

URL_SAFE_43 = re.compile(r"^[A-Za-z0-9_-]{43}$")


def test_url_token_is_43_url_safe_characters() -> None:
    # Given a fresh URL token
    token = new_url_token()
    # When its shape is checked
    # Then it is 43 base64url characters (256 bits, no padding)
    assert URL_SAFE_43.match(token)
    assert is_well_formed_url_token(token)


def test_url_tokens_do_not_repeat() -> None:
    # Given 1000 fresh tokens
    tokens = {new_url_token() for _ in range(1000)}
    # When they are counted
    # Then all of them differ
    assert len(tokens) == 1000


@pytest.mark.parametrize("token", MALFORMED_URL_TOKENS)
def test_malformed_url_tokens_are_not_well_formed(token: str) -> None:
    # Given a string of the wrong length or with characters outside base64url
    # When it is checked
    # Then it is not a well-formed token
    assert not is_well_formed_url_token(token)


def test_url_token_hash_is_sha256_hex_of_the_token() -> None:
    # Given a token
    token = new_url_token()
    # When it is hashed
    digest = url_token_hash(token)
    # Then it is the SHA-256 hex digest, and not the token itself
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert token not in digest


def test_url_token_hash_differs_between_tokens() -> None:
    # Given two tokens
    # When both are hashed
    # Then the digests differ
    assert url_token_hash(new_url_token()) != url_token_hash(new_url_token())


@pytest.mark.parametrize("prefix", ["bps", "bpc", "x"])
def test_object_id_is_prefix_and_24_alphanumerics(prefix: str) -> None:
    # Given a prefix
    # When an id is made
    object_id = new_object_id(prefix)
    # Then it is the prefix, an underscore, and 24 base62 characters
    assert re.fullmatch(rf"{prefix}_[A-Za-z0-9]{{24}}", object_id)


def test_object_ids_do_not_repeat() -> None:
    # Given 1000 ids
    ids = {new_object_id("bps") for _ in range(1000)}
    # When they are counted
    # Then all of them differ
    assert len(ids) == 1000


def test_request_id_is_req_and_14_alphanumerics() -> None:
    # Given a fresh request id
    request_id = new_request_id()
    # When its shape is checked
    # Then it is Stripe's `req_` and 14 characters
    assert re.fullmatch(r"req_[A-Za-z0-9]{14}", request_id)


def test_a_session_id_is_its_token_hash_and_back() -> None:
    for _ in range(200):
        token_hash = url_token_hash(new_url_token())

        session_id = session_id_for(token_hash)

        assert session_id.startswith("bps_") and len(session_id) == 47
        assert session_id[4:].isalnum()
        assert token_hash_of(session_id) == token_hash


def test_the_extreme_hashes_make_ids_of_the_same_length() -> None:
    for token_hash in ("0" * 64, "f" * 64):
        assert token_hash_of(session_id_for(token_hash)) == token_hash
        assert len(session_id_for(token_hash)) == 47


@pytest.mark.parametrize(
    "not_an_id",
    ["", "bps_", "bps_short", "bpc_" + "a" * 43, "bps_" + "a" * 44, "bps_" + "-" * 43, "bps_" + "é" * 43,
     "bps_" + "9" * 43],  # the last: above 2^256
)  # fmt: skip
def test_what_is_no_session_id_stands_for_no_key(not_an_id: str) -> None:
    assert token_hash_of(not_an_id) is None
