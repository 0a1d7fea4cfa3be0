"""/v1/webhook_endpoints: Stripe's create, retrieve, update, list and delete calls for webhook endpoints."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions import clock
from portal_sessions.idempotency import CompletionWrites, respond_idempotently
from portal_sessions.observability import logger, metrics, traced
from portal_sessions.settings import webhook_endpoints_settings
from portal_sessions.store.webhooks import WebhookEndpointStore
from portal_sessions.stripe_params import build_validators, check_expand, validate_params
from portal_sessions.web import authenticated_caller, body_params, json_response, new_resolver, query_params, resolve
from portal_sessions.webhook_service import (
    create_webhook_endpoint,
    delete_webhook_endpoint,
    list_webhook_endpoints,
    retrieve_webhook_endpoint,
    update_webhook_endpoint,
)
from portal_sessions.webhooks import (
    CreateWebhookEndpointParams,
    ListWebhookEndpointsParams,
    RetrieveWebhookEndpointParams,
    UpdateWebhookEndpointParams,
    endpoint_secrets,
    parse_create_webhook_endpoint_params,
    parse_list_webhook_endpoints_params,
    parse_update_webhook_endpoint_params,
)

COLLECTION = "/v1/webhook_endpoints"

app = new_resolver()
build_validators(
    CreateWebhookEndpointParams, UpdateWebhookEndpointParams, ListWebhookEndpointsParams, RetrieveWebhookEndpointParams
)


@app.post(COLLECTION)
def create_webhook_endpoint_route() -> Response[str]:
    settings = webhook_endpoints_settings()
    caller = authenticated_caller(app.current_event, settings)
    raw_params = body_params(app.current_event)
    params = parse_create_webhook_endpoint_params(raw_params)

    def create(_completion: CompletionWrites | None) -> dict[str, Any]:  # completed by Powertools, sealed
        endpoint = create_webhook_endpoint(
            params,
            caller,
            WebhookEndpointStore(settings.table_name),
            endpoint_secrets(settings.webhook_secrets_key_id),
            now=clock.now(),
            local_receivers=settings.webhook_local_receivers == "true",
        )
        logger.append_keys(webhook_endpoint_id=endpoint["id"])
        metrics.add_metric(name="WebhookEndpointsCreated", unit=MetricUnit.Count, value=1)
        return endpoint

    return respond_idempotently(app, caller, raw_params, settings.table_name, create)


@app.get(COLLECTION)
def list_webhook_endpoints_route() -> Response[str]:
    settings = webhook_endpoints_settings()
    caller = authenticated_caller(app.current_event, settings)
    params = parse_list_webhook_endpoints_params(query_params(app.current_event))
    page = list_webhook_endpoints(params, caller, WebhookEndpointStore(settings.table_name))
    metrics.add_metric(name="WebhookEndpointsListed", unit=MetricUnit.Count, value=1)
    return json_response(200, page)


@app.get(COLLECTION + "/<endpoint_id>")
def retrieve_webhook_endpoint_route(endpoint_id: str) -> Response[str]:
    settings = webhook_endpoints_settings()
    caller = authenticated_caller(app.current_event, settings)
    check_expand(validate_params(RetrieveWebhookEndpointParams, query_params(app.current_event)).expand, ())
    endpoint = retrieve_webhook_endpoint(endpoint_id, caller, WebhookEndpointStore(settings.table_name))
    metrics.add_metric(name="WebhookEndpointsRetrieved", unit=MetricUnit.Count, value=1)
    return json_response(200, endpoint)


@app.post(COLLECTION + "/<endpoint_id>")
def update_webhook_endpoint_route(endpoint_id: str) -> Response[str]:
    settings = webhook_endpoints_settings()
    caller = authenticated_caller(app.current_event, settings)
    raw_params = body_params(app.current_event)
    params = parse_update_webhook_endpoint_params(raw_params)

    def update(_completion: CompletionWrites | None) -> dict[str, Any]:  # completed by Powertools
        endpoint = update_webhook_endpoint(
            endpoint_id,
            params,
            caller,
            WebhookEndpointStore(settings.table_name),
            local_receivers=settings.webhook_local_receivers == "true",
        )
        logger.append_keys(webhook_endpoint_id=endpoint_id)
        metrics.add_metric(name="WebhookEndpointsUpdated", unit=MetricUnit.Count, value=1)
        return endpoint

    return respond_idempotently(app, caller, raw_params, settings.table_name, update)


@app.delete(COLLECTION + "/<endpoint_id>")
def delete_webhook_endpoint_route(endpoint_id: str) -> Response[str]:
    settings = webhook_endpoints_settings()
    caller = authenticated_caller(app.current_event, settings)
    deleted = delete_webhook_endpoint(endpoint_id, caller, WebhookEndpointStore(settings.table_name))
    logger.append_keys(webhook_endpoint_id=endpoint_id)
    metrics.add_metric(name="WebhookEndpointsDeleted", unit=MetricUnit.Count, value=1)
    return json_response(200, deleted)


@traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
