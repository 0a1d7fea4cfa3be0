"""Function settings: read from the environment, and a bad deploy named clearly instead of failing later."""

from __future__ import annotations

import pytest

from portal_sessions.runtime.errors import ConfigurationError
from portal_sessions.runtime.settings import CreateSessionSettings, RedirectSettings, settings_from

NOT_A_URL = "must be an http(s) URL of at most 512 characters"
REDIRECT_ENV = {
    "TABLE_NAME": "portal-sessions",
    "PORTAL_URL": "https://portal.example.com/session",
    "PORTAL_LOGIN_URL": "https://portal.example.com/login",
    "HANDOFF_SECRET_ID": "portal/handoff",
    "TEST_HANDOFF_SECRET_ID": "portal/test-handoff",
}


def test_values_and_defaults_come_from_upper_case_variables() -> None:
    settings = settings_from(RedirectSettings, {**REDIRECT_ENV, "SESSION_TTL_SECONDS": "600", "UNRELATED": "x"})

    assert settings.table_name == "portal-sessions"
    assert settings.portal_url == "https://portal.example.com/session"
    assert settings.session_ttl_seconds == 600
    assert settings.handoff_ttl_seconds == 60  # the default


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"TABLE_NAME": "ab"}, "TABLE_NAME: must be at least 3 characters"),
        ({"PORTAL_URL": "portal.example.com"}, "PORTAL_URL: " + NOT_A_URL),
        (
            {"PORTAL_URL": "https://portal.example.com\n"},
            "PORTAL_URL: " + NOT_A_URL,
        ),
        (
            {"PORTAL_URL": "https://portal.example.com/" + "x" * 486},
            "PORTAL_URL: " + NOT_A_URL,
        ),
        (
            {"TEST_PORTAL_URL": "javascript:alert(1)"},
            "TEST_PORTAL_URL: " + NOT_A_URL,
        ),
        ({"SESSION_TTL_SECONDS": "59"}, "SESSION_TTL_SECONDS: must be between 60 and 604800"),
        ({"HANDOFF_TTL_SECONDS": "1e3"}, "HANDOFF_TTL_SECONDS: must be an integer"),
    ],
)
def test_a_bad_value_is_named(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings_from(RedirectSettings, {**REDIRECT_ENV, **changes})

    assert str(raised.value) == f"invalid function settings: {problem}"


def test_every_missing_required_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings_from(CreateSessionSettings, {"LINK_TTL_SECONDS": "5"})

    assert str(raised.value) == (
        "invalid function settings: TABLE_NAME: required; API_KEYS_PARAMETER: required; "
        "LINK_TTL_SECONDS: must be between 10 and 86400"
    )


def test_settings_cannot_change_once_read() -> None:
    settings = settings_from(RedirectSettings, REDIRECT_ENV)

    with pytest.raises(AttributeError):
        settings.portal_url = "https://elsewhere.example.com"  # type: ignore[misc]


def test_test_mode_portal_urls_default_to_the_live_ones() -> None:
    settings = settings_from(RedirectSettings, REDIRECT_ENV)
    assert settings.portal_url_for(False) == settings.portal_url_for(True) == "https://portal.example.com/session"
    assert settings.portal_login_url_for(False) == "https://portal.example.com/login"

    test_portal = {
        "TEST_PORTAL_URL": "https://test.example.com/s",
        "TEST_PORTAL_LOGIN_URL": "https://test.example.com/l",
    }
    separate = settings_from(RedirectSettings, {**REDIRECT_ENV, **test_portal})
    assert (separate.portal_url_for(False), separate.portal_url_for(True)) == (
        "https://test.example.com/s",
        "https://portal.example.com/session",
    )
    assert separate.portal_login_url_for(False) == "https://test.example.com/l"
