"""API version 2026-10-28 (what the SDK 16.x sends): new flow types and after_expiration recovery; older versions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import configurations_handler
import create_session_handler
import jwt
import pytest
import redirect_handler
import sessions_handler

from portal_sessions.domain.handoff import AUDIENCES, RECOVERY_AUDIENCES, verify_handoff_token
from portal_sessions.domain.session import RequestRef
from portal_sessions.runtime import clock
from portal_sessions.store.sessions import SessionStore
from portal_sessions.store.table import dynamodb_client
from tests.support.aws import aws_client
from tests.support.contract import schema_errors
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import CLOCK_START, PORTAL_LOGIN_URL, TEST_HANDOFF_KEYS, TEST_KEY
from tests.support.table import item_for_token

T0 = CLOCK_START
OLD_VERSION = "2026-07-29.dahlia"
BASE = {"customer": "cus_1", "return_url": "https://example.com/account"}


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    current = [T0]
    monkeypatch.setattr(clock, "now", lambda: current[0])
    return current


def create(params: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
    if version is not None:
        headers["stripe-version"] = version
    event = http_event("POST", "/v1/billing_portal/sessions", headers=headers, body=urlencode(params))
    return create_session_handler.lambda_handler(event, FakeContext())


def visit(url: str, method: str = "GET") -> dict[str, Any]:
    path = urlsplit(url).path
    return redirect_handler.lambda_handler(http_event(method, path), FakeContext())


def test_without_a_version_the_latest_shows_after_expiration(service_env: dict, now: list[int]) -> None:
    session = json_body(create(BASE))

    assert session["after_expiration"] is None
    assert schema_errors("billing_portal.session", session) == []


def test_an_older_version_gets_the_reference_spec_exactly(service_env: dict, now: list[int]) -> None:
    # Given a request pinned to the reference spec's version
    params = {**BASE, "flow_data[type]": "payment_method_update"}

    # When
    session = json_body(create(params, version=OLD_VERSION))

    # Then neither after_expiration nor the newer flow fields appear
    assert "after_expiration" not in session
    assert set(session["flow"]) == {
        "after_completion", "subscription_cancel", "subscription_update", "subscription_update_confirm", "type",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"after_expiration[type]": "customer_login"}, "after_expiration", "parameter_unknown"),
        ({"flow_data[type]": "customer_update"}, "flow_data[type]", "parameter_invalid"),
        ({"flow_data[type]": "subscription_pause", "flow_data[subscription_pause][subscription]": "sub_1"},
         "flow_data[subscription_pause]", "parameter_unknown"),
    ],
)  # fmt: skip
def test_an_older_version_does_not_know_the_newer_parameters(
    service_env: dict, now: list[int], params: dict[str, str], param: str, code: str
) -> None:
    response = create({**BASE, **params}, version=OLD_VERSION)

    assert response["statusCode"] == 400
    error = json_body(response)["error"]
    assert (error["param"], error["code"]) == (param, code)


def session_call(method: str, path: str, version: str | None = None, query: str = "") -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
    if version is not None:
        headers["stripe-version"] = version
    event = http_event(method, path, headers=headers, body="")
    event["rawQueryString"] = query
    return sessions_handler.lambda_handler(event, FakeContext())


def test_retrieve_list_and_expire_answer_in_the_requested_version(service_env: dict, now: list[int]) -> None:
    # Given a session made at the latest version, with a flow type only it has
    created = json_body(create({**BASE, "customer": "cus_versions", "flow_data[type]": "customer_update"}))
    path = f"/v1/billing_portal/sessions/{created['id']}"

    # When it is read, listed and expired pinned to the older version, and read again at the latest
    older = [
        json_body(session_call("GET", path, OLD_VERSION)),
        json_body(session_call("GET", "/v1/billing_portal/sessions", OLD_VERSION, "customer=cus_versions"))["data"][0],
        json_body(session_call("POST", path + "/expire", OLD_VERSION)),
    ]
    latest = json_body(session_call("GET", path))

    # Then each older answer has the older shape, as create's does, and the latest still has the newer fields
    for shown in older:
        assert shown["id"] == created["id"]
        assert "after_expiration" not in shown
        assert "customer_update" not in shown["flow"] and "subscription_pause" not in shown["flow"]
    assert latest["after_expiration"] is None
    assert latest["flow"]["customer_update"] == {}


@pytest.mark.parametrize("version", [None, OLD_VERSION, "2026-10-28.endive"], ids=["default", "older", "latest"])
def test_every_api_answer_names_the_version_it_was_made_in(
    service_env: dict, now: list[int], version: str | None
) -> None:
    # Given calls on each API function, with or without a Stripe-Version (stripe-node reads the answer's header into
    # lastResponse.apiVersion, as Stripe sends it)
    created = create(BASE, version=version)
    session_id = json_body(created)["id"]
    retrieved = session_call("GET", f"/v1/billing_portal/sessions/{session_id}", version)
    headers = {"authorization": f"Bearer {TEST_KEY}"} | ({} if version is None else {"stripe-version": version})
    event = http_event("GET", "/v1/billing_portal/configurations", headers=headers)
    listed = configurations_handler.lambda_handler(event, FakeContext())
    refused = create({"customer": "cus_1", "colour": "blue"}, version=version)

    # Then each names the version asked for, or the default one
    for response in (created, retrieved, listed, refused):
        assert response["headers"]["Stripe-Version"] == (version or "2026-10-28.endive"), response


def test_a_malformed_version_is_not_echoed(service_env: dict, now: list[int]) -> None:
    response = create(BASE, version="yesterday")

    assert response["statusCode"] == 400
    assert "Stripe-Version" not in response["headers"]


def test_a_malformed_version_is_refused(service_env: dict, now: list[int]) -> None:
    response = create(BASE, version="yesterday")

    assert response["statusCode"] == 400
    assert json_body(response)["error"]["param"] == "Stripe-Version"


def test_customer_update_flow(service_env: dict, now: list[int]) -> None:
    session = json_body(create({**BASE, "flow_data[type]": "customer_update"}))

    assert session["flow"]["type"] == "customer_update"
    assert session["flow"]["customer_update"] == {}
    assert session["flow"]["subscription_pause"] is None


def test_subscription_pause_flow_needs_its_subscription(service_env: dict, now: list[int]) -> None:
    # When the sub-hash is missing
    missing = create({**BASE, "flow_data[type]": "subscription_pause"})

    # Then
    assert json_body(missing)["error"]["param"] == "flow_data[subscription_pause]"

    # And with it the flow carries it
    params = {**BASE, "flow_data[type]": "subscription_pause", "flow_data[subscription_pause][subscription]": "sub_9"}
    session = json_body(create(params))
    assert session["flow"]["subscription_pause"] == {"subscription": "sub_9"}


def recoverable(expires_at: int | None = None) -> dict[str, Any]:
    params = {**BASE, "after_expiration[type]": "customer_login"}
    if expires_at is not None:
        params["after_expiration[customer_login][expires_at]"] = str(expires_at)
    response = create(params)
    assert response["statusCode"] == 200, response["body"]
    return json_body(response)


def test_after_expiration_is_returned_as_given(service_env: dict, now: list[int]) -> None:
    assert recoverable(T0 + 7200)["after_expiration"] == {
        "type": "customer_login",
        "customer_login": {"expires_at": T0 + 7200},
    }
    assert recoverable()["after_expiration"] == {"type": "customer_login", "customer_login": {"expires_at": None}}


@pytest.mark.parametrize("expires_at", [T0, T0 - 1, T0 + 31 * 86400])
def test_a_recovery_deadline_must_be_ahead_and_within_30_days(
    service_env: dict, now: list[int], expires_at: int
) -> None:
    params = {**BASE, "after_expiration[type]": "customer_login"}
    params["after_expiration[customer_login][expires_at]"] = str(expires_at)

    response = create(params)

    assert response["statusCode"] == 400
    assert json_body(response)["error"]["param"] == "after_expiration[customer_login][expires_at]"


def test_an_expired_recoverable_link_goes_to_the_login_page_until_the_deadline(
    service_env: dict, now: list[int]
) -> None:
    # Given a session recoverable for two hours, never visited
    session = recoverable(T0 + 7200)

    # When its link is opened after the link TTL but before the deadline
    now[0] = T0 + 600
    response = visit(session["url"])

    # Then the customer is sent to the login page with a recovery hand-off (not a portal hand-off)
    assert response["statusCode"] == 302
    location = response["headers"]["Location"]
    assert location.startswith(PORTAL_LOGIN_URL + "?recovery=")
    recovery = parse_qs(urlsplit(location).query)["recovery"][0]
    claims = verify_handoff_token(
        recovery, keys=TEST_HANDOFF_KEYS, audience=RECOVERY_AUDIENCES[False], leeway_seconds=10**9
    )
    assert claims["sid"] == session["id"]
    with pytest.raises(jwt.InvalidAudienceError):
        verify_handoff_token(recovery, keys=TEST_HANDOFF_KEYS, audience=AUDIENCES[False], leeway_seconds=10**9)

    # And HEAD says the link is still good for something
    assert visit(session["url"], method="HEAD")["statusCode"] == 200

    # And after the deadline it is simply expired
    now[0] = T0 + 7200
    assert visit(session["url"])["statusCode"] == 410


def test_a_live_recoverable_session_still_goes_to_the_portal(service_env: dict, now: list[int]) -> None:
    session = recoverable(T0 + 7200)

    response = visit(session["url"])

    assert response["headers"]["Location"].startswith("https://portal.example.com/session?handoff=")


def test_a_recoverable_session_is_kept_until_its_deadline_even_after_a_visit(service_env: dict, now: list[int]) -> None:
    # Given a recoverable session (the default 30 days), visited once
    session = recoverable()
    token = session["url"].rsplit("/", 1)[1]
    now[0] = T0 + 10
    assert visit(session["url"])["statusCode"] == 302

    # When its item is read
    item = item_for_token(service_env["TABLE_NAME"], token)

    # Then the visit extended its expiry, but cleanup will keep it until the recovery deadline and the retention
    assert item is not None
    assert int(item["expires_at"]["N"]) == T0 + 10 + 3600
    assert int(item["purge_at"]["N"]) == T0 + 30 * 86400 + 7 * 86400
    assert int(item["recovery_until"]["N"]) == T0 + 30 * 86400


def expire(session_id: str) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
    event = http_event("POST", f"/v1/billing_portal/sessions/{session_id}/expire", headers=headers)
    return sessions_handler.lambda_handler(event, FakeContext())


@pytest.mark.parametrize(
    ("state", "expire_at"),
    [("open", T0 + 10), ("visited", T0 + 20), ("lapsed but recoverable", T0 + 600)],
)
def test_expire_ends_recovery_whatever_state_the_session_was_in(
    service_env: dict, now: list[int], state: str, expire_at: int
) -> None:
    # Given a session recoverable by logging in for two hours
    session = recoverable(T0 + 7200)
    if state == "visited":
        now[0] = T0 + 10
        assert visit(session["url"])["statusCode"] == 302

    # When it is expired on request (for the lapsed one: after its link lapsed, while recovery is still possible)
    now[0] = expire_at
    response = expire(session["id"])

    # Then expire succeeds, and the URL answers 410 from then on: no recovery redirect, now or before the deadline
    assert response["statusCode"] == 200, response["body"]
    assert json_body(response)["status"] == "expired"
    for later in (expire_at, expire_at + 1, T0 + 3600, T0 + 7199):
        now[0] = later
        assert visit(session["url"])["statusCode"] == 410
        assert visit(session["url"], method="HEAD")["statusCode"] == 410

    # And a second expire is a clear 400: the session is fully dead
    again = expire(session["id"])
    assert again["statusCode"] == 400
    assert "already expired" in json_body(again)["error"]["message"]


def test_expire_keeps_when_a_lapsed_session_expired(service_env: dict, now: list[int]) -> None:
    # Given a recoverable session whose link lapsed at T0 + 300
    session = recoverable(T0 + 7200)

    # When it is expired later, during its recovery window
    now[0] = T0 + 600
    expired = json_body(expire(session["id"]))

    # Then it shows when it stopped being usable, not when recovery was ended
    assert expired["expires_at"] == T0 + 300


@contextmanager
def between_the_read_and_the_write(change: Callable[[dict[str, Any]], None]) -> Iterator[list[dict[str, Any]]]:
    """Runs `change(key)` once, just before the functions' first write to a session item (after the use case read
    it); yields the keys it ran for."""
    changed: list[dict[str, Any]] = []

    def interpose(params: dict[str, Any], **_: Any) -> None:
        if not changed and params["Key"]["pk"]["S"].startswith("token#"):
            changed.append(params["Key"])
            change(params["Key"])

    events = dynamodb_client().meta.events
    events.register("before-parameter-build.dynamodb.UpdateItem", interpose)
    try:
        yield changed
    finally:
        events.unregister("before-parameter-build.dynamodb.UpdateItem", interpose)


@pytest.mark.parametrize("recovery", [False, True], ids=["not-recoverable", "recoverable"])
def test_a_session_another_request_expired_between_the_read_and_the_write_is_not_expired_again(
    service_env: dict, now: list[int], recovery: bool
) -> None:
    # Given a usable session
    session = recoverable(T0 + 7200) if recovery else json_body(create(BASE))
    table = service_env["TABLE_NAME"]
    other_request = RequestRef("req_other")

    def other_expire(key: dict[str, Any]) -> None:  # another request's expire, a second earlier, gets there first
        store = SessionStore(table, aws_client("dynamodb"))
        stored = store.get_by_id(session["id"])
        assert stored is not None and not stored.session.is_expired(T0 + 99)
        store.expire(stored, T0 + 99, other_request)

    # When it is expired, and the other request ends it between this one's read and its write
    now[0] = T0 + 100
    with between_the_read_and_the_write(other_expire) as changed:
        response = expire(session["id"])

    # Then this one is refused as for any dead session, and the other request's end stands
    assert changed, "the session was not changed between the read and the write"
    assert response["statusCode"] == 400, response["body"]
    assert "already expired" in json_body(response)["error"]["message"]
    item = aws_client("dynamodb").get_item(TableName=table, Key=changed[0])["Item"]
    assert (item["ended_at"], item["expires_at"], item["request_id"]) == ({"N": str(T0 + 99)},) * 2 + (
        {"S": "req_other"},
    )


def test_a_session_that_lapsed_between_the_read_and_the_write_keeps_its_lapse_time(
    service_env: dict, now: list[int]
) -> None:
    # Given a usable session, recoverable by logging in
    session = recoverable(T0 + 7200)
    table = service_env["TABLE_NAME"]

    def lapse(key: dict[str, Any]) -> None:
        aws_client("dynamodb").update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET expires_at = :lapsed",
            ExpressionAttributeValues={":lapsed": {"N": str(T0 + 99)}},
        )

    # When it is expired, and its link lapses between the read and the write
    now[0] = T0 + 100
    with between_the_read_and_the_write(lapse) as changed:
        response = expire(session["id"])

    # Then the write is refused, the session read again, and expired as a lapsed one: it keeps when it lapsed
    assert changed, "the session was not changed between the read and the write"
    assert response["statusCode"] == 200, response["body"]
    assert json_body(response)["expires_at"] == T0 + 99
    item = aws_client("dynamodb").get_item(TableName=table, Key=changed[0])["Item"]
    assert item["expires_at"] == {"N": str(T0 + 99)} and item["ended_at"] == {"N": str(T0 + 100)}
    assert "recovery_until" not in item


def test_expire_of_a_session_past_its_recovery_deadline_is_a_400(service_env: dict, now: list[int]) -> None:
    session = recoverable(T0 + 7200)

    now[0] = T0 + 7200
    response = expire(session["id"])

    assert response["statusCode"] == 400
    assert json_body(response)["error"]["type"] == "invalid_request_error"
