"""The redirect function in-process against moto: first visit, revisits, unknown, expired and HEAD."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import configurations_handler
import pytest
import redirect_handler

from portal_sessions.api_gateway import page_locales
from portal_sessions.api_gateway.html_headers import HTML_HEADERS
from portal_sessions.domain.handoff import AUDIENCES, verify_handoff_token
from portal_sessions.runtime import clock
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event
from tests.support.pages import PageParts
from tests.support.settings import CLOCK_START, PORTAL_URL, TEST_HANDOFF_KEYS, TEST_KEY
from tests.support.table import insert_session, item_for_token

T0 = CLOCK_START
FORM = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}


def visit(token: str, method: str = "GET", headers: dict[str, str] | None = None) -> dict:
    return redirect_handler.lambda_handler(http_event(method, f"/p/session/{token}", headers=headers), FakeContext())


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


# The pages' language and the business they name


def a_configuration(**business_profile: str) -> str:
    """A configuration made through the API with these `business_profile` fields; its id."""
    form = "&".join(f"business_profile[{name}]={value}" for name, value in business_profile.items())
    event = http_event(
        "POST",
        "/v1/billing_portal/configurations",
        headers=FORM,
        body=form + "&features[invoice_history][enabled]=true",
    )
    response = configurations_handler.lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200, response["body"]
    configuration_id: str = json.loads(response["body"])["id"]
    return configuration_id


def page_of(response: dict) -> PageParts:
    found = PageParts()
    found.feed(response["body"])
    return found


def assert_security_headers(response: dict) -> None:
    assert {name: response["headers"].get(name) for name in HTML_HEADERS} == HTML_HEADERS


def test_expired_page_is_in_the_session_locale_and_names_the_business(service_env: dict, now: list[int]) -> None:
    # Given an expired session created with locale=ja on a configuration with a business profile
    configuration = a_configuration(
        headline="Acme Cloud",
        privacy_policy_url="https://acme.example/privacy",
        terms_of_service_url="https://acme.example/terms",
    )
    token, _ = insert_session(
        service_env["TABLE_NAME"], created=T0 - 1000, expires_at=T0 - 700, locale="ja", configuration=configuration
    )

    # When a browser that prefers German opens it
    response = visit(token, headers={"accept-language": "de-CH,de;q=0.9"})

    # Then the page is in the session's language, says so, and names the business with its policies
    assert response["statusCode"] == 410
    assert_security_headers(response)
    assert response["headers"]["Content-Language"] == "ja"
    page = page_of(response)
    assert page.attributes["html"] == [{"lang": "ja"}]
    assert page.text[:3] == ["このリンクは有効期限が切れています", "Acme Cloud", "このリンクは有効期限が切れています"]
    assert [link["href"] for link in page.attributes["a"]] == [
        "https://example.com/account",
        "https://acme.example/privacy",
        "https://acme.example/terms",
    ]
    assert page.text[-3:] == ["example.com に戻る", "プライバシーポリシー", "利用規約"]


def test_expired_page_of_a_session_on_auto_follows_the_browser(service_env: dict, now: list[int]) -> None:
    token, _ = insert_session(service_env["TABLE_NAME"], created=T0 - 1000, expires_at=T0 - 700, locale="auto")

    response = visit(token, headers={"accept-language": "es-MX,es;q=0.9,en;q=0.5"})

    assert response["statusCode"] == 410
    assert response["headers"]["Content-Language"] == "es-419"
    assert page_of(response).text[0] == "Este enlace venció"


def test_expired_page_without_its_configuration_shows_no_business(service_env: dict, now: list[int]) -> None:
    # Given an expired session whose configuration cannot be found (the default one, never made in this table)
    token, _ = insert_session(service_env["TABLE_NAME"], created=T0 - 1000, expires_at=T0 - 700, locale="fr")

    response = visit(token)

    # Then the page is still shown, in French, with its return link and no business line or policy links
    assert response["statusCode"] == 410
    page = page_of(response)
    assert page.text == [
        "Ce lien a expiré",
        "Ce lien a expiré",
        "Les liens vers le portail de facturation sont de courte durée. Revenez en arrière et ouvrez à nouveau le "
        "portail pour obtenir un nouveau lien.",
        "Retour à example.com",
    ]


@pytest.mark.parametrize(
    ("accept_language", "lang", "title"),
    [
        ("de-CH,de;q=0.9", "de", "Dieser Link ist ungültig"),
        ("he-IL", "he", "הקישור הזה אינו תקף"),
        ("tlh, xx-YY;q=0.5", "en", "This link is not valid"),  # no catalog of theirs: English
        (None, "en", "This link is not valid"),
    ],
)
def test_unknown_link_page_follows_the_browser(
    service_env: dict, now: list[int], accept_language: str | None, lang: str, title: str
) -> None:
    headers = {} if accept_language is None else {"accept-language": accept_language}

    response = visit("B" * 43, headers=headers)

    assert response["statusCode"] == 404
    assert_security_headers(response)
    assert response["headers"]["Content-Language"] == lang
    page = page_of(response)
    assert page.attributes["html"] == [{"lang": lang} | ({"dir": "rtl"} if lang == "he" else {})]
    assert page.text[:2] == [title, title]


def test_unavailable_page_follows_the_browser(service_env: dict, now: list[int]) -> None:
    token, _ = insert_session(service_env["TABLE_NAME"], created=T0, expires_at=T0 + 300)
    aws_client("dynamodb").delete_table(TableName=service_env["TABLE_NAME"])

    response = visit(token, headers={"accept-language": "pt-BR"})

    assert response["statusCode"] == 503
    assert_security_headers(response)
    assert response["headers"]["Retry-After"] == "2"
    assert response["headers"]["Content-Language"] == "pt-BR"
    assert page_of(response).text[:2] == ["Tente novamente", "Tente novamente"]


def test_a_redirect_reads_no_catalog(service_env: dict, now: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given catalogs that cannot be read
    def unreadable(*_: object) -> None:
        raise AssertionError("a catalog was read")

    monkeypatch.setattr(page_locales, "catalog", unreadable)
    monkeypatch.setattr(page_locales, "available_locales", unreadable)
    token, _ = insert_session(service_env["TABLE_NAME"], created=T0, expires_at=T0 + 300)

    # When the link is opened, then it redirects all the same
    assert visit(token, headers={"accept-language": "fr"})["statusCode"] == 302
    assert visit(token, method="HEAD")["statusCode"] == 200


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
