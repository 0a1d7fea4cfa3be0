"""Opening a session's URL: the first visit starts the session; HEAD looks without visiting.

Kept apart from service.py so the redirect function imports none of the request models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..domain.session import PortalSession, RequestRef, SessionExpiredError
from ..domain.tokens import is_well_formed_url_token, url_token_hash
from ..runtime.errors import SessionNotFoundError

if TYPE_CHECKING:
    from ..store.ports import SessionRepository


@dataclass(frozen=True)
class SessionVisit:
    session: PortalSession
    recovery: bool = False  # expired, but after_expiration lets the customer log in to get it back
    first: bool = False  # this visit started the session


def visit_session(
    token: str,
    store: SessionRepository,
    *,
    now: int,
    session_ttl_seconds: int,
    retention_seconds: int,
    request: RequestRef | None = None,
) -> SessionVisit:
    """A GET of the session URL: the first visit starts the session's usable lifetime."""
    if not is_well_formed_url_token(token):
        raise SessionNotFoundError
    result = store.record_visit(url_token_hash(token), now, session_ttl_seconds, retention_seconds, request)
    if result.session is None:
        raise SessionNotFoundError
    if result.expired:
        if result.session.can_be_recovered(now):
            return SessionVisit(result.session, recovery=True)
        raise SessionExpiredError(result.session)
    return SessionVisit(result.session, first=result.first_visit)


def check_session(token: str, store: SessionRepository, *, now: int) -> PortalSession:
    """A HEAD of the session URL (link previews, scanners): answers like a visit but records nothing."""
    if not is_well_formed_url_token(token):
        raise SessionNotFoundError
    session = store.find(url_token_hash(token))
    if session is None or session.is_purged(now):
        raise SessionNotFoundError
    if session.is_expired(now) and not session.can_be_recovered(now):
        raise SessionExpiredError(session)
    return session
