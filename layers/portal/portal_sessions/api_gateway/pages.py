"""The small HTML pages a customer sees when a session link cannot be used, in the customer's language.

Their texts come from the catalogs of page_locales.py. The redirect imports this module only when it shows a page (a
link that works never does), so neither it nor a catalog costs a cold start. Every text and value is escaped here, so
neither a catalog nor a configuration can put markup into a page. Their headers are html_headers.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from . import page_locales

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

_PAGE = """<!doctype html>
<html lang="{lang}"{direction}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 15vh auto; padding: 0 1rem; color: #1a1f36; }}
h1 {{ font-size: 1.4rem; }}
a {{ color: #635bff; }}
.business {{ font-weight: 600; color: #3c4257; }}
.policies {{ font-size: 0.875rem; margin-top: 2rem; }}
.policies a {{ margin-inline-end: 1rem; }}
</style>
</head>
<body>
{business}<h1>{title}</h1>
<p>{message}</p>
{links}</body>
</html>
"""


@dataclass(frozen=True)
class Page:
    html: str
    language: str  # the catalog's tag: the page's `lang` and its response's Content-Language


@dataclass(frozen=True)
class BusinessProfile:
    """What the expired page shows of the session's configuration (its `business_profile`)."""

    headline: str | None = None
    privacy_policy_url: str | None = None
    terms_of_service_url: str | None = None

    @classmethod
    def of_configuration(cls, configuration: dict[str, Any]) -> BusinessProfile:
        profile = configuration.get("business_profile") or {}
        return cls(profile.get("headline"), profile.get("privacy_policy_url"), profile.get("terms_of_service_url"))


def not_found_page(accept_language: str | None) -> Page:
    return _render("not_found", page_locales.page_locale(None, accept_language))


def expired_page(
    return_url: str | None,
    *,
    session_locale: str | None,
    accept_language: str | None,
    business: BusinessProfile | None = None,
) -> Page:
    return _render("expired", page_locales.page_locale(session_locale, accept_language), return_url, business)


def unavailable_page(accept_language: str | None) -> Page:
    return _render("unavailable", page_locales.page_locale(None, accept_language))


def fill(text: str, values: dict[str, str]) -> str:
    """A catalog text as HTML: the text escaped, then each `{name}` replaced by its value, escaped too (an unknown
    name stays as written)."""
    return PLACEHOLDER.sub(lambda found: escape(values.get(found.group(1), found.group(0))), escape(text))


def _render(
    kind: str,
    tag: str,
    return_url: str | None = None,
    business: BusinessProfile | None = None,
) -> Page:
    texts = page_locales.catalog(tag)
    business = business or BusinessProfile()
    links = []
    if return_url:
        site = urlsplit(return_url).hostname or return_url
        links.append(f'<p><a href="{escape(return_url)}">{fill(texts["return_link"], {"site": site})}</a></p>\n')
    policy_urls = {"privacy_policy": business.privacy_policy_url, "terms_of_service": business.terms_of_service_url}
    policies = [f'<a href="{escape(url)}">{fill(texts[key], {})}</a>' for key, url in policy_urls.items() if url]
    if policies:
        links.append(f'<p class="policies">{" ".join(policies)}</p>\n')
    html = _PAGE.format(
        lang=escape(tag),
        direction=' dir="rtl"' if page_locales.text_direction(tag) == "rtl" else "",
        title=fill(texts[f"{kind}_title"], {}),
        message=fill(texts[f"{kind}_message"], {}),
        business=f'<p class="business">{escape(business.headline)}</p>\n' if business.headline else "",
        links="".join(links),
    )
    return Page(html, tag)
