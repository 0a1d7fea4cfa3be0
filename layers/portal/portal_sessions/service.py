"""Use cases: create a session, visit its URL, clean up expired sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .auth import Caller
from .configuration import configuration_object, resolve_configuration_id
from .errors import InvalidRequestError, SessionExpiredError, SessionNotFoundError
from .params import CreateSessionParams
from .session import PortalSession, flow_object
from .store import SessionConflictError, SessionStore, purge_bucket
from .tokens import is_well_formed_url_token, new_object_id, new_url_token, url_token_hash

SESSION_URL_PATH = "/p/session/"
EXPANDABLE = ("configuration", "flow")
_MISSING_RETURN_URL = (
    "Your PortalConfiguration does not have a `default_return_url`, and you did not provide a `return_url`."
)


@dataclass(frozen=True)
class CreatedSession:
    session: PortalSession
    api_object: dict[str, Any]


def create_session(
    params: CreateSessionParams,
    caller: Caller,
    store: SessionStore,
    *,
    now: int,
    link_ttl_seconds: int,
    base_url: str,
) -> CreatedSession:
    expand = params.expand or []
    for field in expand:
        if field not in EXPANDABLE:
            raise InvalidRequestError(
                f"This property cannot be expanded ({field}).", code="parameter_invalid", param="expand"
            )
    configuration_id = resolve_configuration_id(params.configuration, caller.livemode)
    configuration = configuration_object(configuration_id, caller.livemode)
    return_url = params.return_url or configuration["default_return_url"]
    if return_url is None:
        raise InvalidRequestError(_MISSING_RETURN_URL, param="return_url")

    session = PortalSession(
        id=new_object_id("bps"),
        livemode=caller.livemode,
        customer=params.customer,
        customer_account=params.customer_account,
        configuration=configuration_id,
        flow=None if params.flow_data is None else flow_object(params.flow_data),
        locale=params.locale,
        on_behalf_of=params.on_behalf_of,
        return_url=return_url,
        created=now,
        expires_at=now + link_ttl_seconds,
    )
    for _attempt in range(3):  # a 256-bit token never collides in practice; never overwrite if it does
        token = new_url_token()
        try:
            store.put_new(session, url_token_hash(token))
            break
        except SessionConflictError:
            continue
    else:
        raise RuntimeError("could not store the session under a fresh token")
    url = base_url.rstrip("/") + SESSION_URL_PATH + token
    shown_configuration = configuration if "configuration" in expand else None
    return CreatedSession(session=session, api_object=session.to_api_object(url, shown_configuration))


def visit_session(token: str, store: SessionStore, *, now: int, session_ttl_seconds: int) -> PortalSession:
    """A GET of the session URL: the first visit starts the session's usable lifetime."""
    if not is_well_formed_url_token(token):
        raise SessionNotFoundError
    result = store.record_visit(url_token_hash(token), now, session_ttl_seconds)
    if result.session is None:
        raise SessionNotFoundError
    if result.expired:
        raise SessionExpiredError(result.session.return_url)
    return result.session


def check_session(token: str, store: SessionStore, *, now: int) -> PortalSession:
    """A HEAD of the session URL (link previews, scanners): answers like a visit but records nothing."""
    if not is_well_formed_url_token(token):
        raise SessionNotFoundError
    session = store.find(url_token_hash(token))
    if session is None:
        raise SessionNotFoundError
    if session.is_expired(now):
        raise SessionExpiredError(session.return_url)
    return session


def cleanup_expired_sessions(store: SessionStore, *, now: int, lookback_hours: int) -> int:
    """Delete sessions whose purge time has passed, bucket by bucket; returns the deletions sent.

    Buckets before the current hour can only hold expired items (a visit moves an item to a later bucket),
    so once they are emptied the watermark moves past them and later runs never read them again.
    """
    current = purge_bucket(now)
    start = store.cleanup_watermark()
    if start is None:
        start = current - lookback_hours
    deleted = 0
    for bucket in range(start, current + 1):
        for keys in store.expired_keys(bucket, now):
            deleted += store.delete_keys(keys)
    if current > start:
        store.advance_cleanup_watermark(current)
    return deleted
