"""Webhooks end to end: an endpoint registered with the official SDK, a receiver on loopback, and `make run`
delivering from its local queue; each delivery verified as a Stripe handler verifies it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import stripe

from tests.support.webhook_receiver import Receiver, webhook_receiver

PORTAL_EVENTS = ["billing_portal.session.created", "billing_portal.configuration.created",
                 "billing_portal.configuration.updated"]  # fmt: skip
SETTLE_TIMEOUT_SECONDS = 30.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def endpoints(client: stripe.StripeClient) -> Iterator[list[str]]:
    """Ids of the endpoints a test registers, deleted afterwards (the server is shared by the whole e2e run)."""
    made: list[str] = []
    yield made
    for endpoint_id in made:
        client.v1.webhook_endpoints.delete(endpoint_id)


def test_deliveries_verify_with_the_official_sdk(
    client: stripe.StripeClient, receiver: Receiver, endpoints: list[str]
) -> None:
    # Given an endpoint registered with the SDK, as against Stripe
    endpoint = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": PORTAL_EVENTS})
    endpoints.append(endpoint.id)
    assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
    assert "secret" not in client.v1.webhook_endpoints.retrieve(endpoint.id).to_dict()

    # When a session and a configuration are created, and the configuration updated
    session = client.v1.billing_portal.sessions.create(
        params={"customer": "cus_Webhooks", "return_url": "https://example.com/account"}
    )
    configuration = client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}
    )
    client.v1.billing_portal.configurations.update(configuration.id, params={"name": "Webhooks"})

    # Then the receiver gets each, and verifies it with stripe.Webhook.construct_event
    ours = {session.id, configuration.id}
    deliveries = receiver.wait_for(3, about=lambda event: event["data"]["object"]["id"] in ours)
    assert len(deliveries) == 3, [json.loads(d.body)["type"] for d in deliveries]
    events = [stripe.Webhook.construct_event(d.body, d.headers["stripe-signature"], endpoint.secret)
              for d in deliveries]  # fmt: skip
    by_type = {event.type: event for event in events}
    assert set(by_type) == set(PORTAL_EVENTS)
    assert by_type["billing_portal.session.created"].data.object.id == session.id
    assert by_type["billing_portal.configuration.updated"].data.object.id == configuration.id
    # the same with a wrong secret fails
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(deliveries[0].body, deliveries[0].headers["stripe-signature"], "whsec_wrong")
    # and each event can be fetched back, as stripe.Event.retrieve does
    for event in events:
        fetched = client.v1.events.retrieve(event.id)
        assert (fetched.id, fetched.type, fetched.data.object.id) == (event.id, event.type, event.data.object.id)
    listed = client.v1.events.list(params={"type": "billing_portal.session.created", "limit": 100})
    assert session.id in {event.data.object.id for event in listed.data}


def test_a_disabled_endpoint_gets_nothing(
    client: stripe.StripeClient, receiver: Receiver, endpoints: list[str]
) -> None:
    with webhook_receiver() as enabled:
        disabled = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
        endpoints.append(disabled.id)
        client.v1.webhook_endpoints.update(disabled.id, params={"disabled": True})
        watching = client.v1.webhook_endpoints.create(params={"url": enabled.url, "enabled_events": ["*"]})
        endpoints.append(watching.id)

        session = client.v1.billing_portal.sessions.create(
            params={"customer": "cus_Disabled", "return_url": "https://example.com/account"}
        )

        about_it = lambda event: event["data"]["object"]["id"] == session.id  # noqa: E731
        assert len(enabled.wait_for(1, about=about_it)) == 1  # delivered where it was wanted
        # Once its event has no webhook pending, every endpoint it went to is done with it (each settles after its
        # receiver answered): a delivery to the disabled one would have arrived by then
        event = settled_event(client, "billing_portal.session.created", session.id)
        assert event.pending_webhooks == 0
        assert receiver.received == []


def settled_event(client: stripe.StripeClient, event_type: str, object_id: str) -> stripe.Event:
    """The event of this type about this object, once it has no webhook pending (bounded wait)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        listed = client.v1.events.list(params={"type": event_type, "limit": 100})
        found = [event for event in listed.data if event.data.object.id == object_id]
        if found and found[0].pending_webhooks == 0:
            return found[0]
        if time.monotonic() > deadline:
            pytest.fail(f"the {event_type} event of {object_id} still has webhooks pending: {found}")
        time.sleep(0.1)  # bounded: polls the marker, not a guess at how long delivery takes
