"""What the sample events in events/ refer to, seeded into the store before a local invoke."""

from __future__ import annotations

import time

from portal_sessions.domain.session import PortalSession
from portal_sessions.domain.tokens import session_id_for, url_token_hash
from portal_sessions.store.sessions import NewSession, SessionStore

SAMPLE_API_KEY = "sk_test_SampleEventsKeyLocalOnly0"
SAMPLE_LIVE_TOKEN = "sampleLiveSessionTokenForLocalInvoke0000001"
SAMPLE_UNKNOWN_TOKEN = "sampleUnknownSessionTokenNeverStored0000001"
SAMPLE_EVENT_ID = "evt_SampleQueuedEvent000000001"  # the event events/webhook_queue_event.json dispatches


def seed_sample_session(table_name: str, link_seconds: int = 300) -> None:
    """A live, unvisited session whose URL token is the one in events/redirect_live.json; its link lasts
    `link_seconds` (the template's default LinkTtlSeconds)."""
    now = int(time.time())
    session = PortalSession(
        id=session_id_for(url_token_hash(SAMPLE_LIVE_TOKEN)),
        livemode=False,
        customer="cus_SampleCustomer",
        customer_account=None,
        configuration="bpc_DefaultTestConfiguration",
        flow=None,
        locale=None,
        on_behalf_of=None,
        return_url="https://example.com/account",
        created=now,
        expires_at=now + link_seconds,
        purge_at=now + link_seconds + 8 * 86400,
    )
    SessionStore(table_name).put_new(NewSession(session, url_token_hash(SAMPLE_LIVE_TOKEN)))


def seed_sample_event(table_name: str) -> None:
    """The stored event that events/webhook_queue_event.json asks the delivery function to dispatch."""
    from portal_sessions.store.webhooks import EventStore
    from portal_sessions.stripe_wire.api_version import LATEST

    now = int(time.time())
    session = {"id": "bps_SampleQueuedEventSession", "object": "billing_portal.session", "livemode": False}
    event = {
        "id": SAMPLE_EVENT_ID, "object": "event", "api_version": LATEST, "created": now, "data": {"object": session},
        "livemode": False, "pending_webhooks": 0, "request": {"id": None, "idempotency_key": None},
        "type": "billing_portal.session.created",
    }  # fmt: skip
    EventStore(table_name).put_new(event)
