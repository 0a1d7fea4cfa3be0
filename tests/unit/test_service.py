"""The use cases, on in-memory repositories (tests/support/fakes.py): what they store and answer, and the checks
that must answer before the store is ever touched."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest

from portal_sessions.domain.auth import Caller
from portal_sessions.domain.configuration import DEFAULT_CONFIGURATION_IDS, default_configuration
from portal_sessions.domain.session import SessionExpiredError
from portal_sessions.domain.tokens import new_object_id, new_url_token, url_token_hash
from portal_sessions.runtime.errors import InvalidRequestError, ResourceMissingError, SessionNotFoundError
from portal_sessions.stripe_wire.params import parse_create_params
from portal_sessions.use_cases.links import check_session, visit_session
from portal_sessions.use_cases.service import (
    SESSION_URL_PATH,
    CreatedSession,
    CreateSessionRequest,
    SessionLifetimes,
    create_session,
    expire_session,
    retrieve_session,
)
from tests.support.factories import MALFORMED_URL_TOKENS
from tests.support.fakes import FakeConfigurationStore, FakeSessionStore

NOW = 1_767_225_600
TEST_CALLER = Caller(livemode=False, key_fingerprint="0123456789ab")


class UntouchableStore:
    """Any use of the store fails the test: it proves a request was answered without storage."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"the store was used: {name}")


@pytest.mark.parametrize("token", MALFORMED_URL_TOKENS)
def test_visit_with_a_malformed_token_is_not_found_without_the_store(token: str) -> None:
    # Given a token that cannot have been issued, and a store that must not be used
    store: Any = UntouchableStore()
    # When the session URL is visited
    # Then it is simply not found
    with pytest.raises(SessionNotFoundError):
        visit_session(token, store, now=NOW, session_ttl_seconds=3600, retention_seconds=7 * 86400)


@pytest.mark.parametrize("token", MALFORMED_URL_TOKENS)
def test_check_with_a_malformed_token_is_not_found_without_the_store(token: str) -> None:
    # Given a token that cannot have been issued, and a store that must not be used
    store: Any = UntouchableStore()
    # When the session URL is checked (HEAD)
    # Then it is simply not found
    with pytest.raises(SessionNotFoundError):
        check_session(token, store, now=NOW)


@pytest.mark.parametrize("use_case", ["visit", "check"])
def test_well_formed_token_does_reach_the_store(use_case: str) -> None:
    # Given a well-formed token (the control for the tests above: the untouchable store does notice use)
    store: Any = UntouchableStore()
    token = new_url_token()
    # When the session URL is visited or checked
    # Then the store is consulted
    with pytest.raises(AssertionError, match="the store was used"):
        if use_case == "visit":
            visit_session(token, store, now=NOW, session_ttl_seconds=3600, retention_seconds=7 * 86400)
        else:
            check_session(token, store, now=NOW)


def create(raw: dict[str, Any], caller: Caller = TEST_CALLER) -> Any:
    store: Any = UntouchableStore()
    params = parse_create_params(raw)
    return create_session(
        CreateSessionRequest(
            params, caller, now=NOW, lifetimes=SessionLifetimes(300, 3600), base_url="https://api.example.test"
        ),
        store,
        store,
    )


@pytest.mark.parametrize("field", ["customer", "url", "flow.after_completion", "configuration.features"])
def test_create_refuses_to_expand_anything_but_configuration_and_flow(field: str) -> None:
    # Given a request to expand a field that is not expandable
    raw = {"customer": "cus_1", "return_url": "https://example.com", "expand": [field]}
    # When the session is created
    with pytest.raises(InvalidRequestError) as raised:
        create(raw)
    # Then expand is named and nothing is stored
    assert raised.value.http_status == 400
    assert raised.value.param == "expand"
    assert raised.value.message == f"This property cannot be expanded ({field})."


def test_create_with_valid_params_does_reach_the_store() -> None:
    # Given valid params (the control for the refusals above)
    raw = {"customer": "cus_1", "return_url": "https://example.com", "expand": ["configuration", "flow"]}
    # When the session is created
    # Then the stores are used (for the configuration, then to save it)
    with pytest.raises(AssertionError, match="the store was used"):
        create(raw)


# The use cases on in-memory repositories

LINK_TTL = 300
SESSION_TTL = 3600
RETENTION = 7 * 86400


@pytest.fixture
def configurations() -> FakeConfigurationStore:
    return FakeConfigurationStore()


@pytest.fixture
def sessions(configurations: FakeConfigurationStore) -> FakeSessionStore:
    return FakeSessionStore(configurations)


def create_on(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore, raw: dict[str, Any], *, now: int = NOW
) -> CreatedSession:
    return create_session(
        CreateSessionRequest(
            parse_create_params(raw),
            TEST_CALLER,
            now=now,
            lifetimes=SessionLifetimes(LINK_TTL, SESSION_TTL, RETENTION),
            base_url="https://api.example.test",
        ),
        sessions,
        configurations,
    )


def token_of(created: CreatedSession) -> str:
    url: str = created.api_object["url"]
    return url.rsplit(SESSION_URL_PATH, 1)[1]


def a_configuration(configurations: FakeConfigurationStore, **changes: Any) -> str:
    configuration = default_configuration(livemode=False, now=NOW) | {"id": new_object_id("bpc"), "is_default": False}
    configurations.put_new(configuration | changes)
    return str(configuration["id"])


def test_create_without_a_configuration_makes_the_default_then_stores_the_session(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    # Given no configuration at all
    # When a session is created without naming one
    created = create_on(sessions, configurations, {"customer": "cus_1", "return_url": "https://example.com/back"})

    # Then the mode's default configuration now exists, and the session is stored under its URL token's hash
    default_id = DEFAULT_CONFIGURATION_IDS[False]
    assert configurations.get(default_id) is not None
    token = token_of(created)
    stored = sessions.find(url_token_hash(token))
    assert stored == created.session
    assert (stored.configuration, stored.customer, stored.return_url) == (
        default_id,
        "cus_1",
        "https://example.com/back",
    )
    assert (stored.created, stored.expires_at, stored.visited_at) == (NOW, NOW + LINK_TTL, None)
    assert stored.purge_at == NOW + LINK_TTL + SESSION_TTL + RETENTION
    assert created.api_object["status"] == "open" and created.api_object["configuration"] == default_id


def test_once_the_default_is_seen_a_create_stores_without_checking_it(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    # Given a first create, which checked the default configuration in its write (and found none)
    create_on(sessions, configurations, {"customer": "cus_1", "return_url": "https://example.com"})
    assert sessions.writes_with_requirement == 1
    # When another session is created without naming a configuration
    create_on(sessions, configurations, {"customer": "cus_2", "return_url": "https://example.com"})
    # Then it is stored without checking the configuration again (a plain put)
    assert sessions.writes_with_requirement == 1
    assert sorted(session.customer or "" for session in sessions.sessions.values()) == ["cus_1", "cus_2"]


def test_a_flow_on_the_default_configuration_is_checked_even_once_the_default_is_seen(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    # Given the default configuration is known, then its subscription_cancel feature turned off
    create_on(sessions, configurations, {"customer": "cus_1", "return_url": "https://example.com"})
    assert configurations.default_known(livemode=False)
    default_id = DEFAULT_CONFIGURATION_IDS[False]
    stored = configurations.configurations[default_id]
    features = stored.configuration["features"] | {"subscription_cancel": {"enabled": False}}
    configurations.replace(stored.configuration | {"features": features}, stored.version)

    # When a session with a subscription_cancel flow is created without naming a configuration
    flow = {"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_1"}}
    with pytest.raises(InvalidRequestError) as refused:
        create_on(
            sessions, configurations, {"customer": "cus_2", "return_url": "https://example.com", "flow_data": flow}
        )

    # Then the feature was checked in the write, and the session refused
    assert sessions.writes_with_requirement == 2
    assert refused.value.param == "flow_data[type]"
    assert len(sessions.sessions) == 1


def test_create_with_a_named_configuration_checks_it_in_the_same_write(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    # Given a configuration of the caller's mode
    configuration_id = a_configuration(configurations)
    # When a session is created with it
    created = create_on(
        sessions,
        configurations,
        {"customer": "cus_1", "return_url": "https://example.com", "configuration": configuration_id},
    )
    # Then it is the session's configuration, checked in the session's own write
    assert sessions.writes_with_requirement == 1
    assert sessions.find(url_token_hash(token_of(created))) == created.session
    assert created.session.configuration == configuration_id
    assert created.api_object["configuration"] == configuration_id


def test_create_with_an_inactive_configuration_is_refused_and_stores_nothing(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    # Given an inactive configuration
    configuration_id = a_configuration(configurations, active=False)
    # When a session is created with it
    with pytest.raises(InvalidRequestError) as refused:
        create_on(
            sessions,
            configurations,
            {"customer": "cus_1", "return_url": "https://example.com", "configuration": configuration_id},
        )
    # Then the configuration is named as not active, and no session is stored
    assert refused.value.param == "configuration"
    assert "is not active" in refused.value.message
    assert sessions.sessions == {}


def test_create_with_an_unknown_configuration_is_resource_missing(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    with pytest.raises(ResourceMissingError) as missing:
        create_on(
            sessions,
            configurations,
            {"customer": "cus_1", "return_url": "https://example.com", "configuration": "bpc_Nope"},
        )

    assert (missing.value.param, missing.value.http_status) == ("configuration", 400)
    assert sessions.sessions == {}


def visit(sessions: FakeSessionStore, token: str, now: int) -> Any:
    return visit_session(token, sessions, now=now, session_ttl_seconds=SESSION_TTL, retention_seconds=RETENTION)


def test_the_first_visit_starts_the_session_and_a_revisit_finds_it_unchanged(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    # Given a created session
    created = create_on(sessions, configurations, {"customer": "cus_1", "return_url": "https://example.com"})
    token = token_of(created)

    # When its URL is first visited
    first = visit(sessions, token, NOW + 10)

    # Then the visit is the first, and the session's lifetime starts from it
    assert first.first and not first.recovery
    assert (first.session.visited_at, first.session.expires_at) == (NOW + 10, NOW + 10 + SESSION_TTL)
    assert sessions.find(url_token_hash(token)) == first.session

    # When it is visited again
    again = visit(sessions, token, NOW + 20)

    # Then it is the same session, not a first visit, and nothing moved
    assert not again.first
    assert again.session == first.session


def test_a_visit_after_the_link_expired_is_expired_with_the_return_url(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    created = create_on(sessions, configurations, {"customer": "cus_1", "return_url": "https://example.com/back"})

    with pytest.raises(SessionExpiredError) as expired:
        visit(sessions, token_of(created), NOW + LINK_TTL)

    assert expired.value.return_url == "https://example.com/back"
    assert sessions.find(url_token_hash(token_of(created))) == created.session  # the visit recorded nothing


def test_a_visit_of_an_unknown_token_is_not_found(sessions: FakeSessionStore) -> None:
    with pytest.raises(SessionNotFoundError):
        visit(sessions, new_url_token(), NOW)


def test_retrieve_then_expire_then_expire_again(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    # Given a created session
    created = create_on(sessions, configurations, {"customer": "cus_1", "return_url": "https://example.com"})
    session_id = created.session.id

    # When it is retrieved, it is open and shows no URL
    shown = retrieve_session(session_id, TEST_CALLER, sessions, now=NOW + 1)
    assert (shown["id"], shown["status"], shown["url"]) == (session_id, "open", None)

    # When it is expired, it ends now
    ended = expire_session(session_id, TEST_CALLER, sessions, now=NOW + 2)
    assert (ended["status"], ended["expires_at"]) == ("expired", NOW + 2)
    assert retrieve_session(session_id, TEST_CALLER, sessions, now=NOW + 3)["status"] == "expired"
    with pytest.raises(SessionExpiredError):
        visit(sessions, token_of(created), NOW + 3)

    # When it is expired again, that is refused
    with pytest.raises(InvalidRequestError, match="already expired"):
        expire_session(session_id, TEST_CALLER, sessions, now=NOW + 4)


def test_retrieve_of_an_unknown_or_other_mode_session_is_404(
    sessions: FakeSessionStore, configurations: FakeConfigurationStore
) -> None:
    created = create_on(sessions, configurations, {"customer": "cus_1", "return_url": "https://example.com"})
    live_caller = Caller(livemode=True, key_fingerprint="0123456789ab")

    for session_id, caller in (("bps_" + "A" * 43, TEST_CALLER), (created.session.id, live_caller)):
        with pytest.raises(ResourceMissingError) as missing:
            retrieve_session(session_id, caller, sessions, now=NOW)
        assert missing.value.http_status == 404
