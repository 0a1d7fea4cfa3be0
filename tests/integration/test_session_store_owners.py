"""A customer's (or customer account's) sessions, by mode: a page says whether more exist exactly, a live-mode list
or erasure reaches the live sessions alone, and an erasure marks each session erased before deleting it (so its
deletion is no `expired` event) and returns the ids it erased."""

from __future__ import annotations

from typing import Any

import pytest

from portal_sessions.domain.session import PortalSession
from portal_sessions.domain.tokens import new_url_token, session_id_for, url_token_hash
from portal_sessions.store.items import ERASED
from portal_sessions.store.sessions import NewSession, SessionStore
from portal_sessions.store.table import dynamodb_client
from tests.support.aws import aws_client
from tests.support.factories import a_session
from tests.support.settings import CLOCK_START
from tests.support.table import session_items

NOW = CLOCK_START


def stored(table: str, *, livemode: bool, created: int = NOW) -> PortalSession:
    """A session of customer `cus_owner` and customer account `acct_owner`."""
    token = new_url_token()
    session = a_session(id=session_id_for(url_token_hash(token)), customer="cus_owner", customer_account="acct_owner",
                        livemode=livemode, created=created, expires_at=created + 300,
                        purge_at=created + 7 * 86400)  # fmt: skip
    SessionStore(table).put_new(NewSession(session, url_token_hash(token)))
    return session


def test_a_page_says_more_exist_only_when_they_do(service_env: dict[str, str]) -> None:
    table = service_env["TABLE_NAME"]
    ids = [stored(table, livemode=False, created=NOW + n).id for n in range(2)]
    store = SessionStore(table)

    whole, more_after_whole = store.list_for_owner(False, customer="cus_owner", limit=2)
    first, more_after_first = store.list_for_owner(False, customer="cus_owner", limit=1)

    assert [s.id for s in whole] == ids[::-1] and more_after_whole is False
    assert [s.id for s in first] == ids[1:] and more_after_first is True


@pytest.mark.parametrize("owner", [{"customer": "cus_owner"}, {"customer_account": "acct_owner"}], ids=str)
def test_a_live_mode_list_and_erasure_reach_the_live_sessions_alone(
    service_env: dict[str, str], owner: dict[str, str]
) -> None:
    # Given one customer (and customer account) with a session in each mode
    table = service_env["TABLE_NAME"]
    live, test = stored(table, livemode=True), stored(table, livemode=False)
    store = SessionStore(table)

    # When live mode's are listed, then erased
    listed, _ = store.list_for_owner(True, limit=10, **owner)
    erased = store.erase_owner(True, **owner)

    # Then the live session alone was listed and erased; the test-mode one is still there
    assert [s.id for s in listed] == [live.id]
    assert erased == [live.id]
    assert [item["session_id"]["S"] for item in session_items(table)] == [test.id]


def test_an_erasure_marks_each_session_erased_before_deleting_it(service_env: dict[str, str]) -> None:
    table = service_env["TABLE_NAME"]
    session = stored(table, livemode=False)
    seen_before_delete: list[bool] = []

    def read_before_delete(params: dict[str, Any], **_: Any) -> None:
        item = aws_client("dynamodb").get_item(TableName=table, Key=params["Key"], ConsistentRead=True)["Item"]
        seen_before_delete.append(item.get(ERASED, {}).get("BOOL") is True)

    events = dynamodb_client().meta.events
    events.register("before-parameter-build.dynamodb.DeleteItem", read_before_delete)
    try:
        erased = SessionStore(table).erase_owner(False, customer="cus_owner")
    finally:
        events.unregister("before-parameter-build.dynamodb.DeleteItem", read_before_delete)

    assert erased == [session.id]
    assert seen_before_delete == [True]
    assert session_items(table) == []


def test_a_session_deleted_while_its_owner_is_erased_is_skipped_and_the_rest_erased(
    service_env: dict[str, str],
) -> None:
    # Given three sessions of one customer, the first of the erasure's page deleted (TTL, the cleanup) just before the
    # erasure marks it
    table = service_env["TABLE_NAME"]
    ids = {stored(table, livemode=False, created=NOW + n).id for n in range(3)}
    gone: list[str] = []

    def delete_the_first(params: dict[str, Any], **_: Any) -> None:
        if not gone:
            item = aws_client("dynamodb").get_item(TableName=table, Key=params["Key"], ConsistentRead=True)["Item"]
            gone.append(item["session_id"]["S"])
            aws_client("dynamodb").delete_item(TableName=table, Key=params["Key"])

    events = dynamodb_client().meta.events
    events.register("before-parameter-build.dynamodb.UpdateItem", delete_the_first)
    try:
        erased = SessionStore(table).erase_owner(False, customer="cus_owner")
    finally:
        events.unregister("before-parameter-build.dynamodb.UpdateItem", delete_the_first)

    # Then the others were erased, and it is not among the ids erased (nor written back as a stub)
    assert sorted(erased) == sorted(ids - set(gone))
    assert session_items(table) == []
