"""/v1/billing_portal/configurations: Stripe's create, retrieve, update and list calls for portal configurations."""

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
from portal_sessions.runtime import clock
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.settings import configuration_settings
from portal_sessions.store.configurations import ConfigurationStore
from portal_sessions.stripe_wire.configuration_params import (
    CreateConfigurationParams,
    ListConfigurationsParams,
    RetrieveConfigurationParams,
    UpdateConfigurationParams,
    check_expand,
    parse_create_configuration_params,
    parse_list_configurations_params,
    parse_update_configuration_params,
)
from portal_sessions.stripe_wire.stripe_params import build_validators, validate_params
from portal_sessions.use_cases.idempotency import IdempotencyClaim, OperationResult
from portal_sessions.use_cases.service import (
    create_configuration,
    list_configurations,
    retrieve_configuration,
    update_configuration,
)

configuration_settings()  # at init: a bad setting fails the function's start with its message, not each request

COLLECTION = "/v1/billing_portal/configurations"

app = APIGatewayHttpResolver()
build_validators(
    CreateConfigurationParams, UpdateConfigurationParams, ListConfigurationsParams, RetrieveConfigurationParams
)


@app.post(COLLECTION)
def create_configuration_route() -> Response[str]:
    settings = configuration_settings()
    request, caller = authenticated(app, settings)
    raw_params = body_params(request)
    params = parse_create_configuration_params(raw_params)

    def create(claim: IdempotencyClaim | None) -> OperationResult:
        store = ConfigurationStore(settings.table_name)
        configuration = create_configuration(
            params,
            caller,
            store,
            now=clock.now(),
            login_url=settings.portal_login_url_for(caller.livemode),
            idempotency=claim,
        )
        logger.append_keys(configuration_id=configuration["id"])
        metrics.add_metric(name="ConfigurationsCreated", unit=MetricUnit.Count, value=1)
        return OperationResult(configuration, record_completed=claim is not None)

    return idempotent_route_response(app, request, caller, raw_params, settings.table_name, create)


@app.get(COLLECTION)
def list_configurations_route() -> Response[str]:
    settings = configuration_settings()
    request, caller = authenticated(app, settings)
    params = parse_list_configurations_params(query_params(request))
    page = list_configurations(params, caller, ConfigurationStore(settings.table_name), now=clock.now())
    return counted_response(page, "ConfigurationsListed")


@app.get(COLLECTION + "/<configuration_id>")
def retrieve_configuration_route(configuration_id: str) -> Response[str]:
    settings = configuration_settings()
    request, caller = authenticated(app, settings)
    check_expand(validate_params(RetrieveConfigurationParams, query_params(request)).expand)
    store = ConfigurationStore(settings.table_name)
    configuration = retrieve_configuration(configuration_id, caller, store, now=clock.now())
    return counted_response(configuration, "ConfigurationsRetrieved")


@app.post(COLLECTION + "/<configuration_id>")
def update_configuration_route(configuration_id: str) -> Response[str]:
    settings = configuration_settings()
    request, caller = authenticated(app, settings)
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

    return idempotent_route_response(app, request, caller, raw_params, settings.table_name, update)


lambda_handler = routed_handler(app)
