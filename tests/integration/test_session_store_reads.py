"""The session store reads strongly consistently: a visit, an expire or a retrieve right after a write must see it
(DynamoDB's default, eventually consistent read could miss a create or an expire that just landed), and cleanup must
see the watermark and the done marks the last run wrote. Both engines are always consistent, so the reads' own
parameters are what shows it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portal_sessions.domain.tokens import url_token_hash
from portal_sessions.store.items import BUCKET_SECONDS, purge_bucket
from portal_sessions.store.sessions import SessionStore
from portal_sessions.store.table import dynamodb_client
from tests.support.settings import CLOCK_START
from tests.support.table import insert_session

NOW = CLOCK_START - CLOCK_START % BUCKET_SECONDS + 1800


@pytest.fixture
def reads(service_env: dict[str, str]) -> Iterator[list[tuple[str, bool | None]]]:
    """Each GetItem and BatchGetItem the store makes, with its ConsistentRead."""
    made: list[tuple[str, bool | None]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetItem":
            made.append((model.name, params.get("ConsistentRead")))
        elif model.name == "BatchGetItem":
            made.extend((model.name, wanted.get("ConsistentRead")) for wanted in params["RequestItems"].values())

    events = dynamodb_client().meta.events
    events.register("before-parameter-build.dynamodb", record)
    yield made
    events.unregister("before-parameter-build.dynamodb", record)


def test_every_read_of_a_session_and_of_the_cleanup_progress_is_strongly_consistent(
    service_env: dict[str, str], reads: list[tuple[str, bool | None]]
) -> None:
    # Given a session and a cleanup's progress
    table = service_env["TABLE_NAME"]
    store = SessionStore(table, purge_shards=1)
    token, session = insert_session(table, created=NOW - 60, expires_at=NOW + 240, purge_shards=1)
    store.mark_shard_done(purge_bucket(NOW) - 1, 0, NOW)
    store.advance_cleanup_watermark(purge_bucket(NOW) - 1)
    reads.clear()

    # When the store reads each: by token, by id, a customer's list, the watermark and the done marks
    found = store.find(url_token_hash(token))
    by_id = store.get_by_id(session.id)
    listed, _ = store.list_for_owner(False, customer=session.customer, limit=10)
    watermark = store.cleanup_watermark()
    done = store.done_shards([purge_bucket(NOW) - 1])

    # Then each found what was written, with strongly consistent reads only
    assert found is not None and by_id is not None and [s.id for s in listed] == [session.id]
    assert (watermark, done) == (purge_bucket(NOW) - 1, {purge_bucket(NOW) - 1: {0}})
    assert reads == [
        ("GetItem", True),
        ("GetItem", True),
        ("BatchGetItem", True),
        ("GetItem", True),
        ("BatchGetItem", True),
    ]
