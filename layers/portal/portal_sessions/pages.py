"""The small HTML pages a customer sees when a session link cannot be used."""

from __future__ import annotations

from html import escape

HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 15vh auto; padding: 0 1rem; color: #1a1f36; }}
h1 {{ font-size: 1.4rem; }}
a {{ color: #635bff; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{message}</p>
{link}
</body>
</html>
"""


def _page(title: str, message: str, return_url: str | None) -> str:
    link = f'<p><a href="{escape(return_url, quote=True)}">Return to the site</a></p>' if return_url else ""
    return _PAGE.format(title=escape(title), message=escape(message), link=link)


def not_found_page() -> str:
    return _page(
        "This link is not valid",
        "This billing portal link does not exist. Please go back to the site you came from and open the portal again.",
        None,
    )


def expired_page(return_url: str | None) -> str:
    return _page(
        "This link has expired",
        "Billing portal links are short-lived. Please go back and open the portal again to get a new link.",
        return_url,
    )


def unavailable_page() -> str:
    return _page(
        "Please try again",
        "The billing portal cannot be reached right now. Please try this link again in a moment.",
        None,
    )
