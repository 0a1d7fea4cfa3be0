"""What create and the redirect run before a SnapStart snapshot (snapstart.py), so that the first request of a
restored copy finds its modules imported, its models built, its clients made and its code paths run once.

Only local work, on made-up values: no AWS call (no table write, no SSM or Secrets Manager read), and every key
used is random and thrown away. The calls a first request makes (DynamoDB's, and the SSM and Secrets Manager reads of
the keys) run once through botocore's Stubber, which answers each call itself (or raises) and never sends one:
botocore's first call of an operation resolves the endpoint, builds the serialiser and fills its event caches, work a
restored copy's first request then skips. DynamoDB's are made by the requests' own code (the use cases and stores),
as a request makes them: botocore builds the models of the shapes a call's parameters use, and caches the endpoint
rules' result per set of parameters (for a transaction, its number of items), the first time it sees them. Nothing
reaches DynamoDB, SSM or Secrets Manager, and nothing is cached: no key, and no default configuration seen.

The keys, which priming may not read, are read after each restore (`read_create_keys`, `read_redirect_keys`,
registered by the handlers through snapstart.read_after_restore), before the restored copy's first request. What that
request still does that a warm one does not: count its cold start (Powertools' `ColdStart`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..domain.session import PortalSession
from ..domain.tokens import new_object_id, new_url_token, session_id_for, url_token_hash
from ..runtime import clock
from ..runtime.parameter_providers import secrets_provider, ssm_parameters
from ..store.items import session_from_item, session_item
from ..store.table import dynamodb_client

if TYPE_CHECKING:
    from ..domain.auth import Caller

# A create as Stripe's SDKs send it (form-encoded), with a flow, so the nested models validate too.
_CREATE_BODY = (
    "customer=cus_Priming&return_url=https%3A%2F%2Fexample.com%2Faccount&locale=en"
    "&flow_data[type]=subscription_cancel&flow_data[subscription_cancel][subscription]=sub_Priming"
    "&flow_data[after_completion][type]=redirect"
    "&flow_data[after_completion][redirect][return_url]=https%3A%2F%2Fexample.com%2Fdone"
)


def _session(now: int) -> tuple[PortalSession, str]:
    """A session as create stores it and the redirect reads it back, with its URL token's hash."""
    token_hash = url_token_hash(new_url_token())
    session = PortalSession(
        id=session_id_for(token_hash),
        livemode=False,
        customer="cus_Priming",
        customer_account=None,
        configuration=new_object_id("bpc"),
        flow=None,
        locale="en",
        on_behalf_of=None,
        return_url="https://example.com/account",
        created=now,
        expires_at=now + 300,
        purge_at=now + 3600,
    )
    stored = session_from_item(session_item(session, token_hash, purge_shards=32))
    return stored, token_hash


@contextmanager
def _answered_locally(client: Any, responses: list[tuple[str, dict[str, Any]]]) -> Iterator[None]:
    """The client's calls answered by botocore's Stubber, in order, with these responses: nothing is sent.
    Stubbed calls still validate and serialise their parameters and resolve their endpoint, the first-call work
    (shape models, serialisers, endpoint rules per set of context parameters) a restored copy's request then skips."""
    from botocore.stub import Stubber

    with Stubber(client) as stubber:
        for operation, response in responses:
            stubber.add_response(operation, response)
        yield
        stubber.assert_no_pending_responses()


def _warm_parameter_clients(parameter_name: str | None, secret_ids: tuple[str, ...]) -> None:
    """The SSM and Secrets Manager clients' first calls, stubbed: through the clients, not Powertools' providers,
    so no value is cached, and no request reaches either service."""
    if parameter_name is not None:
        with _answered_locally(ssm_parameters().client, [("get_parameter", {})]):
            ssm_parameters().client.get_parameter(Name=parameter_name)
    for secret_id in secret_ids:
        with _answered_locally(secrets_provider().client, [("get_secret_value", {})]):
            secrets_provider().client.get_secret_value(SecretId=secret_id)


def _priming_caller() -> Caller:
    """A test-mode caller with a throwaway sealing key (a real one is derived from the request's API key)."""
    from ..domain.auth import Caller
    from ..domain.sealing import derive_key

    return Caller(livemode=False, key_fingerprint="priming", sealing_key=derive_key(secrets.token_urlsafe(32), "p"))


def _create_event(idempotency_key: str | None) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    return {
        "requestContext": {"http": {"method": "POST"}, "stage": "$default"},
        "rawPath": "/v1/billing_portal/sessions",
        "headers": headers,
        "body": _CREATE_BODY,
        "isBase64Encoded": False,
    }


def _prime_create_request(table_name: str, purge_shards: int, idempotency_key: str | None) -> None:
    """One create through the handler's own steps (parameters, the idempotency claim, the use case, the sealed
    completion, the JSON answer), with DynamoDB answered locally: the requests create makes, with the same
    parameters and as many transaction items (their count selects the endpoint rules' cached result)."""
    from ..domain.session import RequestRef
    from ..runtime.observability import logger, metrics
    from ..store.configurations import ConfigurationStore
    from ..store.sessions import SessionStore
    from ..stripe_wire.params import parse_create_params
    from ..use_cases.idempotency import IdempotencyClaim, OperationResult
    from ..use_cases.service import CreateSessionRequest, SessionLifetimes, create_session
    from .api import ApiRequest, body_params, idempotent_response

    caller = _priming_caller()
    request = ApiRequest.from_event(_create_event(idempotency_key))
    raw_params = body_params(request)
    # A named configuration: the mode's default is never remembered as seen by a snapshot.
    params = parse_create_params({**raw_params, "configuration": new_object_id("bpc")}, request.api_version)

    def create(claim: IdempotencyClaim | None) -> OperationResult:
        created = create_session(
            CreateSessionRequest(
                params,
                caller,
                now=clock.now(),
                lifetimes=SessionLifetimes(300, 3600),
                base_url="https://example.com",
                api_version=request.api_version,
                request=RequestRef("priming", idempotency_key),
                idempotency=claim,
            ),
            SessionStore(table_name, purge_shards=purge_shards),
            ConfigurationStore(table_name),
        )
        logger.append_keys(session_id=created.session.id)  # as the handler does (priming clears both after)
        metrics.add_metric(name="SessionsCreated", unit="Count", value=1)
        return OperationResult(created.api_object, record_completed=created.record_completed)

    # with a key: the claim (PutItem), then the session, its configuration's check and the record's completion in
    # one transaction (3 items); without: the session and the check (2 items)
    calls: list[tuple[str, dict[str, Any]]] = [("transact_write_items", {})]
    if idempotency_key is not None:
        calls.insert(0, ("put_item", {}))
    with _answered_locally(dynamodb_client(), calls):
        idempotent_response(request, caller, raw_params, table_name, None, create)


def _prime_default_configuration_writes(table_name: str, purge_shards: int) -> None:
    """On the mode's default configuration once seen, create stores the session alone (PutItem) or with its record's
    completion (2 items); and a configuration read (GetItem)."""
    from ..domain.session import RequestRef
    from ..store.configurations import ConfigurationStore
    from ..store.idempotency import Claim
    from ..store.sessions import NewSession, SessionStore
    from ..use_cases.idempotency import IdempotencyClaim

    now = clock.now()
    session, token_hash = _session(now)
    claim = IdempotencyClaim(Claim("idempotency#priming", now * 1000), _priming_caller().sealing_key, now + 60, "p")
    completion = claim.completion({"id": session.id})
    sessions = SessionStore(table_name, purge_shards=purge_shards)
    with _answered_locally(dynamodb_client(), [("put_item", {}), ("transact_write_items", {}), ("get_item", {})]):
        sessions.put_new(NewSession(session, token_hash, request=RequestRef("priming")))
        sessions.put_new(NewSession(session, token_hash, completion=completion, request=RequestRef("priming", "k")))
        ConfigurationStore(table_name).get(new_object_id("bpc"))


def _prime_observability(event: dict[str, Any]) -> None:
    """What a request's logging and metrics run once per environment, emitting nothing: the correlation id's JMESPath
    expression compiled (jmespath caches it), a log line formatted and a metric serialised but neither printed (the
    caller clears the metric)."""
    import logging

    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.utilities.jmespath_utils import query

    from ..runtime.observability import logger, metrics

    query(data=event, envelope=correlation_paths.API_GATEWAY_HTTP)
    logger.registered_formatter.format(logging.makeLogRecord({"msg": "priming", "levelno": 20, "levelname": "INFO"}))
    metrics.add_metric(name="Priming", unit="Count", value=1)
    metrics.serialize_metric_set()


def prime_create() -> None:
    from ..domain.auth import key_hash
    from ..domain.handoff import check_handoff_size
    from ..domain.sealing import derive_key, seal, unseal
    from ..runtime.settings import create_session_settings
    from .api import json_response

    now = clock.now()
    session, _ = _session(now)
    check_handoff_size(session)
    response = json_response(200, session.to_api_object("https://example.com/p/session/x", now=now))
    key_hash("sk_test_" + secrets.token_urlsafe(24))
    # the cipher of idempotent requests: sealed and opened once with a throwaway key
    key = derive_key(secrets.token_urlsafe(32), "priming")
    unseal(seal(json.dumps(response), key), key)
    settings = create_session_settings()
    _warm_parameter_clients(settings.api_keys_parameter, ())
    for idempotency_key in (secrets.token_hex(8), None):
        _prime_create_request(settings.table_name, settings.purge_shards, idempotency_key)
    _prime_default_configuration_writes(settings.table_name, settings.purge_shards)
    _prime_observability(_create_event(None))


def prime_redirect() -> None:
    from ..domain.handoff import Keyring, issue_handoff_token
    from ..domain.session import RequestRef
    from ..runtime.settings import redirect_settings
    from ..store.sessions import SessionStore
    from ..use_cases.links import check_session, visit_session
    from .pages import expired_page, not_found_page, unavailable_page

    now = clock.now()
    session, _ = _session(now)
    keyring = Keyring(signing_kid="priming", keys={"priming": secrets.token_urlsafe(48)})
    issue_handoff_token(session, now=now, ttl_seconds=60, keyring=keyring)
    issue_handoff_token(session, now=now, ttl_seconds=60, keyring=keyring, recovery=True)
    # the pages of links that cannot be used, in a negotiated language
    not_found_page("fr-CH, fr;q=0.9"), unavailable_page(None)
    expired_page(session.return_url, session_locale=session.locale, accept_language="de-CH, de;q=0.9")
    settings = redirect_settings()
    _warm_parameter_clients(None, (settings.handoff_secret_id,))
    # a first visit (UpdateItem, answered with the session's item) and a HEAD check (GetItem), through the use case
    token = new_url_token()
    visited = session_item(session, url_token_hash(token), purge_shards=32)
    store = SessionStore(settings.table_name)
    with _answered_locally(
        dynamodb_client(), [("update_item", {"Attributes": visited}), ("get_item", {"Item": visited})]
    ):
        visit_session(
            token,
            store,
            now=now,
            session_ttl_seconds=settings.session_ttl_seconds,
            retention_seconds=settings.expired_retention_seconds,
            request=RequestRef("priming"),
        )
        check_session(token, store, now=now)
    # the portal's URLs, parsed once each (urlsplit caches what it parsed) as the hand-off's redirect parses them
    for livemode in (False, True):
        urlsplit(settings.portal_url_for(livemode)), urlsplit(settings.portal_login_url_for(livemode))
    _prime_observability({"requestContext": {"requestId": "priming"}})


def read_create_keys() -> None:
    """After a restore: the API keys' digests, into the cache create's requests read them from (its max age holds)."""
    from ..domain.auth import load_key_hashes
    from ..runtime.settings import create_session_settings

    load_key_hashes(create_session_settings().api_keys_parameter)


def read_redirect_keys() -> None:
    """After a restore: both modes' hand-off keyrings, into the cache the redirect's requests read them from."""
    from ..domain.handoff import load_keyring
    from ..runtime.settings import redirect_settings

    settings = redirect_settings()
    load_keyring(settings.handoff_secret_id)
    load_keyring(settings.test_handoff_secret_id)
