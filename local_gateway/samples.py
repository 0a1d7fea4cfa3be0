"""What the sample events in events/ refer to, seeded into the store before a local invoke."""

from __future__ import annotations

import time

from portal_sessions.session import PortalSession
from portal_sessions.store.sessions import NewSession, SessionStore
from portal_sessions.tokens import session_id_for, url_token_hash

SAMPLE_API_KEY = "sk_test_SampleEventsKeyLocalOnly0"
SAMPLE_LIVE_TOKEN = "sampleLiveSessionTokenForLocalInvoke0000001"
SAMPLE_UNKNOWN_TOKEN = "sampleUnknownSessionTokenNeverStored0000001"


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
