"""Domain objects for tests, each from one set of defaults: a test names only the fields its meaning depends on; and
the malformed inputs more than one layer is tested with."""

from __future__ import annotations

from typing import Any

import pytest

from portal_sessions.domain.configuration import DEFAULT_CONFIGURATION_IDS
from portal_sessions.domain.session import PortalSession

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


# Strings that cannot be a URL token this service issued (43 characters of base64url), for pytest.mark.parametrize.
MALFORMED_URL_TOKENS = [
    pytest.param("", id="empty"),
    pytest.param("short", id="short"),
    pytest.param("A" * 42, id="too-short"),
    pytest.param("A" * 44, id="too-long"),
    pytest.param("A" * 42 + "=", id="padding"),
    pytest.param("A" * 42 + "+", id="plus"),
    pytest.param("A" * 42 + "/", id="slash"),
    pytest.param("A" * 42 + ".", id="dot"),
    pytest.param("A" * 42 + "é", id="non-ascii"),
    pytest.param("A" * 43 + "\n", id="trailing-newline"),
    pytest.param("../" + "A" * 40, id="path"),
    pytest.param("../../" + "A" * 37, id="path-traversal"),
]
