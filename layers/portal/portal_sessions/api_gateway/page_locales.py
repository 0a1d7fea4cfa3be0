"""The languages of the customer's pages: one catalog file per locale in page_texts/ (`<tag>.json`, a team may edit
them or add a language by adding a file), and the choice of one for a request.

Imported on the error path only: a redirect that succeeds never reads a catalog.

`Accept-Language` is negotiated here in a few lines (RFC 9110 weights, RFC 4647 lookup, and the few mappings Stripe's
locale tags need) rather than with langcodes, which gives the same answers but adds about 100 ms (a third of the
floor) to a cold start of the function; Babel is larger still, and neither parses the header's weights.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "page_texts"
DEFAULT_LOCALE = "en"
# Primary language subtags written right to left (CLDR); a catalog in one of them gets dir="rtl".
RIGHT_TO_LEFT = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "syr", "ug", "ur", "yi"})
# Ranges whose best catalog a plain truncation would miss: Traditional Chinese and the Norwegian and Filipino codes.
ALIASES = {"zh-hant": "zh-TW", "zh-hant-hk": "zh-HK", "zh-hant-mo": "zh-HK", "zh-mo": "zh-HK"}
ALIASES |= {"no": "nb", "nn": "nb", "tl": "fil"}
# Regions of Latin America and the Caribbean (and the US) whose Spanish is es-419, as CLDR's parent locales say.
LATIN_AMERICA = frozenset("419 ar bo br bz cl co cr cu do ec gt hn mx ni pa pe pr py sv us uy ve".split())
MAX_RANGES = 20  # a header's first ranges only: no client sends more, and the work stays bounded
_RANGE = re.compile(r"^(?:\*|[a-z]{1,8}(?:-[a-z0-9]{1,8})*)$")
_WEIGHT = re.compile(r"^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


@cache
def available_locales() -> dict[str, str]:
    """Each catalog's tag by its lowercase form (`zh-tw` → `zh-TW`)."""
    return {path.stem.lower(): path.stem for path in CATALOG_DIR.glob("*.json")}


@cache
def catalog(tag: str) -> dict[str, str]:
    """The texts of one locale's catalog."""
    texts: dict[str, str] = json.loads((CATALOG_DIR / f"{tag}.json").read_text(encoding="utf-8"))
    return texts


def clear_catalog_cache() -> None:
    """Forget the catalogs read so far: the next page reads CATALOG_DIR again (tests: a catalog of their own)."""
    available_locales.cache_clear()
    catalog.cache_clear()


def text_direction(tag: str) -> str:
    return "rtl" if tag.split("-", 1)[0].lower() in RIGHT_TO_LEFT else "ltr"


def page_locale(session_locale: str | None, accept_language: str | None) -> str:
    """The session's locale when it has a catalog (not `auto`), else the best match for `Accept-Language`."""
    if session_locale and session_locale != "auto":
        found = available_locales().get(session_locale.lower())
        if found:
            return found
    return negotiate(accept_language)


def negotiate(accept_language: str | None) -> str:
    """The catalog best matching the header: its ranges by weight (ties in order), each looked up exactly, through the
    aliases, then shortened one subtag at a time (`de-CH` → `de`); English when none matches."""
    for language_range in _ranges_by_weight(accept_language or ""):
        found = _lookup(language_range)
        if found:
            return found
    return DEFAULT_LOCALE


def _ranges_by_weight(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:MAX_RANGES]):
        language_range, *parameters = (piece.strip() for piece in part.strip().lower().split(";"))
        if not _RANGE.match(language_range):
            continue
        weight = 1.0
        for parameter in (piece.replace(" ", "") for piece in parameters):
            if parameter.startswith("q="):
                matched = _WEIGHT.match(parameter)
                weight = float(matched.group(1)) if matched else 0.0  # a malformed weight: the range is ignored
        if weight > 0 and language_range != "*":
            weighted.append((-weight, position, language_range))
    return [language_range for _weight, _position, language_range in sorted(weighted)]


def _lookup(language_range: str) -> str | None:
    available = available_locales()
    subtags = language_range.split("-")
    if subtags[0] == "es" and any(subtag in LATIN_AMERICA for subtag in subtags[1:]) and "es-419" in available:
        return available["es-419"]
    while subtags:
        candidate = "-".join(subtags)
        found = available.get(ALIASES.get(candidate, candidate).lower())
        if found:
            return found
        subtags.pop()
    return None
