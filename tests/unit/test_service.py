"""The use cases' checks that need no storage: they must answer before the store is ever touched."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest

from portal_sessions.auth import Caller
from portal_sessions.errors import InvalidRequestError, SessionNotFoundError
from portal_sessions.links import check_session, visit_session
from portal_sessions.params import parse_create_params
from portal_sessions.service import create_session
from portal_sessions.tokens import new_url_token

NOW = 1_767_225_600
TEST_CALLER = Caller(livemode=False, key_fingerprint="0123456789ab")


class UntouchableStore:
    """Any use of the store fails the test: it proves a request was answered without storage."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"the store was used: {name}")


MALFORMED_TOKENS = [
    pytest.param("", id="empty"),
    pytest.param("short", id="short"),
    pytest.param("A" * 42, id="42-chars"),
    pytest.param("A" * 44, id="44-chars"),
    pytest.param("A" * 42 + "+", id="plus"),
    pytest.param("A" * 42 + "=", id="padding"),
    pytest.param("A" * 42 + "é", id="non-ascii"),
    pytest.param("A" * 43 + "\n", id="trailing-newline"),
    pytest.param("../../" + "A" * 37, id="path-traversal"),
]


@pytest.mark.parametrize("token", MALFORMED_TOKENS)
def test_visit_with_a_malformed_token_is_not_found_without_the_store(token: str) -> None:
    # Given a token that cannot have been issued, and a store that must not be used
    store: Any = UntouchableStore()
    # When the session URL is visited
    # Then it is simply not found
    with pytest.raises(SessionNotFoundError):
        visit_session(token, store, now=NOW, session_ttl_seconds=3600, retention_seconds=7 * 86400)


@pytest.mark.parametrize("token", MALFORMED_TOKENS)
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
        params,
        caller,
        store,
        store,
        now=NOW,
        link_ttl_seconds=300,
        session_ttl_seconds=3600,
        base_url="https://api.example.test",
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
