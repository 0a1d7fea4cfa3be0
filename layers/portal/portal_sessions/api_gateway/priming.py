"""What create and the redirect run before a SnapStart snapshot (snapstart.py), so that the first request of a
restored copy finds its modules imported, its models built, its clients made and its code paths run once.

Only local work, on made-up values: no AWS call (no table write, no SSM or Secrets Manager read), and every key
used is random and thrown away. The calls a first request makes (DynamoDB's, and the SSM and Secrets Manager reads of
the keys) run once through botocore's Stubber, which answers each call itself (or raises) and never sends one:
botocore's first call of an operation resolves the endpoint, builds the serialiser and fills its event caches, work a
restored copy's first request then skips. Nothing reaches DynamoDB, SSM or Secrets Manager, and nothing is cached.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ..domain.session import PortalSession
from ..domain.tokens import new_object_id, new_url_token, session_id_for, url_token_hash
from ..runtime import clock
from ..runtime.parameter_providers import secrets_provider, ssm_parameters
from ..store.items import session_from_item, session_item
from ..store.table import dynamodb_client

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


def _stubbed_calls(client: Any, calls: dict[str, dict[str, Any]]) -> None:
    """Each call once through botocore's Stubber, which answers it with an empty response itself: nothing is sent."""
    from botocore.stub import Stubber

    with Stubber(client) as stubber:
        for operation, params in calls.items():
            stubber.add_response(operation, {})
            getattr(client, operation)(**params)


def _warm_dynamodb(table_name: str, operations: tuple[str, ...]) -> None:
    key = {"pk": {"S": "priming#" + secrets.token_hex(8)}}
    calls: dict[str, dict[str, Any]] = {
        "get_item": {"TableName": table_name, "Key": key},
        "put_item": {"TableName": table_name, "Item": key, "ConditionExpression": "attribute_not_exists(pk)"},
        "update_item": {
            "TableName": table_name,
            "Key": key,
            "UpdateExpression": "SET visited_at = :now",
            "ExpressionAttributeValues": {":now": {"N": "0"}},
            "ReturnValues": "ALL_NEW",
        },
        "transact_write_items": {"TransactItems": [{"Put": {"TableName": table_name, "Item": key}}]},
    }
    _stubbed_calls(dynamodb_client(), {operation: calls[operation] for operation in operations})


def _warm_parameter_clients(parameter_name: str | None, secret_ids: tuple[str, ...]) -> None:
    """The SSM and Secrets Manager clients' first calls, stubbed: through the clients, not Powertools' providers,
    so no value is cached, and no request reaches either service."""
    if parameter_name is not None:
        _stubbed_calls(ssm_parameters().client, {"get_parameter": {"Name": parameter_name}})
    for secret_id in secret_ids:
        _stubbed_calls(secrets_provider().client, {"get_secret_value": {"SecretId": secret_id}})


def prime_create() -> None:
    from ..domain.auth import key_hash
    from ..domain.handoff import check_handoff_size
    from ..domain.sealing import derive_key, seal, unseal
    from ..runtime.settings import create_session_settings
    from ..stripe_wire.params import parse_create_params
    from .api import ApiRequest, body_params, json_response

    event = {
        "requestContext": {"http": {"method": "POST"}, "stage": "$default"},
        "rawPath": "/v1/billing_portal/sessions",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "body": _CREATE_BODY,
        "isBase64Encoded": False,
    }
    request = ApiRequest.from_event(event)
    params = parse_create_params(body_params(request), request.api_version)
    now = clock.now()
    session, _ = _session(now)
    check_handoff_size(session)
    response = json_response(200, session.to_api_object("https://example.com/p/session/x", now=now))
    key_hash("sk_test_" + secrets.token_urlsafe(24))
    # the cipher of idempotent requests: sealed and opened once with a throwaway key
    key = derive_key(secrets.token_urlsafe(32), "priming")
    unseal(seal(json.dumps({"params": params.model_dump(), "response": response}), key), key)
    settings = create_session_settings()
    _warm_parameter_clients(settings.api_keys_parameter, ())
    # an idempotent create claims its record (PutItem), then stores the session and completes the record in one
    # transaction; a create on the default configuration is one PutItem; a replay reads the record
    _warm_dynamodb(settings.table_name, ("put_item", "transact_write_items", "get_item"))


def prime_redirect() -> None:
    from ..domain.handoff import Keyring, issue_handoff_token
    from ..runtime.settings import redirect_settings
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
    _warm_dynamodb(settings.table_name, ("update_item", "get_item"))  # a visit; a HEAD check
