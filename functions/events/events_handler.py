"""/v1/events: Stripe's retrieve and list calls for the events of the last 30 days."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from portal_sessions.api_gateway.api import body_params, query_params
from portal_sessions.api_gateway.web import (
    authenticated,
    counted_response,
    routed_handler,
)
from portal_sessions.domain.webhooks import (
    ListEventsParams,
    ResendEventParams,
    RetrieveEventParams,
    created_bounds,
    event_types_wanted,
    parse_list_events_params,
    parse_resend_event_params,
)
from portal_sessions.outbound.webhook_delivery import SqsDeliveryQueue
from portal_sessions.runtime import clock
from portal_sessions.runtime.settings import events_settings
from portal_sessions.store.webhooks import EventQuery, EventStore, WebhookEndpointStore
from portal_sessions.stripe_wire.stripe_params import build_validators, check_expand, validate_params
from portal_sessions.use_cases.webhook_service import list_events, resend_event, retrieve_event

COLLECTION = "/v1/events"

app = APIGatewayHttpResolver()
build_validators(ListEventsParams, RetrieveEventParams, ResendEventParams)


@app.get(COLLECTION)
def list_events_route() -> Response[str]:
    settings = events_settings()
    request, caller = authenticated(app, settings)
    params = parse_list_events_params(query_params(request))
    created_from, created_to = created_bounds(params.created)
    query = EventQuery(types=event_types_wanted(params), created_from=created_from, created_to=created_to)
    page = list_events(
        query,
        caller,
        EventStore(settings.table_name, list_shards=settings.event_list_shards),
        now=clock.now(),
        limit=params.limit,
        starting_after=params.starting_after,
        ending_before=params.ending_before,
    )
    return counted_response(page, "EventsListed")


@app.get(COLLECTION + "/<event_id>")
def retrieve_event_route(event_id: str) -> Response[str]:
    settings = events_settings()
    request, caller = authenticated(app, settings)
    check_expand(validate_params(RetrieveEventParams, query_params(request)).expand, ())
    events = EventStore(settings.table_name, list_shards=settings.event_list_shards)
    event = retrieve_event(event_id, caller, events, now=clock.now())
    return counted_response(event, "EventsRetrieved")


@app.post(COLLECTION + "/<event_id>/retry")
def resend_event_route(event_id: str) -> Response[str]:
    """Stripe's resend (`stripe events resend evt_… --webhook-endpoint we_…`). Not idempotent by key: a retried call
    queues the delivery again, which a receiver drops as a repeat of the same event id."""
    settings = events_settings()
    request, caller = authenticated(app, settings)
    params = parse_resend_event_params(body_params(request))
    event = resend_event(
        event_id,
        params.webhook_endpoint,
        caller,
        EventStore(settings.table_name, list_shards=settings.event_list_shards),
        WebhookEndpointStore(settings.table_name),
        SqsDeliveryQueue(settings.queue_url_for(caller.livemode)),
        now=clock.now(),
    )
    return counted_response(event, "EventsResent")


lambda_handler = routed_handler(app)
