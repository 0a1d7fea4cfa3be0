"""Retention, per-owner lists (customer and customer account apart) and erasing an owner's sessions, on moto."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import redirect_handler

from portal_admin.__main__ import main as admin
from portal_sessions.runtime import clock
from portal_sessions.runtime.settings import clear_settings_cache
from tests.integration.test_session_lifecycle import T0, api
from tests.support.events import FakeContext, http_event, json_body
from tests.support.table import session_items


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    current = [T0]
    monkeypatch.setattr(clock, "now", lambda: current[0])
    return current


RETENTION = 7 * 86400
LATEST_LIFE = 300 + 3600  # the test environment's link and session lifetimes


def create(**owner: str) -> dict[str, Any]:
    body = urlencode({**owner, "return_url": "https://example.com"})
    response = api("POST", "/v1/billing_portal/sessions", body=body)
    assert response["statusCode"] == 200, response["body"]
    return json_body(response)


def listed(**owner: str) -> list[str]:
    response = api("GET", "/v1/billing_portal/sessions", query=urlencode(owner))
    assert response["statusCode"] == 200, response["body"]
    return [session["id"] for session in json_body(response)["data"]]


def visit(url: str) -> dict[str, Any]:
    return redirect_handler.lambda_handler(http_event("GET", urlsplit(url).path), FakeContext())


def test_customer_and_customer_account_are_listed_apart(service_env: dict, now: list[int]) -> None:
    # Given a session whose customer is acct_X, one whose customer account is acct_X, and one with both
    as_customer = create(customer="acct_X")
    now[0] += 1
    as_account = create(customer_account="acct_X")
    now[0] += 1
    both = create(customer="cus_Y", customer_account="acct_Y")

    # Then each list holds only its own kind, and a session with both is in both lists
    assert listed(customer_account="acct_X") == [as_account["id"]]
    assert listed(customer="acct_X") == [as_customer["id"]]
    assert listed(customer="cus_Y") == [both["id"]]
    assert listed(customer_account="acct_Y") == [both["id"]]


def test_an_ended_session_is_kept_410_and_expired_for_the_retention_window(service_env: dict, now: list[int]) -> None:
    # Given a session whose link lapsed unvisited a week ago
    session = create(customer="cus_R")
    now[0] = T0 + LATEST_LIFE + RETENTION - 1

    # Then its link still answers 410 (with the way back), and the API still shows it expired
    assert visit(session["url"])["statusCode"] == 410
    retrieved = json_body(api("GET", f"/v1/billing_portal/sessions/{session['id']}"))
    assert retrieved["status"] == "expired"
    assert listed(customer="cus_R") == [session["id"]]


def test_past_its_purge_time_a_session_is_gone_even_before_ttl_deletes_it(service_env: dict, now: list[int]) -> None:
    # Given a session past the latest it could live and the retention window (moto never runs TTL)
    session = create(customer="cus_P")
    now[0] = T0 + LATEST_LIFE + RETENTION

    # Then its link is unknown (404), and so is its id
    assert visit(session["url"])["statusCode"] == 404
    assert api("GET", f"/v1/billing_portal/sessions/{session['id']}")["statusCode"] == 404
    assert listed(customer="cus_P") == []
    assert len(session_items(service_env["TABLE_NAME"])) == 1  # still stored: reads refuse it


def test_a_visit_never_moves_the_purge_time(service_env: dict, now: list[int]) -> None:
    session = create(customer="cus_V")
    [before] = session_items(service_env["TABLE_NAME"])

    now[0] = T0 + 299
    assert visit(session["url"])["statusCode"] == 302

    [after] = session_items(service_env["TABLE_NAME"])
    assert int(after["expires_at"]["N"]) == T0 + 299 + 3600
    assert (after["purge_at"], after["purge_shard"]) == (before["purge_at"], before["purge_shard"])
    assert int(after["purge_at"]["N"]) == T0 + LATEST_LIFE + RETENTION


@pytest.mark.parametrize("retention", [0, 3600])
def test_a_lifetime_raised_after_create_never_outlives_the_purge_time(
    service_env: dict, now: list[int], monkeypatch: pytest.MonkeyPatch, retention: int
) -> None:
    # Given a session created under a 1-hour lifetime and a short retention, then the lifetime raised to a day
    monkeypatch.setenv("EXPIRED_RETENTION_SECONDS", str(retention))
    clear_settings_cache()
    session = create(customer="cus_Raised")
    [stored] = session_items(service_env["TABLE_NAME"])
    purge_at = int(stored["purge_at"]["N"])
    assert purge_at == T0 + LATEST_LIFE + retention
    monkeypatch.setenv("SESSION_TTL_SECONDS", str(86400))
    clear_settings_cache()

    # When it is visited at the last moment of its link
    now[0] = T0 + 299
    assert visit(session["url"])["statusCode"] == 302

    # Then it ends in time for its retention window, before TTL or cleanup may erase it
    [visited] = session_items(service_env["TABLE_NAME"])
    expires_at = int(visited["expires_at"]["N"])
    assert expires_at == purge_at - retention
    assert visited["purge_at"] == stored["purge_at"]
    now[0] = expires_at - 1
    assert visit(session["url"])["statusCode"] == 302
    if retention:
        now[0] = expires_at
        assert visit(session["url"])["statusCode"] == 410
        assert json_body(api("GET", f"/v1/billing_portal/sessions/{session['id']}"))["status"] == "expired"


def test_an_id_that_is_no_session_id_is_404_without_a_lookup(service_env: dict, now: list[int]) -> None:
    for session_id in ("bps_" + "x" * 43, "bps_short", "bps_" + "z" * 43 + "0", "bps_" + "é" * 43):
        response = api("GET", f"/v1/billing_portal/sessions/{session_id}")
        assert response["statusCode"] == 404, session_id
        assert json.loads(response["body"])["error"]["code"] == "resource_missing"


@pytest.mark.parametrize("owner", ["customer", "customer-account"])
def test_the_admin_command_erases_one_owners_sessions(
    service_env: dict, now: list[int], capsys: pytest.CaptureFixture[str], owner: str
) -> None:
    # Given two sessions of one owner (one of them with both a customer and an account), and another owner's
    field = owner.replace("-", "_")
    mine = [create(**{field: "cus_Erase"}), create(customer="cus_Both", customer_account="cus_Erase")]
    if field == "customer":
        mine = [mine[0], create(customer="cus_Erase", customer_account="acct_Other")]
    other = create(customer="cus_Keep")

    # When
    capsys.readouterr()  # the creates' metrics lines
    assert admin(["--table", service_env["TABLE_NAME"], "sessions", "erase", "--mode", "test", f"--{owner}",
                  "cus_Erase"]) == 0  # fmt: skip

    # Then exactly that owner's sessions are gone, from the table and from every list
    whose = f"{owner.replace('-', ' ')} cus_Erase"
    assert capsys.readouterr().out.strip() == f"2 test mode sessions of {whose} erased, and 0 of their events"
    remaining = {item["session_id"]["S"] for item in session_items(service_env["TABLE_NAME"])}
    assert remaining.isdisjoint(session["id"] for session in mine)
    assert other["id"] in remaining
    assert listed(**{field: "cus_Erase"}) == []
