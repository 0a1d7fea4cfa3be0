"""Cleanup against moto: deletes exactly the expired sessions, via the sparse index, never a Scan."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import boto3
import cleanup_handler
import pytest
from botocore.stub import Stubber

from portal_sessions import clock
from portal_sessions.cleanup import cleanup_expired_sessions
from portal_sessions.errors import ServiceUnavailableError
from portal_sessions.store import BUCKET_SECONDS, SessionStore, dynamodb_client
from tests.conftest import FakeContext
from tests.integration.helpers import insert_session, session_items

NOW = 1_800_000_000 - 1_800_000_000 % BUCKET_SECONDS + 1800  # the middle of an hour


@pytest.fixture
def dynamodb_calls(service_env: dict) -> Iterator[list[str]]:
    """The DynamoDB operations the service makes, recorded with botocore's event hooks."""
    calls: list[str] = []
    dynamodb_client().meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    yield calls


def populate(table: str) -> tuple[set[str], set[str]]:
    """Expired sessions in several past hours and in the current hour, and live ones; returns both id sets."""
    expired, live = set(), set()
    for expires_at in (NOW - 3 * BUCKET_SECONDS, NOW - BUCKET_SECONDS - 5, NOW - 60, NOW - 1, NOW):
        expired.add(insert_session(table, created=expires_at - 300, expires_at=expires_at)[1].id)
    for expires_at in (NOW + 1, NOW + 600, NOW + 2 * BUCKET_SECONDS):
        live.add(insert_session(table, created=NOW - 10, expires_at=expires_at)[1].id)
    return expired, live


def remaining_ids(table: str) -> set[str]:
    return {item["session_id"]["S"] for item in session_items(table)}


def test_cleanup_deletes_exactly_the_expired_sessions(service_env: dict, dynamodb_calls: list[str]) -> None:
    # Given
    table = service_env["TABLE_NAME"]
    expired, live = populate(table)
    dynamodb_calls.clear()

    # When
    deleted = cleanup_expired_sessions(SessionStore(table), now=NOW, lookback_hours=24)

    # Then
    assert deleted == len(expired)
    assert remaining_ids(table) == live
    assert "Scan" not in dynamodb_calls
    assert set(dynamodb_calls) == {"GetItem", "Query", "DeleteItem", "UpdateItem"}


def test_a_second_run_reads_only_from_the_watermark_and_deletes_nothing(
    service_env: dict, dynamodb_calls: list[str]
) -> None:
    # Given a completed cleanup
    table = service_env["TABLE_NAME"]
    _, live = populate(table)
    cleanup_expired_sessions(SessionStore(table), now=NOW, lookback_hours=24)
    dynamodb_calls.clear()

    # When it runs again before anything else expires
    deleted = cleanup_expired_sessions(SessionStore(table), now=NOW, lookback_hours=24)

    # Then it is idempotent, and it queried only the current hour, not the 24 before
    assert deleted == 0
    assert remaining_ids(table) == live
    assert dynamodb_calls.count("Query") == 1


def test_two_concurrent_runs_are_safe(service_env: dict) -> None:
    # Given
    table = service_env["TABLE_NAME"]
    _, live = populate(table)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            cleanup_expired_sessions(SessionStore(table), now=NOW, lookback_hours=24)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    # When two runs overlap
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then neither fails and exactly the live sessions remain
    assert errors == []
    assert remaining_ids(table) == live


def test_a_visit_moves_a_session_out_of_reach_of_cleanup(service_env: dict) -> None:
    # Given a session due to expire soon, then visited (its lifetime extended)
    table = service_env["TABLE_NAME"]
    token, session = insert_session(table, created=NOW - 100, expires_at=NOW + 200)
    from portal_sessions.links import visit_session

    visit_session(token, SessionStore(table), now=NOW, session_ttl_seconds=3600)

    # When cleanup runs after the original expiry
    cleanup_expired_sessions(SessionStore(table), now=NOW + 300, lookback_hours=24)

    # Then the visited session is still there
    assert session.id in remaining_ids(table)


def test_handler_runs_on_the_schedule_and_reports_the_count(
    service_env: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given
    table = service_env["TABLE_NAME"]
    expired, live = populate(table)
    monkeypatch.setattr(clock, "now", lambda: NOW)
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}

    # When
    result = cleanup_handler.lambda_handler(event, FakeContext())

    # Then
    assert result == {"deleted": len(expired)}
    assert remaining_ids(table) == live
    [record] = [record for record in caplog.records if record.getMessage() == "expired sessions deleted"]
    assert record.deleted == len(expired)


def test_a_deletion_that_fails_fails_the_run(service_env: dict) -> None:
    # Given DynamoDB refuses the second of three deletions (moto never does, so botocore's Stubber answers)
    client = boto3.client("dynamodb")
    table = service_env["TABLE_NAME"]
    keys = [{"pk": {"S": f"token#{n}"}} for n in range(3)]
    with Stubber(client) as stub:
        stub.add_response("delete_item", {}, {"TableName": table, "Key": keys[0]})
        stub.add_client_error(
            "delete_item", "AccessDeniedException", expected_params={"TableName": table, "Key": keys[1]}
        )

        # When / Then the run fails loudly (the watermark is not advanced, so the next run retries)
        with pytest.raises(ServiceUnavailableError):
            SessionStore(table, client).delete_keys(keys)
        stub.assert_no_pending_responses()
