"""A new session's transaction (with its configuration's check, or its idempotency record's completion) says which
part failed: the session's own key taken (with the item found, so a retry of a create that landed finds its own
session), the configuration not usable, or the idempotency claim lost."""

from __future__ import annotations

import pytest

from portal_sessions.domain.configuration import default_configuration
from portal_sessions.domain.tokens import new_url_token, session_id_for, url_token_hash
from portal_sessions.runtime.errors import ClaimLostError, ConditionFailedError, ConfigurationCheckFailedError
from portal_sessions.store.configurations import ConfigurationRequirement, ConfigurationStore
from portal_sessions.store.idempotency import Claim, RecordCompletion
from portal_sessions.store.sessions import NewSession, SessionStore
from tests.support.factories import a_session
from tests.support.settings import CLOCK_START

NOW = CLOCK_START


def a_new_session() -> NewSession:
    token_hash = url_token_hash(new_url_token())
    session = a_session(id=session_id_for(token_hash), created=NOW, expires_at=NOW + 300, purge_at=NOW + 7 * 86400)
    return NewSession(session, token_hash)


def test_a_transaction_on_a_taken_key_fails_with_the_item_found(service_env: dict[str, str]) -> None:
    store = SessionStore(service_env["TABLE_NAME"])
    first = a_new_session()
    store.put_new(first)

    with pytest.raises(ConditionFailedError) as failed:
        store.put_new(NewSession(first.session, first.token_hash, ConfigurationRequirement("bpc_any", False, None)))

    assert failed.value.item is not None and failed.value.item["session_id"]["S"] == first.session.id


def test_a_transaction_whose_idempotency_claim_was_lost_says_so(service_env: dict[str, str]) -> None:
    store = SessionStore(service_env["TABLE_NAME"])
    lost = RecordCompletion(Claim("idempotency#lost", 1), {"id": "x"}, NOW + 86400)  # no record holds this claim
    new = a_new_session()

    with pytest.raises(ClaimLostError):
        store.put_new(NewSession(new.session, new.token_hash, completion=lost))


def test_a_session_is_stored_only_with_an_active_configuration_of_its_mode(service_env: dict[str, str]) -> None:
    # Given an active test mode configuration and an inactive one
    configurations = ConfigurationStore(service_env["TABLE_NAME"])
    for configuration_id, active in (("bpc_Active", True), ("bpc_Inactive", False)):
        configurations.put_new(default_configuration(False, NOW) | {"id": configuration_id, "is_default": False,
                                                                    "active": active})  # fmt: skip
    store = SessionStore(service_env["TABLE_NAME"])

    # Then a session naming the active one is stored, and one naming the inactive one (or naming it from live
    # mode) is refused with nothing written
    stored = a_new_session()
    store.put_new(NewSession(stored.session, stored.token_hash, ConfigurationRequirement("bpc_Active", False, None)))
    for requirement in (ConfigurationRequirement("bpc_Inactive", False, None),
                        ConfigurationRequirement("bpc_Active", True, None)):  # fmt: skip
        refused = a_new_session()
        with pytest.raises(ConfigurationCheckFailedError):
            store.put_new(NewSession(refused.session, refused.token_hash, requirement))
        assert store.find(refused.token_hash) is None
    assert store.find(stored.token_hash) is not None
