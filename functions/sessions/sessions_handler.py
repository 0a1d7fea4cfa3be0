"""Session lifecycle (extensions; Stripe has none): retrieve, list by customer, and expire portal sessions."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions import clock
from portal_sessions.api_version import requested_version
from portal_sessions.idempotency import CompletionWrites, respond_idempotently
from portal_sessions.observability import logger, metrics, traced
from portal_sessions.openapi import openapi_document
from portal_sessions.params import ListSessionsParams, RetrieveSessionParams, parse_list_sessions_params
from portal_sessions.request_log import current_request_id
from portal_sessions.service import EXPANDABLE, expire_session, list_sessions, retrieve_session
from portal_sessions.session import RequestRef
from portal_sessions.settings import api_settings
from portal_sessions.store.sessions import SessionStore
from portal_sessions.stripe_params import build_validators, check_expand, validate_params
from portal_sessions.web import (
    authenticated_caller,
    body_params,
    json_response,
    new_resolver,
    public_base_url,
    query_params,
    resolve,
)

api_settings()  # at init: a bad setting fails the function's start with its message, not each request

COLLECTION = "/v1/billing_portal/sessions"

app = new_resolver()
build_validators(ListSessionsParams, RetrieveSessionParams)


@app.get("/v1/openapi.json")
def openapi_route() -> Response[str]:
    """The API's OpenAPI document (public: it describes the API, it grants nothing)."""
    server = public_base_url(app.current_event.raw_event, api_settings().public_base_url)
    metrics.add_metric(name="OpenApiDocumentsServed", unit=MetricUnit.Count, value=1)
    return json_response(200, openapi_document(server))


@app.get(COLLECTION + "/<session_id>")
def retrieve_session_route(session_id: str) -> Response[str]:
    settings = api_settings()
    caller = authenticated_caller(app.current_event, settings)
    check_expand(validate_params(RetrieveSessionParams, query_params(app.current_event)).expand, EXPANDABLE)
    api_version = requested_version(app.current_event.headers.get("stripe-version"))
    store = SessionStore(settings.table_name)
    session = retrieve_session(session_id, caller, store, now=clock.now(), api_version=api_version)
    metrics.add_metric(name="SessionsRetrieved", unit=MetricUnit.Count, value=1)
    return json_response(200, session)


@app.get(COLLECTION)
def list_sessions_route() -> Response[str]:
    settings = api_settings()
    caller = authenticated_caller(app.current_event, settings)
    params = parse_list_sessions_params(query_params(app.current_event))
    api_version = requested_version(app.current_event.headers.get("stripe-version"))
    page = list_sessions(params, caller, SessionStore(settings.table_name), now=clock.now(), api_version=api_version)
    metrics.add_metric(name="SessionsListed", unit=MetricUnit.Count, value=1)
    return json_response(200, page)


@app.post(COLLECTION + "/<session_id>/expire")
def expire_session_route(session_id: str) -> Response[str]:
    event = app.current_event
    settings = api_settings()
    caller = authenticated_caller(event, settings)
    raw_params = body_params(event)
    check_expand(validate_params(RetrieveSessionParams, raw_params).expand, EXPANDABLE)  # like Stripe's expire calls
    idempotency_key = event.headers.get("idempotency-key")
    api_version = requested_version(event.headers.get("stripe-version"))

    def expire(_completion: CompletionWrites | None) -> dict[str, Any]:  # completed by Powertools
        now = clock.now()
        request = RequestRef(current_request_id(), idempotency_key)
        store = SessionStore(settings.table_name)
        session = expire_session(session_id, caller, store, now=now, request=request, api_version=api_version)
        logger.append_keys(session_id=session_id)
        metrics.add_metric(name="SessionsExpiredOnRequest", unit=MetricUnit.Count, value=1)
        return session

    return respond_idempotently(app, caller, raw_params, settings.table_name, expire)


@traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
