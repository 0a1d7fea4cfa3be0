"""The customer's pages (portal_sessions/api_gateway/pages.py) read back as a browser's parser reads them."""

from __future__ import annotations

from html.parser import HTMLParser


class PageParts(HTMLParser):
    """A page's elements, attributes and text, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: dict[str, list[dict[str, str | None]]] = {}
        self.text: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.setdefault(tag, []).append(dict(attrs))
        if tag != "meta":
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() and self._open and self._open[-1] in {"h1", "p", "a", "title"}:
            self.text.append(data.strip())
