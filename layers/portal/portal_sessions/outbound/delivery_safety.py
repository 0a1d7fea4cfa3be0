"""Where webhooks may go, and the one HTTP request that delivers them.

Deployed, no endpoint may reach a private, loopback, link-local (the instance metadata service) or otherwise
non-public address: inside Lambda, 127.0.0.1 is the Runtime API. The URL is checked when an endpoint is saved (for
a quick answer) and again at every delivery: the name is resolved, every address it resolves to must be public, and
the request connects to the address that was checked (a second lookup could answer otherwise: DNS rebinding). Live
mode needs https. Redirects are not followed (a 3xx is a failed attempt) and response bodies are never read.

An attempt has one deadline for all of it: the name's lookup, the connection, TLS, sending, and the answer's status
line and headers. Socket timeouts alone would not do (they bound each read, so a receiver sending a byte, or an
interim `100 Continue`, every half second could hold an attempt for ever): at the deadline a watchdog shuts the
socket, which ends whatever step is waiting on it.

`local_receivers` (the local runner's switch, `WEBHOOK_LOCAL_RECEIVERS=true`, never set by the template) allows
loopback addresses, over http in test mode, so a developer can deliver to a receiver on their own machine.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..runtime.errors import DeliveryFailedError, InvalidRequestError, UnsafeUrlError

ATTEMPT_TIMEOUT_SECONDS = 10.0
Resolver = Callable[..., list[tuple[Any, ...]]]
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


# IPv6 forms that carry an IPv4 address a translator or tunnel may reach (NAT64, 6to4, IPv4-compatible): Python calls
# some of them global whatever IPv4 address they wrap, so none is a receiver.
_IPV4_CARRYING = tuple(
    ipaddress.IPv6Network(prefix) for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::/96")
)
# Only global unicast is ever a receiver: an allow-list, so a range Python wrongly calls global (IPv4-translated
# ::ffff:0:0:0/96, site-local fec0::/10) is refused without being named. What is refused inside it (6to4,
# documentation, ...) is still refused by the checks above and `is_global`.
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# Inside it, what is no receiver though Python calls it global: identifiers, not locators (ORCHID and ORCHIDv2,
# RFC 4843 and 7343: "not routable at the IP layer"), and the second documentation prefix (RFC 9637).
_IPV6_NOT_ROUTABLE = tuple(ipaddress.IPv6Network(prefix) for prefix in ("2001:10::/28", "2001:20::/28", "3fff::/20"))
# IETF protocol assignments (RFC 6890): the dummy address, the PCP and TURN anycast services; none a receiver.
_IPV4_PROTOCOL_ASSIGNMENTS = ipaddress.IPv4Network("192.0.0.0/24")
# A host of digits, dots and hex letters is read by the resolver as an IPv4 address in inet_aton's forms (127.1,
# 2130706433, 0177.0.0.1, 0x7f.1): the save check reads it the same way. A name has a label that is not a number.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, local_receivers: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv6Address) and any(address in network for network in _IPV4_CARRYING):
        return local_receivers and address.is_loopback  # ::1 lies in ::/96
    if local_receivers and address.is_loopback:
        return True
    if isinstance(address, ipaddress.IPv6Address) and (
        address not in _IPV6_GLOBAL_UNICAST or any(address in network for network in _IPV6_NOT_ROUTABLE)
    ):
        return False
    if isinstance(address, ipaddress.IPv4Address) and address in _IPV4_PROTOCOL_ASSIGNMENTS:
        return False
    return address.is_global and not address.is_multicast


def _host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names as the resolver reads it, or None for a name (resolved only at delivery)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:  # out of range (256.1.1.1, 0x100000000): no resolver takes it as an address
        return None


def _url_problem(url: str, livemode: bool, local_receivers: bool) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host or parts.username is not None or (port is not None and port <= 0):
        return "it is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "it must use https"
    if parts.scheme == "http" and livemode:
        return "live mode endpoints must use https"
    literal = _host_address(host)
    if literal is not None and not _address_allowed(literal, local_receivers):
        return "it points to a private, loopback or link-local address"
    if literal is None and host in _LOCAL_NAMES and not local_receivers:
        return "it points to a private, loopback or link-local address"
    return None


def check_endpoint_url(url: str, livemode: bool, *, local_receivers: bool = False) -> None:
    """What can be told from the URL alone (names are resolved at delivery): an InvalidRequestError if refused."""
    problem = _url_problem(url, livemode, local_receivers)
    if problem is not None:
        raise InvalidRequestError(f"Invalid URL: {problem}.", code="url_invalid", param="url")


def checked_address(
    url: str, livemode: bool, *, local_receivers: bool = False, resolver: Resolver = socket.getaddrinfo
) -> str:
    """The address to connect to: the URL's host resolved, every address it has checked (UnsafeUrlError if any
    is not allowed)."""
    problem = _url_problem(url, livemode, local_receivers)
    if problem is not None:
        raise UnsafeUrlError(problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = resolver(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise
    except (OSError, UnicodeError):
        raise UnsafeUrlError("its host name does not resolve", "dns_failure") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise UnsafeUrlError("its host name does not resolve", "dns_failure")
    refused = [address for address in addresses if not _address_allowed(address, local_receivers)]
    if refused:
        raise UnsafeUrlError("its host name resolves to a private, loopback or link-local address")
    return str(addresses[0])


def _within(resolver: Resolver, deadline: float) -> Resolver:
    """The resolver, given up on at the deadline (TimeoutError): getaddrinfo has no timeout of its own, so it runs on
    a thread of its own, left to finish in the background."""

    def resolve(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["found"] = resolver(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                outcome["error"] = exc

        lookup = threading.Thread(target=run, name="webhook-dns", daemon=True)
        lookup.start()
        lookup.join(max(0.0, deadline - time.monotonic()))
        if lookup.is_alive():
            raise TimeoutError("the host name's lookup timed out")
        if "error" in outcome:
            raise outcome["error"]
        found: list[tuple[Any, ...]] = outcome["found"]
        return found

    return resolve


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to an address already checked, with the URL's host in `Host` and TLS (SNI and
    certificate check against the host name), that `abort` ends from another thread whatever it is waiting for."""

    def __init__(self, host: str, port: int, address: str, tls: bool, deadline: float) -> None:
        super().__init__(host, port, timeout=max(0.01, deadline - time.monotonic()))
        self._address = address
        self._tls = tls
        self._deadline = deadline
        self._aborted = threading.Event()
        self._cut: socket.socket | None = None  # the socket that owns the connection's descriptor now

    def connect(self) -> None:
        remaining = max(0.01, self._deadline - time.monotonic())
        raw = socket.create_connection((self._address, self.port), timeout=remaining)
        self._cut = raw
        if self._aborted.is_set():  # the watchdog fired while the connection was being made
            raw.close()
            raise TimeoutError("the attempt's deadline passed")
        if not self._tls:
            self.sock = raw
            return
        # Wrapping detaches the plain socket from its descriptor: the wrapped one is what the watchdog must cut,
        # so it is known before the handshake, which the watchdog may then end too.
        wrapped = ssl.create_default_context().wrap_socket(
            raw, server_hostname=self.host, do_handshake_on_connect=False
        )
        self._cut = self.sock = wrapped
        if self._aborted.is_set():
            raise TimeoutError("the attempt's deadline passed")
        wrapped.do_handshake()

    def abort(self) -> None:
        self._aborted.set()
        if self._cut is not None:
            try:  # the plain socket's shutdown, whatever class holds the descriptor: it ends a wait in TLS too
                socket.socket.shutdown(self._cut, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


def _failure_kind(exc: BaseException) -> str:
    """What went wrong with a connection, in the fixed words an attempt's record shows."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ssl.SSLError):
        return "tls_error"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "connection_reset"
    return "no_answer"


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    livemode: bool,
    local_receivers: bool = False,
    timeout: float = ATTEMPT_TIMEOUT_SECONDS,
    resolver: Resolver = socket.getaddrinfo,
) -> int:
    """POST once, all of it within `timeout`; the 2xx status, else DeliveryFailedError (or UnsafeUrlError before any
    connection)."""
    deadline = time.monotonic() + timeout
    try:
        address = checked_address(url, livemode, local_receivers=local_receivers, resolver=_within(resolver, deadline))
    except TimeoutError:
        raise DeliveryFailedError("timed out resolving its host name", kind="timeout") from None
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    connection = _PinnedConnection(parts.hostname or "", parts.port or (443 if tls else 80), address, tls, deadline)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), connection.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target, body=body, headers=headers)
        status = connection.getresponse().status  # interim 1xx answers are skipped until the deadline
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
            raise DeliveryFailedError("timed out", kind="timeout") from None
        raise DeliveryFailedError(f"no answer ({type(exc).__name__})", kind=_failure_kind(exc)) from None
    finally:
        watchdog.cancel()
        connection.close()  # the body is not read: it is never stored
    if time.monotonic() > deadline:
        raise DeliveryFailedError("timed out", kind="timeout")
    if not 200 <= status < 300:
        raise DeliveryFailedError(f"answered {status}", status=status)
    return status
