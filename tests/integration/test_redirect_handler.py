"""The redirect function in-process against moto: first visit, revisits, unknown, expired and HEAD."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import redirect_handler

from portal_sessions import clock
from portal_sessions.handoff import AUDIENCES, verify_handoff_token
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event
from tests.support.settings import CLOCK_START, PORTAL_URL, TEST_HANDOFF_KEYS
from tests.support.table import insert_session, item_for_token

T0 = CLOCK_START


def visit(token: str, method: str = "GET") -> dict:
    return redirect_handler.lambda_handler(http_event(method, f"/p/session/{token}"), FakeContext())


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The clock the functions read; tests move it by setting now[0]."""
    current = [T0]
    monkeypatch.setattr(clock, "now", lambda: current[0])
    return current


def test_first_visit_redirects_to_the_portal_with_a_signed_handoff(service_env: dict, now: list[int]) -> None:
    # Given a fresh session
    token, session = insert_session(service_env["TABLE_NAME"], created=T0, expires_at=T0 + 300)
    before = item_for_token(service_env["TABLE_NAME"], token)
    assert before is not None

    # When
    now[0] = T0 + 10
    response = visit(token)

    # Then it redirects to the configured portal, and nowhere else
    assert response["statusCode"] == 302
    location = response["headers"]["Location"]
    assert location.startswith(PORTAL_URL + "?handoff=")
    assert response["headers"]["Cache-Control"] == "no-store"
    assert response["headers"]["Referrer-Policy"] == "no-referrer"
    assert token not in location

    # And the hand-off binds the session, expiring within 60 s
    handoff = parse_qs(urlsplit(location).query)["handoff"][0]
    claims = verify_handoff_token(handoff, keys=TEST_HANDOFF_KEYS, audience=AUDIENCES[False], leeway_seconds=10**9)
    assert claims["sid"] == session.id
    assert claims["customer"] == session.customer
    assert claims["livemode"] is False
    assert claims["configuration"] == session.configuration
    assert claims["locale"] == "fr"
    assert claims["return_url"] == session.return_url
    assert "flow" not in claims  # a claim with no value is left out
    assert 0 < claims["exp"] - claims["iat"] <= 60

    # And the visit starts the session lifetime
    item = item_for_token(service_env["TABLE_NAME"], token)
    assert item is not None
    assert int(item["visited_at"]["N"]) == T0 + 10
    assert int(item["expires_at"]["N"]) == T0 + 10 + 3600
    # (its purge time, fixed at create, is left alone: a visit writes no index key)
    assert item["purge_at"] == before["purge_at"] and item["purge_shard"] == before["purge_shard"]


def test_revisits_redirect_again_until_the_session_ttl(service_env: dict, now: list[int]) -> None:
    # Given a visited session
    token, _ = insert_session(service_env["TABLE_NAME"], created=T0, expires_at=T0 + 300)
    now[0] = T0 + 100
    assert visit(token)["statusCode"] == 302

    # When it is visited again long after the link TTL but within the session TTL
    now[0] = T0 + 100 + 3599
    again = visit(token)

    # Then it still redirects and the first visit time stays
    assert again["statusCode"] == 302
    assert int(item_for_token(service_env["TABLE_NAME"], token)["visited_at"]["N"]) == T0 + 100

    # And once the session TTL has passed it is gone
    now[0] = T0 + 100 + 3600
    assert visit(token)["statusCode"] == 410


def test_unvisited_link_expires_after_the_link_ttl(service_env: dict, now: list[int]) -> None:
    # Given a session created at T0 with the default 300 s link TTL
    token, _ = insert_session(service_env["TABLE_NAME"], created=T0, expires_at=T0 + 300)

    # When the link is first opened at the TTL
    now[0] = T0 + 300
    response = visit(token)

    # Then it is expired, and the expired visit does not revive it
    assert response["statusCode"] == 410
    assert "visited_at" not in item_for_token(service_env["TABLE_NAME"], token)


def test_expired_page_is_html_with_a_link_back(service_env: dict, now: list[int]) -> None:
    # Given an already-expired session (moto never expires items by TTL)
    token, _ = insert_session(
        service_env["TABLE_NAME"],
        created=T0 - 1000,
        expires_at=T0 - 700,
        return_url="https://shop.example.com/a?b=1&c=2",
    )

    # When
    response = visit(token)

    # Then
    assert response["statusCode"] == 410
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert response["headers"]["Cache-Control"] == "no-store"
    assert response["headers"]["Referrer-Policy"] == "no-referrer"
    assert 'href="https://shop.example.com/a?b=1&amp;c=2"' in response["body"]
    assert "Traceback" not in response["body"]


@pytest.mark.parametrize("token", ["A" * 43, "short", "x" * 44, "has.dot" + "a" * 36])
def test_unknown_or_malformed_tokens_get_404(service_env: dict, now: list[int], token: str) -> None:
    response = visit(token)

    assert response["statusCode"] == 404
    assert response["headers"]["Cache-Control"] == "no-store"
    assert "This link is not valid" in response["body"]


def test_head_answers_without_counting_as_a_visit(service_env: dict, now: list[int]) -> None:
    # Given a fresh session
    token, _ = insert_session(service_env["TABLE_NAME"], created=T0, expires_at=T0 + 300)

    # When a link preview sends HEAD
    response = visit(token, method="HEAD")

    # Then it is told the link is live, and the session stays unvisited
    assert response["statusCode"] == 200
    assert "Location" not in response["headers"]
    assert "visited_at" not in item_for_token(service_env["TABLE_NAME"], token)


def test_head_of_expired_and_unknown_links(service_env: dict, now: list[int]) -> None:
    token, _ = insert_session(service_env["TABLE_NAME"], created=T0 - 1000, expires_at=T0 - 1)

    assert visit(token, method="HEAD")["statusCode"] == 410
    assert visit("B" * 43, method="HEAD")["statusCode"] == 404


def test_a_store_failure_is_not_a_stack_trace(service_env: dict, now: list[int]) -> None:
    # Given DynamoDB is failing (the table is gone)

    token, _ = insert_session(service_env["TABLE_NAME"], created=T0, expires_at=T0 + 300)
    aws_client("dynamodb").delete_table(TableName=service_env["TABLE_NAME"])

    # When
    response = visit(token)

    # Then a page asking to retry, no redirect
    assert response["statusCode"] == 503
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert response["headers"]["Retry-After"] == "2"
    assert "Location" not in response["headers"]
    assert "Traceback" not in response["body"]


def test_without_the_signing_key_no_visit_is_recorded(service_env: dict, now: list[int]) -> None:
    # Given the signing secret cannot be read

    token, _ = insert_session(service_env["TABLE_NAME"], created=T0, expires_at=T0 + 300)
    aws_client("secretsmanager").delete_secret(
        SecretId=service_env["HANDOFF_SECRET_ID"], ForceDeleteWithoutRecovery=True
    )

    # When
    response = visit(token)

    # Then the customer is asked to retry, and the link is still unvisited for that retry
    assert response["statusCode"] == 503
    assert "visited_at" not in item_for_token(service_env["TABLE_NAME"], token)


# Literal values, not pages.HTML_HEADERS: the test must fail when that dict loses a header.
PAGE_SECURITY_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}
# A redirect has no body to frame or sniff; what matters is that neither it nor the session URL is cached, and that
# the portal is not sent the session URL as a Referer.
REDIRECT_SECURITY_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _fresh_link(table: str) -> str:
    return insert_session(table, created=T0, expires_at=T0 + 300)[0]


def _expired_link(table: str) -> str:
    return insert_session(table, created=T0 - 1000, expires_at=T0 - 700, return_url="https://shop.example.com")[0]


def _link_with_the_store_gone(table: str) -> str:
    token = _fresh_link(table)
    aws_client("dynamodb").delete_table(TableName=table)
    return token


@pytest.mark.parametrize(
    ("method", "make_link", "status", "expected_headers"),
    [
        ("GET", _fresh_link, 302, REDIRECT_SECURITY_HEADERS),
        ("GET", lambda table: "C" * 43, 404, PAGE_SECURITY_HEADERS),
        ("GET", _expired_link, 410, PAGE_SECURITY_HEADERS),
        ("GET", _link_with_the_store_gone, 503, PAGE_SECURITY_HEADERS),
        ("HEAD", _fresh_link, 200, PAGE_SECURITY_HEADERS),
        ("HEAD", lambda table: "C" * 43, 404, PAGE_SECURITY_HEADERS),
        ("HEAD", _expired_link, 410, PAGE_SECURITY_HEADERS),
    ],
    ids=["302", "404", "410", "503", "HEAD-200", "HEAD-404", "HEAD-410"],
)
def test_every_page_response_sends_the_security_headers(
    service_env: dict,
    now: list[int],
    method: str,
    make_link: Callable[[str], str],
    status: int,
    expected_headers: dict[str, str],
) -> None:
    # Given a link in the state that gets this status
    token = make_link(service_env["TABLE_NAME"])

    # When it is opened
    response = visit(token, method=method)

    # Then the response carries each security header with its exact value
    assert response["statusCode"] == status
    sent = {name: response["headers"].get(name) for name in expected_headers}
    assert sent == expected_headers
