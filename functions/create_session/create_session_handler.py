"""POST /v1/billing_portal/sessions: Stripe's create call for portal sessions."""

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
from portal_sessions.params import CreateSessionParams, parse_create_params
from portal_sessions.request_log import current_request_id
from portal_sessions.service import create_session
from portal_sessions.session import RequestRef
from portal_sessions.settings import create_session_settings
from portal_sessions.store.configurations import ConfigurationStore
from portal_sessions.store.sessions import SessionStore
from portal_sessions.stripe_params import build_validators
from portal_sessions.web import (
    authenticated_caller,
    body_params,
    new_resolver,
    public_base_url,
    resolve,
)

create_session_settings()  # at init: a bad setting fails the function's start with its message, not each request

app = new_resolver()
build_validators(CreateSessionParams)


@app.post("/v1/billing_portal/sessions")
def create_session_route() -> Response[str]:
    event = app.current_event
    settings = create_session_settings()
    caller = authenticated_caller(event, settings, restricted_keys_allowed=True)
    api_version = requested_version(event.headers.get("stripe-version"))
    raw_params = body_params(event)
    params = parse_create_params(raw_params, api_version)

    idempotency_key = event.headers.get("idempotency-key")

    def create(completion: CompletionWrites | None) -> dict[str, Any]:
        now = clock.now()
        created = create_session(
            params,
            caller,
            SessionStore(settings.table_name, purge_shards=settings.purge_shards),
            ConfigurationStore(settings.table_name),
            now=now,
            link_ttl_seconds=settings.link_ttl_seconds,
            session_ttl_seconds=settings.session_ttl_seconds,
            base_url=public_base_url(event.raw_event, settings.public_base_url),
            retention_seconds=settings.expired_retention_seconds,
            api_version=api_version,
            also_write=completion,  # the idempotency record completes in the session's transaction
            request=RequestRef(current_request_id(), idempotency_key),
        )
        logger.append_keys(session_id=created.session.id)
        metrics.add_metric(name="SessionsCreated", unit=MetricUnit.Count, value=1)
        return created.api_object

    return respond_idempotently(app, caller, raw_params, settings.table_name, create)


@traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
