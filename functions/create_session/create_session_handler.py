"""POST /v1/billing_portal/sessions: Stripe's create call for portal sessions.

API Gateway routes this one method and path here, so there is no router to import.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions.api_gateway.api import (
    ApiRequest,
    api_handler,
    authenticated_caller,
    body_params,
    idempotent_response,
    public_base_url,
)
from portal_sessions.api_gateway.priming import prime_create, read_create_keys
from portal_sessions.api_gateway.request_log import current_request_id
from portal_sessions.api_gateway.routes import unrecognized_request
from portal_sessions.domain.session import RequestRef
from portal_sessions.runtime import clock
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.settings import create_session_settings
from portal_sessions.runtime.snapstart import prime_before_snapshot, read_after_restore
from portal_sessions.store.configurations import ConfigurationStore
from portal_sessions.store.sessions import SessionStore
from portal_sessions.stripe_wire.params import CreateSessionParams, parse_create_params
from portal_sessions.stripe_wire.stripe_params import build_validators
from portal_sessions.use_cases.idempotency import IdempotencyClaim, OperationResult
from portal_sessions.use_cases.service import CreateSessionRequest, SessionLifetimes, create_session

create_session_settings()  # at init: a bad setting fails the function's start with its message, not each request
build_validators(CreateSessionParams)
prime_before_snapshot(prime_create)  # with SnapStart only: before the snapshot, never in a cold start's init
read_after_restore(read_create_keys)  # with SnapStart only: the keys, in each restored copy, never in the snapshot

ROUTE = "POST /v1/billing_portal/sessions"


def create_session_route(request: ApiRequest, context: LambdaContext) -> dict[str, Any]:
    if f"{request.method} {request.route_path}" != ROUTE:  # API Gateway sends nothing else; answer as Stripe would
        raise unrecognized_request(request.method, request.path)
    settings = create_session_settings()
    caller = authenticated_caller(request, settings, restricted_keys_allowed=True)
    raw_params = body_params(request)
    api_version = request.api_version
    params = parse_create_params(raw_params, api_version)
    lifetimes = SessionLifetimes(
        settings.link_ttl_seconds, settings.session_ttl_seconds, settings.expired_retention_seconds
    )
    base_url = public_base_url(request, settings.public_base_url)

    def create(claim: IdempotencyClaim | None) -> OperationResult:
        created = create_session(
            CreateSessionRequest(
                params,
                caller,
                now=clock.now(),
                lifetimes=lifetimes,
                base_url=base_url,
                api_version=api_version,
                request=RequestRef(current_request_id(), request.idempotency_key),
                idempotency=claim,
            ),
            SessionStore(settings.table_name, purge_shards=settings.purge_shards),
            ConfigurationStore(settings.table_name),
        )
        logger.append_keys(session_id=created.session.id)
        metrics.add_metric(name="SessionsCreated", unit=MetricUnit.Count, value=1)
        return OperationResult(created.api_object, record_completed=created.record_completed)

    return idempotent_response(request, caller, raw_params, settings.table_name, context, create)


lambda_handler = api_handler(create_session_route)
