"""Reading what a client of the running service got: the JSON behind an object of Stripe's SDK, a session URL's
token, what the demo portal's page shows; and the table key the store derives from a token."""

from __future__ import annotations

import hashlib
import html
import json
import re
from typing import Any

import stripe


def raw_json(obj: stripe.StripeObject) -> Any:
    """The JSON exactly as the service sent it, before the SDK turned it into objects."""
    assert obj.last_response is not None
    return json.loads(obj.last_response.body)


def url_token(session_url: str) -> str:
    return session_url.rsplit("/", 1)[1]


def session_key(token: str) -> dict[str, Any]:
    """The session item's key, derived here as docs/architecture.md says the store does (not by the store's own code):
    `token#` + SHA-256 of the URL token."""
    return {"pk": {"S": "token#" + hashlib.sha256(token.encode("ascii")).hexdigest()}}


def portal_page_fields(page: str) -> dict[str, str]:
    """What the demo portal (or its login page) shows, by the id of each cell, plus the href of its Return link."""
    fields = {name: html.unescape(value) for name, value in re.findall(r"<td id='(\w+)'>([^<]*)</td>", page)}
    link = re.search(r'<a id="return" href="([^"]*)"', page)
    if link:
        fields["return"] = html.unescape(link.group(1))
    return fields
