"""Domain objects for tests, each from one set of defaults: a test names only the fields its meaning depends on."""

from __future__ import annotations

from typing import Any

from portal_sessions.configuration import DEFAULT_CONFIGURATION_IDS
from portal_sessions.session import PortalSession

CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z
LINK_TTL_SECONDS = 300  # the test environment's LINK_TTL_SECONDS

SESSION_DEFAULTS: dict[str, Any] = {
    "id": "bps_123456789012345678901234",
    "livemode": False,
    "customer": "cus_1",
    "customer_account": None,
    "configuration": DEFAULT_CONFIGURATION_IDS[False],
    "flow": None,
    "locale": None,
    "on_behalf_of": None,
    "return_url": "https://example.com/account",
    "created": CREATED,
    "expires_at": CREATED + LINK_TTL_SECONDS,
}


def a_session(**changes: Any) -> PortalSession:
    """A test-mode session for customer `cus_1` on the default configuration, created at CREATED and unvisited, its
    link live for LINK_TTL_SECONDS; `changes` sets any field of PortalSession."""
    return PortalSession(**(SESSION_DEFAULTS | changes))
