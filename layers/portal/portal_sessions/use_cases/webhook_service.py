"""Use cases of webhook endpoints and events: create, retrieve, update, list and delete endpoints; retrieve and
list events. Test and live mode are separate worlds: an object of the other mode is `resource_missing`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..domain.auth import Caller
from ..domain.tokens import new_object_id
from ..domain.webhooks import (
    LIST_URL,
    MAX_ENDPOINTS_PER_MODE,
    CreateWebhookEndpointParams,
    EndpointSecrets,
    ListWebhookEndpointsParams,
    UpdateWebhookEndpointParams,
    deleted_endpoint,
    new_endpoint,
    new_signing_secret,
    updated_endpoint,
    wants,
)
from ..outbound.delivery_safety import check_endpoint_url
from ..outbound.webhook_delivery import Delivery
from ..runtime.errors import ConditionFailedError, InvalidRequestError, ResourceMissingError
from ..store.webhooks import EventQuery, StoredEndpoint, event_sort_key
from ..stripe_wire.stripe_params import is_object_id

if TYPE_CHECKING:
    from ..outbound.webhook_delivery import DeliveryQueue
    from ..store.ports import EventRepository, WebhookEndpointRepository
    from .idempotency import IdempotencyClaim

EVENTS_LIST_URL = "/v1/events"


def _find_endpoint(
    store: WebhookEndpointRepository,
    endpoint_id: str,
    caller: Caller,
    *,
    param: str | None = "id",
    http_status: int = 404,
) -> StoredEndpoint:
    stored = store.get(endpoint_id) if is_object_id(endpoint_id) else None
    if stored is None or stored.endpoint["livemode"] != caller.livemode:
        raise ResourceMissingError(f"No such webhook endpoint: '{endpoint_id}'", param=param, http_status=http_status)
    return stored


def create_webhook_endpoint(
    params: CreateWebhookEndpointParams,
    caller: Caller,
    store: WebhookEndpointRepository,
    secrets: EndpointSecrets,
    *,
    now: int,
    local_receivers: bool = False,
    idempotency: IdempotencyClaim | None = None,
) -> dict[str, Any]:
    """A new enabled endpoint, stored with its create's idempotency record completed in the same write; the
    response alone carries its `secret`. At most MAX_ENDPOINTS_PER_MODE per mode (two creates racing for the last
    place may both take it: the fan-out reads every endpoint all the same)."""
    check_endpoint_url(params.url, caller.livemode, local_receivers=local_receivers)
    if len(store.all_of_mode(caller.livemode)) >= MAX_ENDPOINTS_PER_MODE:
        mode = "live" if caller.livemode else "test"
        raise InvalidRequestError(
            f"You have reached the maximum of {MAX_ENDPOINTS_PER_MODE} {mode} mode webhook endpoints. "
            "Delete one you no longer use to add another.",
            code="webhook_endpoint_limit_reached",
        )
    endpoint = new_endpoint(params, new_object_id("we"), caller.livemode, now)
    secret = new_signing_secret()
    shown = {**endpoint, "secret": secret}
    completion = None if idempotency is None else idempotency.completion(shown)
    store.put_new(endpoint, secrets.seal(endpoint["id"], secret), completion)
    return shown


def retrieve_webhook_endpoint(endpoint_id: str, caller: Caller, store: WebhookEndpointRepository) -> dict[str, Any]:
    return _find_endpoint(store, endpoint_id, caller).endpoint


def update_webhook_endpoint(
    endpoint_id: str,
    params: UpdateWebhookEndpointParams,
    caller: Caller,
    store: WebhookEndpointRepository,
    *,
    local_receivers: bool = False,
) -> dict[str, Any]:
    if params.url is not None:
        check_endpoint_url(params.url, caller.livemode, local_receivers=local_receivers)
    for _attempt in range(5):  # optimistic: re-read and re-apply if another update landed in between
        stored = _find_endpoint(store, endpoint_id, caller)
        updated = updated_endpoint(stored.endpoint, params)
        try:
            store.replace(stored, updated)
        except ConditionFailedError:
            continue
        return updated
    raise InvalidRequestError("This webhook endpoint is being updated by another request. Please retry.")


def delete_webhook_endpoint(endpoint_id: str, caller: Caller, store: WebhookEndpointRepository) -> dict[str, Any]:
    _find_endpoint(store, endpoint_id, caller)
    try:
        store.delete(endpoint_id)
    except ConditionFailedError:  # deleted concurrently
        raise ResourceMissingError(f"No such webhook endpoint: '{endpoint_id}'", param="id", http_status=404) from None
    return deleted_endpoint(endpoint_id)


def list_webhook_endpoints(
    params: ListWebhookEndpointsParams, caller: Caller, store: WebhookEndpointRepository
) -> dict[str, Any]:
    cursors: dict[str, str | None] = {"after": None, "before": None}
    for name, endpoint_id in (("after", params.starting_after), ("before", params.ending_before)):
        if endpoint_id is not None:
            param = "starting_after" if name == "after" else "ending_before"
            cursors[name] = _find_endpoint(store, endpoint_id, caller, param=param, http_status=400).list_sort
    data, has_more = store.list_page(
        caller.livemode, limit=params.limit, after=cursors["after"], before=cursors["before"]
    )
    return {"object": "list", "data": data, "has_more": has_more, "url": LIST_URL}


# Events


def _find_event(
    store: EventRepository, event_id: str, caller: Caller, *, now: int, param: str | None = "id", http_status: int = 404
) -> dict[str, Any]:
    event = store.get(event_id, now=now) if is_object_id(event_id) else None
    if event is None or event["livemode"] != caller.livemode:
        raise ResourceMissingError(f"No such event: '{event_id}'", param=param, http_status=http_status)
    return event


def retrieve_event(event_id: str, caller: Caller, store: EventRepository, *, now: int) -> dict[str, Any]:
    return _find_event(store, event_id, caller, now=now)


def resend_event(
    event_id: str,
    endpoint_id: str,
    caller: Caller,
    events: EventRepository,
    endpoints: WebhookEndpointRepository,
    queue: DeliveryQueue,
    *,
    now: int,
) -> dict[str, Any]:
    """Queue the event for one more delivery to one enabled endpoint of its mode that listens for its type (the
    delivery carries the same event id, signed afresh); the event as retrieved."""
    event = _find_event(events, event_id, caller, now=now)
    stored = _find_endpoint(endpoints, endpoint_id, caller, param="webhook_endpoint", http_status=400)
    if stored.endpoint["status"] != "enabled":
        raise InvalidRequestError(f"The webhook endpoint {endpoint_id} is disabled.", param="webhook_endpoint")
    if not wants(stored.endpoint, event["type"]):
        raise InvalidRequestError(f"The webhook endpoint {endpoint_id} does not listen for {event['type']} events.",
                                  param="webhook_endpoint")  # fmt: skip
    queue.send([Delivery(event_id, endpoint_id, caller.livemode)])
    return event


def list_events(
    query: EventQuery,
    caller: Caller,
    store: EventRepository,
    *,
    now: int,
    limit: int,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> dict[str, Any]:
    after = before = None
    if starting_after is not None:
        after = event_sort_key(_find_event(store, starting_after, caller, now=now, param="starting_after",
                                           http_status=400))  # fmt: skip
    if ending_before is not None:
        before = event_sort_key(_find_event(store, ending_before, caller, now=now, param="ending_before",
                                            http_status=400))  # fmt: skip
    data, has_more = store.list_page(caller.livemode, query, now=now, limit=limit, after=after, before=before)
    return {"object": "list", "data": data, "has_more": has_more, "url": EVENTS_LIST_URL}
