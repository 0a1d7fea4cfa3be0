"""Session lifecycle (extensions; Stripe has none): retrieve, list by customer, and expire portal sessions."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from portal_sessions.api_gateway.api import (
    body_params,
    public_base_url,
    query_params,
)
from portal_sessions.api_gateway.openapi import openapi_document
from portal_sessions.api_gateway.request_log import current_request_id
from portal_sessions.api_gateway.web import (
    authenticated,
    counted_response,
    current_request,
    idempotent_route_response,
    routed_handler,
)
from portal_sessions.domain.session import RequestRef
from portal_sessions.runtime import clock
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.settings import api_settings
from portal_sessions.store.sessions import SessionStore
from portal_sessions.stripe_wire.params import ListSessionsParams, RetrieveSessionParams, parse_list_sessions_params
from portal_sessions.stripe_wire.stripe_params import build_validators, check_expand, validate_params
from portal_sessions.use_cases.idempotency import IdempotencyClaim, OperationResult
from portal_sessions.use_cases.service import EXPANDABLE, expire_session, list_sessions, retrieve_session

api_settings()  # at init: a bad setting fails the function's start with its message, not each request

COLLECTION = "/v1/billing_portal/sessions"

app = APIGatewayHttpResolver()
build_validators(ListSessionsParams, RetrieveSessionParams)


@app.get("/v1/openapi.json")
def openapi_route() -> Response[str]:
    """The API's OpenAPI document (public: it describes the API, it grants nothing)."""
    server = public_base_url(current_request(app), api_settings().public_base_url)
    return counted_response(openapi_document(server), "OpenApiDocumentsServed")


@app.get(COLLECTION + "/<session_id>")
def retrieve_session_route(session_id: str) -> Response[str]:
    settings = api_settings()
    request, caller = authenticated(app, settings)
    check_expand(validate_params(RetrieveSessionParams, query_params(request)).expand, EXPANDABLE)
    api_version = request.api_version
    store = SessionStore(settings.table_name)
    session = retrieve_session(session_id, caller, store, now=clock.now(), api_version=api_version)
    return counted_response(session, "SessionsRetrieved")


@app.get(COLLECTION)
def list_sessions_route() -> Response[str]:
    settings = api_settings()
    request, caller = authenticated(app, settings)
    params = parse_list_sessions_params(query_params(request))
    api_version = request.api_version
    page = list_sessions(params, caller, SessionStore(settings.table_name), now=clock.now(), api_version=api_version)
    return counted_response(page, "SessionsListed")


@app.post(COLLECTION + "/<session_id>/expire")
def expire_session_route(session_id: str) -> Response[str]:
    settings = api_settings()
    request, caller = authenticated(app, settings)
    raw_params = body_params(request)
    check_expand(validate_params(RetrieveSessionParams, raw_params).expand, EXPANDABLE)  # like Stripe's expire calls
    idempotency_key = request.idempotency_key
    api_version = request.api_version

    def expire(_claim: IdempotencyClaim | None) -> OperationResult:
        now = clock.now()
        ref = RequestRef(current_request_id(), idempotency_key)
        store = SessionStore(settings.table_name)
        session = expire_session(session_id, caller, store, now=now, request=ref, api_version=api_version)
        logger.append_keys(session_id=session_id)
        metrics.add_metric(name="SessionsExpiredOnRequest", unit=MetricUnit.Count, value=1)
        return OperationResult(session)

    return idempotent_route_response(app, request, caller, raw_params, settings.table_name, expire)


lambda_handler = routed_handler(app)
