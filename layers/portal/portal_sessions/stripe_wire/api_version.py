"""Stripe API versions: what a request's `Stripe-Version` asks for.

The reference spec is `2026-07-29.dahlia`; `2026-10-28.endive` (what the official SDK 16.x sends, and the
default here) adds the `after_expiration` parameter and field and the `customer_update` and
`subscription_pause` flow types. Requests pinned to an older version get the older behaviour.
"""

from __future__ import annotations

import re

from ..runtime.errors import InvalidRequestError

LATEST = "2026-10-28.endive"
RECOVERY_AND_NEW_FLOWS = "2026-10-28"
_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\.[a-z]+)?")


def requested_version(header: str | None) -> str:
    """The version's date part (`YYYY-MM-DD`); no header means the latest."""
    value = (header or LATEST).strip()
    match = _VERSION.fullmatch(value)
    if match is None:
        raise InvalidRequestError(f"Invalid Stripe API version: {value[:100]}", param="Stripe-Version")
    return match.group(1)


def answered_version(header: str | None) -> str | None:
    """What an answer's `Stripe-Version` header says, as Stripe's do: the version asked for, else the default;
    None for a malformed one (refused)."""
    value = (header or LATEST).strip()
    return value if _VERSION.fullmatch(value) else None


def has_recovery_and_new_flows(version: str) -> bool:
    return version >= RECOVERY_AND_NEW_FLOWS
