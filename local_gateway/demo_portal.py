"""A stand-in for the billing portal on a local run: verifies the hand-off and shows what it carries."""

from __future__ import annotations

from html import escape

import jwt

from portal_sessions.api_gateway.html_headers import HTML_HEADERS
from portal_sessions.domain.handoff import AUDIENCES, RECOVERY_AUDIENCES, Keyring, verify_handoff_token

PATH = "/_local/portal"  # the test-mode portal: a local run's key is a test key
LOGIN_PATH = "/_local/portal/login"
LIVE_PATH = "/_local/live/portal"
LIVE_LOGIN_PATH = "/_local/live/portal/login"


class PortalPage:
    """One mode's portal (`handoff`), or with login=True its login page (`recovery` of an expired session).

    Like a real portal it holds only its own mode's keyring and accepts only its own mode's audience, so a hand-off
    of the other mode is refused."""

    def __init__(self, keyring: Keyring, *, livemode: bool, login: bool = False) -> None:
        self._keys = keyring.keys
        self._audience = (RECOVERY_AUDIENCES if login else AUDIENCES)[livemode]
        self._parameter = "recovery" if login else "handoff"
        self._login = login

    def __call__(self, _path: str, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        try:
            claims = verify_handoff_token(query.get(self._parameter, ""), keys=self._keys, audience=self._audience)
        except jwt.InvalidTokenError as exc:
            return 401, dict(HTML_HEADERS), _html("Hand-off rejected", f"<p>{escape(str(exc))}</p>")
        flow = claims.get("flow") or {}
        rows = {
            "Customer": claims.get("customer") or claims.get("customer_account"),
            "Session": claims["sid"],
            "Mode": "live" if claims.get("livemode") else "test",
            "Flow": flow.get("type", "none"),
            "Locale": claims.get("locale") or "auto",
        }
        table = "".join(
            f"<tr><th>{escape(k)}</th><td id='{k.lower()}'>{escape(str(v))}</td></tr>" for k, v in rows.items()
        )
        return_url = claims.get("return_url")
        link = f'<p><a id="return" href="{escape(return_url, quote=True)}">Return</a></p>' if return_url else ""
        title = "Log in to continue (local demo)" if self._login else "Billing portal (local demo)"
        return 200, dict(HTML_HEADERS), _html(title, f"<table>{table}</table>{link}")


def _html(title: str, content: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f"<body><h1>{escape(title)}</h1>{content}</body></html>"
    )
