"""/v1/billing_portal/configurations: Stripe's create, retrieve, update and list calls for portal configurations."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from portal_sessions import clock
from portal_sessions.api import authenticated_caller, body_params, idempotent_response, json_response, query_params
from portal_sessions.configuration_params import (
    CreateConfigurationParams,
    ListConfigurationsParams,
    RetrieveConfigurationParams,
    UpdateConfigurationParams,
    check_expand,
    parse_create_configuration_params,
    parse_list_configurations_params,
    parse_update_configuration_params,
)
from portal_sessions.idempotency import IdempotencyClaim, OperationResult
from portal_sessions.observability import logger, metrics
from portal_sessions.service import (
    create_configuration,
    list_configurations,
    retrieve_configuration,
    update_configuration,
)
from portal_sessions.settings import configuration_settings
from portal_sessions.store.configurations import ConfigurationStore
from portal_sessions.stripe_params import build_validators, validate_params
from portal_sessions.web import current_request, route_response, routed_handler

configuration_settings()  # at init: a bad setting fails the function's start with its message, not each request

COLLECTION = "/v1/billing_portal/configurations"

app = APIGatewayHttpResolver()
build_validators(
    CreateConfigurationParams, UpdateConfigurationParams, ListConfigurationsParams, RetrieveConfigurationParams
)


@app.post(COLLECTION)
def create_configuration_route() -> Response[str]:
    request = current_request(app)
    settings = configuration_settings()
    caller = authenticated_caller(request, settings)
    raw_params = body_params(request)
    params = parse_create_configuration_params(raw_params)

    def create(_claim: IdempotencyClaim | None) -> OperationResult:
        store = ConfigurationStore(settings.table_name)
        configuration = create_configuration(
            params, caller, store, now=clock.now(), login_url=settings.portal_login_url_for(caller.livemode)
        )
        logger.append_keys(configuration_id=configuration["id"])
        metrics.add_metric(name="ConfigurationsCreated", unit=MetricUnit.Count, value=1)
        return OperationResult(configuration)

    return route_response(
        idempotent_response(request, caller, raw_params, settings.table_name, app.lambda_context, create)
    )


@app.get(COLLECTION)
def list_configurations_route() -> Response[str]:
    request = current_request(app)
    settings = configuration_settings()
    caller = authenticated_caller(request, settings)
    params = parse_list_configurations_params(query_params(request))
    page = list_configurations(params, caller, ConfigurationStore(settings.table_name), now=clock.now())
    metrics.add_metric(name="ConfigurationsListed", unit=MetricUnit.Count, value=1)
    return route_response(json_response(200, page))


@app.get(COLLECTION + "/<configuration_id>")
def retrieve_configuration_route(configuration_id: str) -> Response[str]:
    request = current_request(app)
    settings = configuration_settings()
    caller = authenticated_caller(request, settings)
    check_expand(validate_params(RetrieveConfigurationParams, query_params(request)).expand)
    store = ConfigurationStore(settings.table_name)
    configuration = retrieve_configuration(configuration_id, caller, store, now=clock.now())
    metrics.add_metric(name="ConfigurationsRetrieved", unit=MetricUnit.Count, value=1)
    return route_response(json_response(200, configuration))


@app.post(COLLECTION + "/<configuration_id>")
def update_configuration_route(configuration_id: str) -> Response[str]:
    request = current_request(app)
    settings = configuration_settings()
    caller = authenticated_caller(request, settings)
    raw_params = body_params(request)
    params = parse_update_configuration_params(raw_params)

    def update(_claim: IdempotencyClaim | None) -> OperationResult:
        store = ConfigurationStore(settings.table_name)
        configuration = update_configuration(
            configuration_id,
            params,
            caller,
            store,
            now=clock.now(),
            login_url=settings.portal_login_url_for(caller.livemode),
        )
        logger.append_keys(configuration_id=configuration_id)
        metrics.add_metric(name="ConfigurationsUpdated", unit=MetricUnit.Count, value=1)
        return OperationResult(configuration)

    return route_response(
        idempotent_response(request, caller, raw_params, settings.table_name, app.lambda_context, update)
    )


lambda_handler = routed_handler(app)
