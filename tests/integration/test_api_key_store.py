"""The managed keys' items: a key is written once, never over another, and read strongly consistently (a revoked key
is refused on its next request; DynamoDB's default, eventually consistent read could still return it unrevoked)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from portal_sessions.domain.auth import ManagedKey, key_hash
from portal_sessions.runtime.errors import ConditionFailedError
from portal_sessions.store.api_keys import ApiKeyStore
from portal_sessions.store.table import dynamodb_client

SECRET = "sk_test_ApiKeyStoreTestKey00000000001"
KEY = ManagedKey(key_id="key_store", name="store", livemode=False, restricted=False, created=1, masked="sk_test_…")


@pytest.fixture
def reads(service_env: dict) -> Iterator[list[dict[str, Any]]]:
    made: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        made.append(params)

    dynamodb_client().meta.events.register("before-parameter-build.dynamodb.GetItem", record)
    yield made
    dynamodb_client().meta.events.unregister("before-parameter-build.dynamodb.GetItem", record)


def test_a_key_is_never_written_over_another(service_env: dict) -> None:
    store = ApiKeyStore(service_env["TABLE_NAME"])
    store.put_new(KEY, key_hash(SECRET))

    with pytest.raises(ConditionFailedError):
        store.put_new(KEY, key_hash(SECRET))


def test_a_key_is_read_strongly_consistently(service_env: dict, reads: list[dict[str, Any]]) -> None:
    store = ApiKeyStore(service_env["TABLE_NAME"])
    store.put_new(KEY, key_hash(SECRET))

    assert store.find(key_hash(SECRET)) == KEY
    assert [read.get("ConsistentRead") for read in reads] == [True]


def test_every_key_is_listed_newest_first_however_many_pages_it_takes(service_env: dict) -> None:
    # Given more keys than a page of 100, two made in each second (the admin command finds a key to revoke this way)
    store = ApiKeyStore(service_env["TABLE_NAME"])
    made = [
        (key_hash(f"sk_test_PagedKey{n:024d}"), replace(KEY, key_id=f"key_{n:03d}", created=1000 + n // 2))
        for n in range(205)
    ]
    for digest, key in made:
        store.put_new(key, digest)

    # Then every one is listed once, newest first, and those of one second by their ids
    assert store.all() == sorted(made, key=lambda made_key: (made_key[1].created, made_key[1].key_id), reverse=True)
