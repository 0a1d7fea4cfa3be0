"""/v1/webhook_endpoints: Stripe's create, retrieve, update, list and delete calls for webhook endpoints."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from portal_sessions.api_gateway.api import body_params, query_params
from portal_sessions.api_gateway.web import (
    authenticated,
    counted_response,
    idempotent_route_response,
    routed_handler,
)
from portal_sessions.domain.webhooks import (
    CreateWebhookEndpointParams,
    ListWebhookEndpointsParams,
    RetrieveWebhookEndpointParams,
    UpdateWebhookEndpointParams,
    endpoint_secrets,
    parse_create_webhook_endpoint_params,
    parse_list_webhook_endpoints_params,
    parse_update_webhook_endpoint_params,
)
from portal_sessions.runtime import clock
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.settings import webhook_endpoints_settings
from portal_sessions.store.webhooks import WebhookEndpointStore
from portal_sessions.stripe_wire.stripe_params import build_validators, check_expand, validate_params
from portal_sessions.use_cases.idempotency import IdempotencyClaim, OperationResult
from portal_sessions.use_cases.webhook_service import (
    create_webhook_endpoint,
    delete_webhook_endpoint,
    list_webhook_endpoints,
    retrieve_webhook_endpoint,
    update_webhook_endpoint,
)

COLLECTION = "/v1/webhook_endpoints"

app = APIGatewayHttpResolver()
build_validators(
    CreateWebhookEndpointParams, UpdateWebhookEndpointParams, ListWebhookEndpointsParams, RetrieveWebhookEndpointParams
)


@app.post(COLLECTION)
def create_webhook_endpoint_route() -> Response[str]:
    settings = webhook_endpoints_settings()
    request, caller = authenticated(app, settings)
    raw_params = body_params(request)
    params = parse_create_webhook_endpoint_params(raw_params)

    def create(claim: IdempotencyClaim | None) -> OperationResult:
        endpoint = create_webhook_endpoint(
            params,
            caller,
            WebhookEndpointStore(settings.table_name),
            endpoint_secrets(settings.webhook_secrets_key_id),
            now=clock.now(),
            local_receivers=settings.webhook_local_receivers == "true",
            idempotency=claim,
        )
        logger.append_keys(webhook_endpoint_id=endpoint["id"])
        metrics.add_metric(name="WebhookEndpointsCreated", unit=MetricUnit.Count, value=1)
        return OperationResult(endpoint, record_completed=claim is not None)

    return idempotent_route_response(app, request, caller, raw_params, settings.table_name, create)


@app.get(COLLECTION)
def list_webhook_endpoints_route() -> Response[str]:
    settings = webhook_endpoints_settings()
    request, caller = authenticated(app, settings)
    params = parse_list_webhook_endpoints_params(query_params(request))
    page = list_webhook_endpoints(params, caller, WebhookEndpointStore(settings.table_name))
    return counted_response(page, "WebhookEndpointsListed")


@app.get(COLLECTION + "/<endpoint_id>")
def retrieve_webhook_endpoint_route(endpoint_id: str) -> Response[str]:
    settings = webhook_endpoints_settings()
    request, caller = authenticated(app, settings)
    check_expand(validate_params(RetrieveWebhookEndpointParams, query_params(request)).expand, ())
    endpoint = retrieve_webhook_endpoint(endpoint_id, caller, WebhookEndpointStore(settings.table_name))
    return counted_response(endpoint, "WebhookEndpointsRetrieved")


@app.post(COLLECTION + "/<endpoint_id>")
def update_webhook_endpoint_route(endpoint_id: str) -> Response[str]:
    settings = webhook_endpoints_settings()
    request, caller = authenticated(app, settings)
    raw_params = body_params(request)
    params = parse_update_webhook_endpoint_params(raw_params)

    def update(_claim: IdempotencyClaim | None) -> OperationResult:
        endpoint = update_webhook_endpoint(
            endpoint_id,
            params,
            caller,
            WebhookEndpointStore(settings.table_name),
            local_receivers=settings.webhook_local_receivers == "true",
        )
        logger.append_keys(webhook_endpoint_id=endpoint_id)
        metrics.add_metric(name="WebhookEndpointsUpdated", unit=MetricUnit.Count, value=1)
        return OperationResult(endpoint)

    return idempotent_route_response(app, request, caller, raw_params, settings.table_name, update)


@app.delete(COLLECTION + "/<endpoint_id>")
def delete_webhook_endpoint_route(endpoint_id: str) -> Response[str]:
    settings = webhook_endpoints_settings()
    request, caller = authenticated(app, settings)
    deleted = delete_webhook_endpoint(endpoint_id, caller, WebhookEndpointStore(settings.table_name))
    logger.append_keys(webhook_endpoint_id=endpoint_id)
    return counted_response(deleted, "WebhookEndpointsDeleted")


lambda_handler = routed_handler(app)
