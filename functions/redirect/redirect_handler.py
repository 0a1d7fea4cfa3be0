"""GET/HEAD /p/session/{token}: the session's URL, which hands a live session over to the portal."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions import clock
from portal_sessions.errors import SessionExpiredError, SessionNotFoundError, StripeError
from portal_sessions.eventbus import SESSION_VISITED, announce
from portal_sessions.handoff import AUDIENCE, RECOVERY_AUDIENCE, issue_handoff_token, load_signing_key
from portal_sessions.links import check_session, visit_session
from portal_sessions.observability import logger, metrics
from portal_sessions.pages import HTML_HEADERS, expired_page, not_found_page, unavailable_page
from portal_sessions.settings import redirect_settings
from portal_sessions.store import SessionStore
from portal_sessions.web import current_request_id, new_resolver, resolve

HANDOFF_PARAMETER = "handoff"

app = new_resolver()


@app.exception_handler(SessionNotFoundError)
def _unknown_session(_error: SessionNotFoundError) -> Response[str]:
    metrics.add_metric(name="SessionLinksUnknown", unit=MetricUnit.Count, value=1)
    return Response(status_code=404, headers=dict(HTML_HEADERS), body=not_found_page())


@app.exception_handler(SessionExpiredError)
def _expired_session(error: SessionExpiredError) -> Response[str]:
    metrics.add_metric(name="SessionLinksExpired", unit=MetricUnit.Count, value=1)
    return Response(status_code=410, headers=dict(HTML_HEADERS), body=expired_page(error.return_url))


@app.exception_handler(StripeError)
def _store_unavailable(error: StripeError) -> Response[str]:
    # A customer's browser gets a page, not API JSON; the link stays valid for a retry.
    logger.append_keys(error_code=error.code)
    metrics.add_metric(name="SessionLinksUnavailable", unit=MetricUnit.Count, value=1)
    headers = dict(HTML_HEADERS) | {"Retry-After": "2"}
    return Response(status_code=503, headers=headers, body=unavailable_page())


@app.get("/p/session/<token>")
def visit_session_route(token: str) -> Response[str]:
    settings = redirect_settings()
    signing_key = load_signing_key(settings.handoff_secret_id)  # first, so a failure records no visit
    now = clock.now()
    store = SessionStore(settings.table_name)
    visit = visit_session(token, store, now=now, session_ttl_seconds=settings.session_ttl_seconds)
    if visit.recovery:  # expired, but after_expiration lets the customer log in to get it back
        audience, target, parameter, metric = RECOVERY_AUDIENCE, settings.portal_login_url, "recovery", "Recoveries"
    else:
        audience, target, parameter, metric = AUDIENCE, settings.portal_url, HANDOFF_PARAMETER, "SessionsVisited"
    handoff = issue_handoff_token(
        visit.session, now=now, ttl_seconds=settings.handoff_ttl_seconds, signing_key=signing_key, audience=audience
    )
    logger.append_keys(session_id=visit.session.id, recovery=visit.recovery, first_visit=visit.first)
    if visit.first:
        shown = visit.session.to_api_object(None, now=now)
        announce(settings.event_bus_name, SESSION_VISITED, shown, now=now, request_id=current_request_id())
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    headers = {key: HTML_HEADERS[key] for key in ("Cache-Control", "Referrer-Policy")}
    headers["Location"] = _with_query_parameter(target, parameter, handoff)
    return Response(status_code=302, headers=headers, body="")


@app.head("/p/session/<token>")
def check_session_route(token: str) -> Response[str]:
    settings = redirect_settings()
    check_session(token, SessionStore(settings.table_name), now=clock.now())
    metrics.add_metric(name="SessionLinksChecked", unit=MetricUnit.Count, value=1)
    return Response(status_code=200, headers=dict(HTML_HEADERS), body="")


def _with_query_parameter(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(key, item) for key, item in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
