"""Use cases of the API: create sessions, manage configurations, the session lifecycle extensions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..domain.auth import Caller
from ..domain.configuration import (
    DEFAULT_CONFIGURATION_IDS,
    LIST_URL,
    default_configuration,
    new_configuration,
    updated_configuration,
)
from ..domain.handoff import check_handoff_size
from ..domain.session import PortalSession, RequestRef, after_expiration_object, flow_object
from ..domain.tokens import new_object_id, new_url_token, session_id_for, url_token_hash
from ..runtime.errors import (
    ConditionFailedError,
    ConfigurationCheckFailedError,
    InvalidRequestError,
    PermissionDeniedError,
    ResourceMissingError,
)
from ..store.configurations import ConfigurationRequirement, StoredConfiguration
from ..store.sessions import NewSession
from ..stripe_wire.api_version import RECOVERY_AND_NEW_FLOWS
from ..stripe_wire.params import EXPANDABLE, AfterExpirationParams, CreateSessionParams, ListSessionsParams
from ..stripe_wire.stripe_params import check_expand, is_object_id
from .idempotency import IdempotencyClaim

if TYPE_CHECKING:
    from ..store.ports import ConfigurationRepository, SessionRepository
    from ..store.sessions import StoredSession
    from ..stripe_wire.configuration_params import (
        CreateConfigurationParams,
        ListConfigurationsParams,
        UpdateConfigurationParams,
    )

SESSION_URL_PATH = "/p/session/"
MAX_RECOVERY_SECONDS = 30 * 86400  # after_expiration without expires_at: recoverable this long
_MISSING_RETURN_URL = (
    "Your PortalConfiguration does not have a `default_return_url`, and you did not provide a `return_url`."
)
# The configuration feature each flow type needs switched on.
_FLOW_FEATURES = {
    "payment_method_update": "payment_method_update",
    "subscription_cancel": "subscription_cancel",
    "subscription_update": "subscription_update",
    "subscription_update_confirm": "subscription_update",
    "customer_update": "customer_update",
}


@dataclass(frozen=True)
class SessionLifetimes:
    """The settings a new session is made under."""

    link_ttl_seconds: int  # until the first visit
    session_ttl_seconds: int  # after the first visit
    retention_seconds: int = 7 * 86400  # kept, ended, before it is purged


@dataclass(frozen=True)
class CreateSessionRequest:
    """A create, as the handler read it: the parameters, who asks, and what the answer depends on."""

    params: CreateSessionParams
    caller: Caller
    now: int
    lifetimes: SessionLifetimes
    base_url: str  # where session URLs point
    api_version: str = RECOVERY_AND_NEW_FLOWS
    request: RequestRef | None = None  # kept with the session for its `created` event
    idempotency: IdempotencyClaim | None = None  # completed in the session's own transaction


@dataclass(frozen=True)
class CreatedSession:
    session: PortalSession
    api_object: dict[str, Any]
    record_completed: bool  # the idempotency claim's record was completed with the session


def create_session(
    create: CreateSessionRequest, sessions: SessionRepository, configurations: ConfigurationRepository
) -> CreatedSession:
    """Check and store a new session.

    When the request needs nothing from the configuration but its say-so (a return_url is given, nothing expanded),
    one write stores the session and, in the same transaction, checks the configuration (exists, active, the flow's
    feature on); the mode's default configuration, once seen, needs no check. Otherwise, or when that check fails,
    the configuration is read, which also words the precise error.
    """
    params, caller = create.params, create.caller
    expand = params.expand or []
    check_expand(expand, EXPANDABLE)
    if caller.restricted and "configuration" in expand:
        # What a key may not read directly (the configurations endpoints), it may not read through expand either.
        raise PermissionDeniedError(
            f"The provided key '{caller.masked_key}' does not have the required permissions to expand "
            "`configuration`: restricted keys may not read portal configurations.",
            param="expand",
        )
    completion = None if params.flow_data is None else params.flow_data.after_completion
    if completion is not None and completion.redirect is not None:
        name = "flow_data[after_completion][redirect][return_url]"
        _check_return_url(completion.redirect.return_url, caller.livemode, name)
    if params.return_url is not None and "configuration" not in expand:
        _check_return_url(params.return_url, caller.livemode, "return_url")
        requirement = ConfigurationRequirement(
            configuration_id=params.configuration or DEFAULT_CONFIGURATION_IDS[caller.livemode],
            livemode=caller.livemode,
            feature=None if params.flow_data is None else _FLOW_FEATURES.get(params.flow_data.type),
        )
        draft = _draft_session(create, requirement.configuration_id, params.return_url)
        check_handoff_size(draft)
        # The default configuration, once seen, needs no check, unless the flow needs a feature of it.
        known_default = params.configuration is None and configurations.default_known(caller.livemode)
        unchecked = known_default and requirement.feature is None
        try:
            created = _store(create, sessions, draft, None, None if unchecked else requirement)
        except ConfigurationCheckFailedError:
            pass  # read it below: to word the error, or to create the default first
        else:
            if params.configuration is None:
                configurations.remember_default(caller.livemode)
            return created
    configuration = _usable_configuration(params, caller, configurations, now=create.now)
    return_url = params.return_url or configuration["default_return_url"]
    if return_url is None:
        raise InvalidRequestError(_MISSING_RETURN_URL, param="return_url")
    _check_return_url(return_url, caller.livemode, "return_url")
    draft = _draft_session(create, configuration["id"], return_url)
    check_handoff_size(draft)
    return _store(create, sessions, draft, configuration if "configuration" in expand else None, None)


def _draft_session(create: CreateSessionRequest, configuration_id: str, return_url: str) -> PortalSession:
    """The session to store, but for its id (the URL token's, once drawn)."""
    params, now, lifetimes = create.params, create.now, create.lifetimes
    recovery_until = None if params.after_expiration is None else _recovery_deadline(params.after_expiration, now)
    # Fixed now, never moved: the latest the session (visited at the last moment) or its recovery can live, then
    # the retention window, in which its link answers 410 and the API shows it `expired`.
    latest_end = max(now + lifetimes.link_ttl_seconds + lifetimes.session_ttl_seconds, recovery_until or 0)
    return PortalSession(
        id="",
        livemode=create.caller.livemode,
        customer=params.customer,
        customer_account=params.customer_account,
        configuration=configuration_id,
        flow=None if params.flow_data is None else flow_object(params.flow_data),
        locale=params.locale,
        on_behalf_of=params.on_behalf_of,
        return_url=return_url,
        created=now,
        expires_at=now + lifetimes.link_ttl_seconds,
        after_expiration=None if params.after_expiration is None else after_expiration_object(params.after_expiration),
        recovery_until=recovery_until,
        purge_at=latest_end + lifetimes.retention_seconds,
    )


def _store(
    create: CreateSessionRequest,
    sessions: SessionRepository,
    draft: PortalSession,
    shown_configuration: dict[str, Any] | None,
    requirement: ConfigurationRequirement | None,
) -> CreatedSession:
    """Store the session under a new URL token (its id is the token's hash), with its idempotency record's
    completion in the same write; the session and its API object, which shows the token in its URL."""
    for _attempt in range(3):  # a 256-bit token never collides in practice; never overwrite if it does
        token = new_url_token()
        token_hash = url_token_hash(token)
        session = replace(draft, id=session_id_for(token_hash))
        url = create.base_url.rstrip("/") + SESSION_URL_PATH + token
        shown = session.to_api_object(url, shown_configuration, now=create.now, api_version=create.api_version)
        completion = None if create.idempotency is None else create.idempotency.completion(shown)
        try:
            sessions.put_new(NewSession(session, token_hash, requirement, completion, create.request))
        except ConditionFailedError as taken:
            if taken.item is None:
                continue
            # The key is this token's hash: botocore retried a put that landed, ours.
        return CreatedSession(session, shown, record_completed=completion is not None)
    raise RuntimeError("could not store the session under a fresh token")


def _usable_configuration(
    params: CreateSessionParams, caller: Caller, configurations: ConfigurationRepository, *, now: int
) -> dict[str, Any]:
    if params.configuration is None:
        configuration = ensure_default_configuration(configurations, caller.livemode, now=now).configuration
    else:
        configuration = _find_configuration(
            configurations, params.configuration, caller, now=now, param="configuration"
        ).configuration
        if not configuration["active"]:
            raise InvalidRequestError(
                f"The configuration {configuration['id']} is not active. Activate it or use another configuration.",
                param="configuration",
            )
    if params.flow_data is not None:
        _check_flow_allowed(params.flow_data.type, configuration)
    return configuration


def _recovery_deadline(after_expiration: AfterExpirationParams, now: int) -> int:
    """Until when an expired session can be recovered by logging in: the given time, or the longest we keep it."""
    login = after_expiration.customer_login
    expires_at = None if login is None else login.expires_at
    if expires_at is None:
        return now + MAX_RECOVERY_SECONDS
    if not now < expires_at <= now + MAX_RECOVERY_SECONDS:
        name = "after_expiration[customer_login][expires_at]"
        days = MAX_RECOVERY_SECONDS // 86400
        message = f"Invalid {name}: must be in the future and at most {days} days from now."
        raise InvalidRequestError(message, code="parameter_invalid", param=name)
    return expires_at


_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _check_return_url(url: str, livemode: bool, param: str) -> None:
    """Customers are only ever sent on over https; plain http is for a developer's own machine, in test mode."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and not livemode and parts.hostname in _LOOPBACK_HOSTS):
        return
    raise InvalidRequestError(
        f"Not a valid URL: {param} must use https (http only for localhost, in test mode).",
        code="url_invalid",
        param=param,
    )


def _check_flow_allowed(flow_type: str, configuration: dict[str, Any]) -> None:
    feature = _FLOW_FEATURES.get(flow_type)
    if feature is not None and not configuration["features"][feature]["enabled"]:
        raise InvalidRequestError(
            f"You cannot create a portal session with a `{flow_type}` flow because the configuration "
            f"{configuration['id']} does not have `features.{feature}.enabled` set to true.",
            param="flow_data[type]",
        )


# Configurations


def ensure_default_configuration(
    configurations: ConfigurationRepository, livemode: bool, *, now: int
) -> StoredConfiguration:
    """The mode's default configuration, created the first time anything needs it."""
    stored = configurations.get(DEFAULT_CONFIGURATION_IDS[livemode])
    if stored is not None:
        configurations.remember_default(livemode)
        return stored
    configuration = default_configuration(livemode, now)
    try:
        configurations.put_new(configuration)
    except ConditionFailedError:  # created concurrently: use that one
        return ensure_default_configuration(configurations, livemode, now=now)
    configurations.remember_default(livemode)
    return StoredConfiguration(configuration, version=1)


def _find_configuration(
    configurations: ConfigurationRepository,
    configuration_id: str,
    caller: Caller,
    *,
    now: int,
    param: str | None,
    http_status: int = 400,
) -> StoredConfiguration:
    """The caller's configuration with this id; a missing one, or one of the other mode, is resource_missing."""
    if configuration_id == DEFAULT_CONFIGURATION_IDS[caller.livemode]:
        return ensure_default_configuration(configurations, caller.livemode, now=now)
    stored = configurations.get(configuration_id) if is_object_id(configuration_id) else None
    if stored is None or stored.configuration["livemode"] != caller.livemode:
        message = f"No such configuration: '{configuration_id}'"
        if stored is not None:
            used, other = ("live", "test") if caller.livemode else ("test", "live")
            message += (
                f"; a similar object exists in {other} mode, but a {used} mode key was used to make this request."
            )
        raise ResourceMissingError(message, param=param, http_status=http_status)
    return stored


def create_configuration(
    params: CreateConfigurationParams,
    caller: Caller,
    configurations: ConfigurationRepository,
    *,
    now: int,
    login_url: str,
    idempotency: IdempotencyClaim | None = None,
) -> dict[str, Any]:
    """A new configuration, stored with its create's idempotency record completed in the same write."""
    configuration = new_configuration(params, new_object_id("bpc"), caller.livemode, now, login_url)
    completion = None if idempotency is None else idempotency.completion(configuration)
    configurations.put_new(configuration, completion)
    return configuration


def retrieve_configuration(
    configuration_id: str, caller: Caller, configurations: ConfigurationRepository, *, now: int
) -> dict[str, Any]:
    return _find_configuration(
        configurations, configuration_id, caller, now=now, param="id", http_status=404
    ).configuration


def update_configuration(
    configuration_id: str,
    params: UpdateConfigurationParams,
    caller: Caller,
    configurations: ConfigurationRepository,
    *,
    now: int,
    login_url: str,
) -> dict[str, Any]:
    for _attempt in range(5):  # optimistic: re-read and re-apply if another update landed in between
        stored = _find_configuration(configurations, configuration_id, caller, now=now, param="id", http_status=404)
        if params.active is False and stored.configuration["is_default"]:
            raise InvalidRequestError("The default configuration cannot be deactivated.", param="active")
        updated = updated_configuration(stored.configuration, params, now, login_url)
        try:
            configurations.replace(updated, stored.version)
        except ConditionFailedError:
            continue
        return updated
    raise InvalidRequestError("This configuration is being updated by another request. Please retry.")


def list_configurations(
    params: ListConfigurationsParams, caller: Caller, configurations: ConfigurationRepository, *, now: int
) -> dict[str, Any]:
    ensure_default_configuration(configurations, caller.livemode, now=now)
    cursors: dict[str, str | None] = {"after": None, "before": None}
    for name, configuration_id in (("after", params.starting_after), ("before", params.ending_before)):
        if configuration_id is not None:
            param = "starting_after" if name == "after" else "ending_before"
            cursors[name] = _find_configuration(
                configurations, configuration_id, caller, now=now, param=param
            ).list_sort
    data, has_more = configurations.list_page(
        caller.livemode,
        limit=params.limit,
        after=cursors["after"],
        before=cursors["before"],
        active=params.active,
        is_default=params.is_default,
    )
    return {"object": "list", "data": data, "has_more": has_more, "url": LIST_URL}


# Session lifecycle (extensions: Stripe cannot retrieve, list or expire portal sessions)

SESSIONS_LIST_URL = "/v1/billing_portal/sessions"


def _find_session(
    store: SessionRepository, session_id: str, caller: Caller, *, now: int, param: str | None = "id"
) -> StoredSession:
    stored = store.get_by_id(session_id) if is_object_id(session_id) else None
    if stored is None or stored.session.livemode != caller.livemode or stored.session.is_purged(now):
        raise ResourceMissingError(f"No such billing_portal.session: '{session_id}'", param=param, http_status=404)
    return stored


def retrieve_session(
    session_id: str, caller: Caller, store: SessionRepository, *, now: int, api_version: str = RECOVERY_AND_NEW_FLOWS
) -> dict[str, Any]:
    """The session as created, but with `url` null: only its hash is kept, so it cannot be shown again."""
    return _find_session(store, session_id, caller, now=now).session.to_api_object(
        None, now=now, api_version=api_version
    )


def list_sessions(
    params: ListSessionsParams,
    caller: Caller,
    store: SessionRepository,
    *,
    now: int,
    api_version: str = RECOVERY_AND_NEW_FLOWS,
) -> dict[str, Any]:
    cursors: dict[str, str | None] = {"after": None, "before": None}
    for name, session_id in (("after", params.starting_after), ("before", params.ending_before)):
        if session_id is not None:
            param = "starting_after" if name == "after" else "ending_before"
            cursors[name] = _find_session(store, session_id, caller, now=now, param=param).list_sort
    sessions, has_more = store.list_for_owner(
        caller.livemode,
        customer=params.customer,
        customer_account=params.customer_account,
        limit=params.limit,
        after=cursors["after"],
        before=cursors["before"],
    )
    data = [
        session.to_api_object(None, now=now, api_version=api_version)
        for session in sessions
        if not session.is_purged(now)
    ]
    return {"object": "list", "data": data, "has_more": has_more, "url": SESSIONS_LIST_URL}


def expire_session(
    session_id: str,
    caller: Caller,
    store: SessionRepository,
    *,
    now: int,
    request: RequestRef | None = None,
    api_version: str = RECOVERY_AND_NEW_FLOWS,
) -> dict[str, Any]:
    """End a session now: its URL answers 410 from then on, and it cannot be recovered by logging in."""
    for _attempt in range(2):  # once more if it lapsed between the read and the write
        stored = _find_session(store, session_id, caller, now=now)
        try:
            return store.expire(stored, now, request).to_api_object(None, now=now, api_version=api_version)
        except ConditionFailedError:
            if stored.session.is_expired(now):
                break
    raise InvalidRequestError(
        f"This session has already expired: {session_id}. Only sessions that are open, visited, or still "
        "recoverable by logging in can be expired."
    )
