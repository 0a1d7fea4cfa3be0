"""Erasure on a data-protection request (`python -m portal_admin sessions erase`): one owner's sessions and the events
that name them, deleted now, announcing nothing.

Each session is marked erased before it is deleted, so the stream's record of the deletion makes no `expired` event;
a session's events have ids derived from its own (eventbus.session_event_id), so they are found by key, without a
scan. What this cannot reach is stated in the README ("Erasure"): what was already published or delivered, the
stream's own 24 hours, backups, and idempotency records until they expire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..outbound.eventbus import SESSION_EVENT_TYPES, session_event_id

if TYPE_CHECKING:
    from ..store.sessions import SessionStore
    from ..store.webhooks import EventStore


def erase_owner(
    sessions: SessionStore,
    events: EventStore,
    *,
    livemode: bool,
    customer: str | None = None,
    customer_account: str | None = None,
) -> tuple[int, int]:
    """(sessions erased, their stored events deleted)."""
    erased = sessions.erase_owner(livemode, customer=customer, customer_account=customer_account)
    event_ids = [
        session_event_id(session_id, event_type) for session_id in erased for event_type in SESSION_EVENT_TYPES
    ]
    return len(erased), events.delete(event_ids)
