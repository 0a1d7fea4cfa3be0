"""The customer's pages as HTML: in the chosen catalog's language, with `lang` (and `dir` for a right-to-left one),
every text escaped, so neither a catalog nor a configuration can put markup into a page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portal_sessions.api_gateway.page_locales import CATALOG_DIR
from portal_sessions.api_gateway.pages import (
    BusinessProfile,
    Page,
    expired_page,
    fill,
    not_found_page,
    unavailable_page,
)
from tests.support.pages import PageParts

CATALOGS = sorted(path.stem for path in CATALOG_DIR.glob("*.json"))
RETURN_URL = "https://shop.example.com/account?from=portal&x=1"
BUSINESS = BusinessProfile(
    headline="Acme partners with us for simple billing",
    privacy_policy_url="https://acme.example/privacy",
    terms_of_service_url="https://acme.example/terms",
)
# The only elements a page is made of: a catalog or a configuration adds none
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "p", "a"}
POLICIES = ("privacy_policy", "terms_of_service")


def parts(page: Page) -> PageParts:
    found = PageParts()
    found.feed(page.html)
    found.close()
    return found


def texts_of(tag: str) -> dict[str, str]:
    texts: dict[str, str] = json.loads((CATALOG_DIR / f"{tag}.json").read_text(encoding="utf-8"))
    return texts


@pytest.mark.parametrize("tag", CATALOGS)
def test_every_catalog_renders_as_text_only_in_its_language(tag: str) -> None:
    texts = texts_of(tag)

    pages = {
        "not_found": not_found_page(tag),
        "expired": expired_page(RETURN_URL, session_locale=tag, accept_language=None, business=BUSINESS),
        "unavailable": unavailable_page(tag),
    }

    for kind, page in pages.items():
        found = parts(page)
        assert page.language == tag
        assert set(found.tags) <= PAGE_TAGS, kind
        assert found.attributes["html"] == [{"lang": tag} | ({"dir": "rtl"} if tag in {"ar", "he"} else {})]
        # Each text appears whole, as the catalog wrote it: nothing of it was read as markup
        title, message = texts[f"{kind}_title"], texts[f"{kind}_message"]
        if kind == "expired":
            links = [texts["return_link"].replace("{site}", "shop.example.com"), *(texts[key] for key in POLICIES)]
            assert found.text == [title, BUSINESS.headline, title, message, *links]
        else:
            assert found.text == [title, title, message]


def test_the_expired_page_names_the_business_and_links_its_policies() -> None:
    found = parts(expired_page(RETURN_URL, session_locale="fr", accept_language=None, business=BUSINESS))

    assert [link["href"] for link in found.attributes["a"]] == [
        RETURN_URL,
        "https://acme.example/privacy",
        "https://acme.example/terms",
    ]
    assert found.text == [
        "Ce lien a expiré",
        "Acme partners with us for simple billing",
        "Ce lien a expiré",
        texts_of("fr")["expired_message"],
        "Retour à shop.example.com",
        "Politique de confidentialité",
        "Conditions d’utilisation",
    ]


def test_without_a_business_profile_or_return_url_the_expired_page_has_no_such_lines() -> None:
    found = parts(expired_page(None, session_locale="de", accept_language=None))

    assert "a" not in found.tags
    assert found.text == ["Dieser Link ist abgelaufen", "Dieser Link ist abgelaufen", texts_of("de")["expired_message"]]


def test_only_the_policies_set_are_linked() -> None:
    business = BusinessProfile(terms_of_service_url="https://acme.example/terms")

    found = parts(expired_page(RETURN_URL, session_locale="en", accept_language=None, business=business))

    assert [link["href"] for link in found.attributes["a"]] == [RETURN_URL, "https://acme.example/terms"]
    assert found.text[-2:] == ["Return to shop.example.com", "Terms of service"]


def test_a_session_without_a_locale_follows_the_browser() -> None:
    page = expired_page(RETURN_URL, session_locale="auto", accept_language="de-CH,de;q=0.9")

    assert page.language == "de"
    assert parts(page).text[0] == "Dieser Link ist abgelaufen"


def test_right_to_left_pages_say_so() -> None:
    page = not_found_page("he-IL")

    assert parts(page).attributes["html"] == [{"lang": "he", "dir": "rtl"}]
    assert ' dir="rtl"' not in not_found_page("fr").html


def test_configuration_values_cannot_inject_markup() -> None:
    hostile = BusinessProfile(
        headline='<img src=x onerror="alert(1)">Acme</p><script>alert(2)</script>',
        privacy_policy_url='https://acme.example/"><script>alert(3)</script>',
        terms_of_service_url="javascript&colon;alert(4)",
    )

    page = expired_page(
        'https://shop.example.com/"><b>x</b>', session_locale="en", accept_language=None, business=hostile
    )
    found = parts(page)

    assert set(found.tags) <= PAGE_TAGS and "script" not in found.tags and "img" not in found.tags
    assert hostile.headline in found.text
    assert [link["href"] for link in found.attributes["a"]] == [
        'https://shop.example.com/"><b>x</b>',
        'https://acme.example/"><script>alert(3)</script>',
        "javascript&colon;alert(4)",
    ]


def test_a_catalog_cannot_inject_markup(team_catalogs: Path) -> None:
    # Given a catalog whose every text is markup (a careless edit, or a hostile one)
    hostile = {
        key: f'<script>alert("{key}")</script><a href="https://evil.example">{key}</a> &amp; {{site}}'
        for key in texts_of("en")
    }
    (team_catalogs / "en.json").write_text(json.dumps(hostile))

    # When each page is rendered in it
    not_found = parts(not_found_page(None))
    expired = parts(expired_page(RETURN_URL, session_locale=None, accept_language=None, business=BUSINESS))
    unavailable = parts(unavailable_page(None))

    # Then its texts are shown as text, exactly as written (entity and all): no element of theirs, no link to evil
    for found in (not_found, expired, unavailable):
        assert set(found.tags) <= PAGE_TAGS and "script" not in found.tags
    title = hostile["not_found_title"]
    assert not_found.text == [title, title, hostile["not_found_message"]]
    assert unavailable.text[2] == hostile["unavailable_message"]
    assert expired.text[4:] == [
        hostile["return_link"].replace("{site}", "shop.example.com"),  # the only placeholder there is filled
        hostile["privacy_policy"],
        hostile["terms_of_service"],
    ]
    assert [link["href"] for link in expired.attributes["a"]] == [
        RETURN_URL,
        *(url for url in (BUSINESS.privacy_policy_url, BUSINESS.terms_of_service_url)),
    ]
    assert "a" not in not_found.tags


def test_fill_escapes_the_text_and_the_values() -> None:
    assert fill("<b>Return</b> to {site} {unknown}", {"site": "<i>shop</i>"}) == (
        "&lt;b&gt;Return&lt;/b&gt; to &lt;i&gt;shop&lt;/i&gt; {unknown}"
    )
