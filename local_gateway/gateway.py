"""An HTTP server that does what API Gateway's HTTP API does for this service: match a route of the
template, build the payload 2.0 event, invoke the function, and turn its result into the response."""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .runtime import FunctionRuntime
from .template import DEFAULT_ROUTE, Route

_CHUNK_LINE_LIMIT = 1024  # a chunk's size line, or a trailer field
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")

LocalPage = Callable[[str, dict[str, str]], tuple[int, dict[str, str], str]]


def build_event(
    route: Route,
    path_parameters: dict[str, str],
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway sends for this request."""
    url = urlsplit(target)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value  # HTTP API joins repeats
    lowered.setdefault("x-forwarded-proto", "http")
    lowered.setdefault("x-forwarded-for", source_ip)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": lowered.get("host", "127.0.0.1").split(".")[0],
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if "cookie" in lowered:
        event["cookies"] = [cookie.strip() for cookie in lowered.pop("cookie").split(";")]
    if url.query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(url.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        content_type = lowered.get("content-type", "")
        if content_type.startswith(_TEXT_TYPES):
            event["body"] = body.decode("utf-8", errors="replace")
        else:  # like HTTP API: form posts and other types arrive base64-encoded
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def match_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway picks: one matching method and path, else the `$default` route if there is one."""
    for route in routes:
        if route.path != DEFAULT_ROUTE and route.method in (method, "ANY"):
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
    return next(((route, {}) for route in routes if route.path == DEFAULT_ROUTE), None)


class GatewayServer(ThreadingHTTPServer):
    """Bound before the functions are set up, so port 0 can pick a free port the banner then shows."""

    runtime: FunctionRuntime
    daemon_threads = True
    request_queue_size = 128  # the default of 5 resets connections when many clients arrive at once


def make_server(host: str, port: int, routes: list[Route], local_pages: dict[str, LocalPage]) -> GatewayServer:
    class GatewayHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "portal-sessions-local"
        # The headers and the body go out in two writes: with Nagle's algorithm on, the body would wait for the
        # client's delayed ACK of the headers (up to 40 ms a response on Linux).
        disable_nagle_algorithm = True

        def __getattr__(self, name: str) -> Callable[[], None]:
            # http.server answers a method without a do_METHOD with its own 501 page; API Gateway takes every
            # method to its routes (the $default route included), so every method is handled here.
            if name.startswith("do_") and name[3:].isupper():
                return lambda: self._handle(name[3:])
            raise AttributeError(name)

        def _handle(self, method: str) -> None:
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                chunked = self._read_chunked()
                if chunked is None:
                    return
                body = chunked
            else:
                declared = self.headers.get("content-length")
                if declared is not None and not (declared.strip().isascii() and declared.strip().isdigit()):
                    # Not 1*DIGIT: where the body ends is unknown, so nothing after the headers can be trusted.
                    self._refuse(400, "Bad Request")
                    return
                length = int(declared or 0)
                if length > MAX_PAYLOAD_BYTES:
                    self._refuse(413, "Request Entity Too Large")
                    return
                body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            if method == "GET" and path in local_pages:
                query = dict(parse_qsl(urlsplit(self.path).query))
                self._send(*local_pages[path](path, query))
                return
            matched = match_route(routes, method, path)
            if matched is None:
                self._send(404, {"Content-Type": "application/json"}, json.dumps({"message": "Not Found"}))
                return
            route, path_parameters = matched
            # Like API Gateway, the gateway states its own scheme: a client's X-Forwarded-Proto is not passed on.
            headers = {name: value for name, value in self.headers.items() if name.lower() != "x-forwarded-proto"}
            headers["x-forwarded-proto"] = "http"
            event = build_event(route, path_parameters, method, self.path, headers, body, self.client_address[0])
            started = time.perf_counter()
            try:
                result = self.server.runtime.invoke(route.function, event)  # type: ignore[attr-defined]
            except Exception:  # what API Gateway answers when the function itself fails
                self._send(500, {"Content-Type": "application/json"}, json.dumps({"message": "Internal Server Error"}))
                raise
            self._send_lambda_result(result, head=method == "HEAD")
            elapsed_ms = (time.perf_counter() - started) * 1000
            # The route key, never the path: a session URL's path is its secret token.
            print(f"{route.route_key} -> {result.get('statusCode')} ({elapsed_ms:.0f} ms)", file=sys.stderr, flush=True)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own refusals (a request line too long or malformed, before any route): JSON, as the
            gateway's others, rather than its HTML page, and the connection closed."""
            text = message or HTTPStatus(code).phrase
            self._send(
                code, {"Content-Type": "application/json"}, json.dumps({"message": text}), head=self.command == "HEAD"
            )
            self.close_connection = True

        def _read_chunked(self) -> bytes | None:
            """A body sent in chunks (`Transfer-Encoding: chunked`), read whole within the payload cap, so the next
            request on the connection starts where it should; None once refused (and the connection closed)."""
            body = b""
            while True:
                size_line = self.rfile.readline(_CHUNK_LINE_LIMIT).split(b";", 1)[0].strip()
                if not size_line or not all(c in b"0123456789abcdefABCDEF" for c in size_line):
                    self._refuse(400, "Bad Request")
                    return None
                size = int(size_line, 16)
                if len(body) + size > MAX_PAYLOAD_BYTES:
                    self._refuse(413, "Request Entity Too Large")
                    return None
                if size == 0:
                    while self.rfile.readline(_CHUNK_LINE_LIMIT) not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields, not kept
                    return body
                body += self.rfile.read(size)
                if self.rfile.readline(_CHUNK_LINE_LIMIT) not in (b"\r\n", b"\n"):
                    self._refuse(400, "Bad Request")
                    return None

        def _refuse(self, status: int, message: str) -> None:
            """Answer before reading the body, and close: the rest of the stream is not a request to read on."""
            self._send(status, {"Content-Type": "application/json"}, json.dumps({"message": message}))
            self.close_connection = True

        def _send_lambda_result(self, result: dict[str, Any], head: bool) -> None:
            headers = dict(result.get("headers") or {})
            body = result.get("body") or ""
            raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
            self._send(int(result.get("statusCode", 200)), headers, raw, result.get("cookies") or [], head=head)

        def _send(
            self,
            status: int,
            headers: dict[str, str],
            body: str | bytes,
            cookies: list[str] | None = None,
            head: bool = False,
        ) -> None:
            raw = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            for cookie in cookies or []:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if not head:
                self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            # The request line holds session tokens and hand-offs: log only method, route and status.
            return

    return GatewayServer((host, port), GatewayHandler)
