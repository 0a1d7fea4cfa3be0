"""The catalogs of the customer's pages, and the choice of one: every locale Stripe's session `locale` takes has a
catalog, every catalog has the same strings with the same placeholders, and `Accept-Language` picks the best one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portal_sessions.api_gateway import page_locales
from portal_sessions.api_gateway.page_locales import CATALOG_DIR, negotiate, page_locale, text_direction
from portal_sessions.api_gateway.pages import PLACEHOLDER
from tests.support.contract import published_component

STRIPE_LOCALES = [tag for tag in published_component("billing_portal.session")["properties"]["locale"]["enum"]]
CATALOGS = sorted(path.stem for path in CATALOG_DIR.glob("*.json"))
ENGLISH = json.loads((CATALOG_DIR / "en.json").read_text(encoding="utf-8"))
ENGLISH_VARIANTS = {tag for tag in CATALOGS if tag.startswith("en-")}


def texts_of(tag: str) -> dict[str, str]:
    texts: dict[str, str] = json.loads((CATALOG_DIR / f"{tag}.json").read_text(encoding="utf-8"))
    return texts


def test_stripe_lists_the_locales_of_the_seed() -> None:
    # The enum these tests hold the catalogs to is Stripe's published one, `auto` and all
    assert STRIPE_LOCALES[:3] == ["auto", "bg", "cs"] and len(STRIPE_LOCALES) == 47


def test_every_stripe_locale_has_a_catalog() -> None:
    missing = [tag for tag in STRIPE_LOCALES if tag != "auto" and tag not in CATALOGS]

    assert missing == []


@pytest.mark.parametrize("tag", CATALOGS)
def test_every_catalog_has_the_english_strings_and_placeholders(tag: str) -> None:
    texts = texts_of(tag)

    assert list(texts) == list(ENGLISH), "the same keys, in the same order"
    for key, text in texts.items():
        assert isinstance(text, str) and text.strip() == text != "", key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(ENGLISH[key])), key
        # No brace but a placeholder's: a typo such as `{Site}` or `{site` would show as written
        assert "{" not in PLACEHOLDER.sub("", text) and "}" not in PLACEHOLDER.sub("", text), key


@pytest.mark.parametrize("tag", sorted(set(CATALOGS) - ENGLISH_VARIANTS - {"en"}))
def test_every_other_language_is_translated(tag: str) -> None:
    # A file copied from English and left untranslated would pass the key check
    untranslated = [key for key, text in texts_of(tag).items() if text == ENGLISH[key]]

    assert untranslated == []


@pytest.mark.parametrize("tag", CATALOGS)
def test_catalog_names_are_language_tags_and_files_are_plain_json(tag: str) -> None:
    assert re.fullmatch(r"[a-z]{2,3}(-[A-Z]{2}|-[A-Za-z]{4}|-\d{3})?", tag)
    raw = (CATALOG_DIR / f"{tag}.json").read_bytes()
    assert raw.decode("utf-8").endswith("}\n")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("de-CH,de;q=0.9", "de"),  # no Swiss German catalog: the language's own
        ("de-CH", "de"),
        ("fr-CA,fr;q=0.8", "fr-CA"),
        ("fr-BE", "fr"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en-GB"),
        ("es-MX", "es-419"),  # Latin American Spanish
        ("es-US", "es-419"),
        ("es-ES", "es"),
        ("pt-PT", "pt"),
        ("pt-BR", "pt-BR"),
        ("zh-CN", "zh"),
        ("zh-Hans-CN", "zh"),
        ("zh-Hant-TW", "zh-TW"),  # Traditional script: not the Simplified `zh`
        ("zh-Hant", "zh-TW"),
        ("zh-MO", "zh-HK"),
        ("ZH-tw", "zh-TW"),  # tags are case-insensitive
        ("nn-NO", "nb"),
        ("no", "nb"),
        ("tl", "fil"),
        ("ar-EG", "ar"),
        ("fr;q=0.5, ja", "ja"),  # by weight
        ("de, fr", "de"),  # ties in order
        ("ja;q=0, fr;q=0.1", "fr"),  # q=0: not acceptable
        ("ja;q=high, it;q=0.2", "it"),  # a malformed weight drops its range
        ("sv;level=1", "sv"),  # other parameters are not weights
        ("xx-YY, tlh", "en"),  # unknown languages
        ("*", "en"),
        ("*, ko;q=0.5", "ko"),
        ("", "en"),
        (None, "en"),
        ("<script>, ja", "ja"),  # not a range: skipped
        (" it-IT ; q=0.7 , ro ; q = 0.8 ", "ro"),
    ],
)
def test_accept_language_picks_the_best_catalog(header: str | None, chosen: str) -> None:
    assert negotiate(header) == chosen


def test_only_the_first_ranges_of_a_long_header_count() -> None:
    header = ",".join(["xx"] * page_locales.MAX_RANGES + ["ja"])

    assert negotiate(header) == "en"


@pytest.mark.parametrize(
    ("session_locale", "header", "chosen"),
    [
        ("fr", "ja", "fr"),  # the session's own locale wins
        ("zh-TW", None, "zh-TW"),
        ("auto", "ja,en;q=0.5", "ja"),  # auto: the browser's
        (None, "ko", "ko"),
        (None, None, "en"),
        ("auto", None, "en"),
    ],
)
def test_a_page_is_in_the_session_locale_else_the_browser_one(
    session_locale: str | None, header: str | None, chosen: str
) -> None:
    assert page_locale(session_locale, header) == chosen


@pytest.mark.parametrize(("tag", "direction"), [("ar", "rtl"), ("he", "rtl"), ("fa-IR", "rtl"), ("fr", "ltr")])
def test_right_to_left_languages(tag: str, direction: str) -> None:
    assert text_direction(tag) == direction


def test_a_team_adds_a_language_by_adding_a_file(team_catalogs: Path) -> None:
    (team_catalogs / "en.json").write_text(json.dumps(ENGLISH))
    assert negotiate("gsw-CH, cy") == "en"

    (team_catalogs / "cy.json").write_text(json.dumps(ENGLISH | {"expired_title": "Mae'r ddolen hon wedi dod i ben"}))
    page_locales.clear_catalog_cache()

    assert negotiate("gsw-CH, cy") == "cy"
    assert page_locales.catalog("cy")["expired_title"] == "Mae'r ddolen hon wedi dod i ben"
