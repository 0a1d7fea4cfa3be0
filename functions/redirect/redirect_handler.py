"""GET/HEAD /p/session/{token}: the session's URL, which hands a live session over to the portal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions.api_gateway.html_headers import HTML_HEADERS
from portal_sessions.api_gateway.priming import prime_redirect, read_redirect_keys
from portal_sessions.api_gateway.request_log import current_request_id, logged_request
from portal_sessions.domain.handoff import issue_handoff_token, load_keyring
from portal_sessions.domain.session import RequestRef, SessionExpiredError
from portal_sessions.runtime import clock
from portal_sessions.runtime.errors import SessionNotFoundError, StripeError
from portal_sessions.runtime.observability import logger, metrics
from portal_sessions.runtime.settings import redirect_settings
from portal_sessions.runtime.snapstart import prime_before_snapshot, read_after_restore
from portal_sessions.store.configurations import ConfigurationStore
from portal_sessions.store.sessions import SessionStore
from portal_sessions.use_cases.links import check_session, visit_session

if TYPE_CHECKING:
    from portal_sessions.api_gateway.pages import BusinessProfile, Page
    from portal_sessions.domain.session import PortalSession

redirect_settings()  # at init: a bad setting fails the function's start with its message, not each request
prime_before_snapshot(prime_redirect)  # with SnapStart only: before the snapshot, never in a cold start's init
read_after_restore(read_redirect_keys)  # with SnapStart only: the keys, in each restored copy, never in the snapshot

# One path (GET and HEAD) that API Gateway has already matched, so no router: Powertools' event handler package would
# add about 100 ms to each cold start of a link a customer is waiting on.
HANDOFF_PARAMETER = "handoff"


def visit_session_route(token: str) -> dict[str, Any]:
    settings = redirect_settings()
    # Both modes' keys first (cached), so a failure records no visit; the session's mode picks one after.
    keyrings = {True: load_keyring(settings.handoff_secret_id), False: load_keyring(settings.test_handoff_secret_id)}
    now = clock.now()
    store = SessionStore(settings.table_name)
    request = RequestRef(current_request_id())
    visit = visit_session(
        token,
        store,
        now=now,
        session_ttl_seconds=settings.session_ttl_seconds,
        retention_seconds=settings.expired_retention_seconds,
        request=request,
    )
    livemode = visit.session.livemode
    if visit.recovery:  # expired, but after_expiration lets the customer log in to get it back
        target, parameter, metric = settings.portal_login_url_for(livemode), "recovery", "Recoveries"
    else:
        target, parameter, metric = settings.portal_url_for(livemode), HANDOFF_PARAMETER, "SessionsVisited"
    handoff = issue_handoff_token(
        visit.session,
        now=now,
        ttl_seconds=settings.handoff_ttl_seconds,
        keyring=keyrings[livemode],
        recovery=visit.recovery,
    )
    logger.append_keys(session_id=visit.session.id, recovery=visit.recovery, first_visit=visit.first)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    headers = {key: HTML_HEADERS[key] for key in ("Cache-Control", "Referrer-Policy")}
    headers["Location"] = _with_query_parameter(target, parameter, handoff)
    return _response(302, headers, "")


def check_session_route(token: str) -> dict[str, Any]:
    settings = redirect_settings()
    check_session(token, SessionStore(settings.table_name), now=clock.now())
    metrics.add_metric(name="SessionLinksChecked", unit=MetricUnit.Count, value=1)
    return _response(200, dict(HTML_HEADERS), "")


def respond(event: dict[str, Any]) -> dict[str, Any]:
    """The page (or redirect) for this request; a customer's browser gets HTML, never API JSON or a stack trace."""
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    token = (event.get("pathParameters") or {}).get("token", "")
    try:
        if method == "GET":
            return visit_session_route(token)
        if method == "HEAD":
            return check_session_route(token)
        raise SessionNotFoundError()  # no other method reaches this function through API Gateway
    except Exception as error:
        return error_page(error, method, (event.get("headers") or {}).get("accept-language"))


def error_page(error: Exception, method: str, accept_language: str | None) -> dict[str, Any]:
    """The page of a link that cannot be used, in the customer's language (called while `error` is handled)."""
    from portal_sessions.api_gateway import (
        pages,  # deferred: a link that works renders no page, so its cold start skips them
    )

    match error:
        case SessionNotFoundError():
            metrics.add_metric(name="SessionLinksUnknown", unit=MetricUnit.Count, value=1)
            return _page_response(404, pages.not_found_page(accept_language))
        case SessionExpiredError(session=session):
            metrics.add_metric(name="SessionLinksExpired", unit=MetricUnit.Count, value=1)
            # A HEAD shows no page, so only a GET reads the configuration for the business it names.
            business = _business_profile(session) if method == "GET" else None
            page = pages.expired_page(
                session.return_url, session_locale=session.locale, accept_language=accept_language, business=business
            )
            return _page_response(410, page)
        case StripeError(code=code):  # the store or a secret is unavailable: the link stays valid for a retry
            logger.append_keys(error_code=code)
            metrics.add_metric(name="SessionLinksUnavailable", unit=MetricUnit.Count, value=1)
            return _page_response(503, pages.unavailable_page(accept_language), {"Retry-After": "2"})
        case _:
            logger.exception("unexpected error")
            metrics.add_metric(name="UnexpectedErrors", unit=MetricUnit.Count, value=1)
            return _page_response(500, pages.unavailable_page(accept_language))


def _business_profile(session: PortalSession) -> BusinessProfile | None:
    """What the session's configuration says of the business: one read; none if it cannot be read (the expired page
    is still shown, without it)."""
    from portal_sessions.api_gateway.pages import BusinessProfile

    try:
        stored = ConfigurationStore(redirect_settings().table_name).get(session.configuration)
    except StripeError as error:
        logger.warning("configuration unreadable for the expired page", extra={"error_code": error.code})
        return None
    return BusinessProfile.of_configuration(stored.configuration) if stored else None


def _page_response(status: int, page: Page, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    headers = HTML_HEADERS | {"Content-Language": page.language} | (extra_headers or {})
    return _response(status, headers, page.html)


def _response(status: int, headers: dict[str, str], body: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}


def _with_query_parameter(url: str, name: str, value: str) -> str:
    """The URL with `name=value` as its last query parameter (any other `name` dropped); the rest of the query is
    kept as written, so the URL grows by the parameter alone (`value` is URL-safe: a JWT)."""
    parts = urlsplit(url)
    kept = [pair for pair in parts.query.split("&") if pair and unquote_plus(pair.split("=", 1)[0]) != name]
    return urlunsplit(parts._replace(query="&".join([*kept, f"{name}={value}"])))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return logged_request(event, lambda: respond(event))
