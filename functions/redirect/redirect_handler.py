"""GET/HEAD /p/session/{token}: the session's URL, which hands a live session over to the portal."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from portal_sessions import clock
from portal_sessions.errors import SessionExpiredError, SessionNotFoundError, StripeError
from portal_sessions.handoff import AUDIENCE, RECOVERY_AUDIENCE, issue_handoff_token, load_signing_key
from portal_sessions.links import check_session, visit_session
from portal_sessions.observability import logger, metrics, traced
from portal_sessions.pages import HTML_HEADERS, expired_page, not_found_page, unavailable_page
from portal_sessions.request_log import current_request_id, logged_request
from portal_sessions.session import RequestRef
from portal_sessions.settings import redirect_settings
from portal_sessions.store import SessionStore

redirect_settings()  # at init: a bad setting fails the function's start with its message, not each request

# One path (GET and HEAD) that API Gateway has already matched, so no router: Powertools' event handler package would
# add about 100 ms to each cold start of a link a customer is waiting on.
HANDOFF_PARAMETER = "handoff"


def visit_session_route(token: str) -> dict[str, Any]:
    settings = redirect_settings()
    signing_key = load_signing_key(settings.handoff_secret_id)  # first, so a failure records no visit
    now = clock.now()
    store = SessionStore(settings.table_name)
    request = RequestRef(current_request_id())
    visit = visit_session(token, store, now=now, session_ttl_seconds=settings.session_ttl_seconds, request=request)
    if visit.recovery:  # expired, but after_expiration lets the customer log in to get it back
        audience, target, parameter, metric = RECOVERY_AUDIENCE, settings.portal_login_url, "recovery", "Recoveries"
    else:
        audience, target, parameter, metric = AUDIENCE, settings.portal_url, HANDOFF_PARAMETER, "SessionsVisited"
    handoff = issue_handoff_token(
        visit.session, now=now, ttl_seconds=settings.handoff_ttl_seconds, signing_key=signing_key, audience=audience
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
    except SessionNotFoundError:
        metrics.add_metric(name="SessionLinksUnknown", unit=MetricUnit.Count, value=1)
        return _response(404, dict(HTML_HEADERS), not_found_page())
    except SessionExpiredError as error:
        metrics.add_metric(name="SessionLinksExpired", unit=MetricUnit.Count, value=1)
        return _response(410, dict(HTML_HEADERS), expired_page(error.return_url))
    except StripeError as error:  # the store or a secret is unavailable: the link stays valid for a retry
        logger.append_keys(error_code=error.code)
        metrics.add_metric(name="SessionLinksUnavailable", unit=MetricUnit.Count, value=1)
        return _response(503, dict(HTML_HEADERS) | {"Retry-After": "2"}, unavailable_page())
    except Exception:
        logger.exception("unexpected error")
        metrics.add_metric(name="UnexpectedErrors", unit=MetricUnit.Count, value=1)
        return _response(500, dict(HTML_HEADERS), unavailable_page())


def _response(status: int, headers: dict[str, str], body: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}


def _with_query_parameter(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(key, item) for key, item in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))


@traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return logged_request(event, lambda: respond(event))
