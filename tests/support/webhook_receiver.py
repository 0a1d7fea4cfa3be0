"""A webhook receiver on loopback for tests: records each delivery and answers the statuses it is told to."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in turn; 200 once they run out
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(
        self, count: int, timeout: float = 30.0, about: Callable[[dict[str, Any]], bool] = lambda _event: True
    ) -> list[Received]:
        """The deliveries whose event is `about` something, once at least `count` have arrived (bounded wait, for
        a sender in another process, whose stream may still carry earlier tests' events)."""

        def matching() -> list[Received]:
            return [delivery for delivery in self.received if about(json.loads(delivery.body))]

        with self.arrived:
            self.arrived.wait_for(lambda: len(matching()) >= count, timeout=timeout)
            return matching()


@contextmanager
def webhook_receiver(
    statuses: list[int] | None = None, *, tls: ssl.SSLContext | None = None, address: str = "127.0.0.1"
) -> Iterator[Receiver]:
    """`tls`: a server context (an https receiver, as live endpoints are; see `tls_for_loopback`). `address`: another
    loopback address (127.0.0.2) is one nothing reaches unless it connects there."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with receiver.arrived:
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((address, 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    receiver = Receiver(url=f"{scheme}://{address}:{server.server_address[1]}/webhook", statuses=list(statuses or []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class StallingReceiver:
    """A receiver that takes each request and then never finishes its answer: `drip` sends one byte of a status
    line every half second, `continue` an interim `100 Continue` every half second. `connections` counts what
    reached it (at the address the sender connected to), with the `Host` each named."""

    url: str
    hosts: list[str] = field(default_factory=list)


@contextmanager
def stalling_receiver(
    kind: str, *, host_name: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> Iterator[StallingReceiver]:
    """`tls`: a server context (https); `kind` "handshake" then drips the TLS handshake itself, a byte at a time."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    receiver = StallingReceiver(f"{'https' if tls else 'http'}://{host_name}:{port}/webhook")
    stopped = threading.Event()
    drip = b"HTTP/1.1 200 OK\r\n" if kind == "drip" else b"HTTP/1.1 100 Continue\r\n\r\n"

    def serve(connection: socket.socket) -> None:
        if kind == "handshake":  # a TLS record header's first bytes, one each half second, then nothing more
            with connection:
                for byte in (b"\x16", b"\x03", b"\x03", b"\x00"):
                    if stopped.wait(0.5):
                        return
                    try:
                        connection.sendall(byte)
                    except OSError:
                        return
                stopped.wait(30)
            return
        if tls is not None:
            try:
                connection = tls.wrap_socket(connection, server_side=True)
            except (OSError, ssl.SSLError):
                return
        with connection:
            connection.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            head = request.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            receiver.hosts += [line.split(":", 1)[1].strip() for line in head if line.lower().startswith("host:")]
            position = 0
            while not stopped.wait(0.5):
                piece = drip[position : position + 1] if kind == "drip" else drip
                position = (position + 1) % len(drip)
                try:
                    connection.sendall(piece)
                except OSError:
                    return  # the sender gave up

    def accept() -> None:
        while not stopped.is_set():
            try:
                connection, _address = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield receiver
    finally:
        stopped.set()
        acceptor.join()
        listener.close()


@contextmanager
def tls_for_loopback(folder: Any, host_name: str | None = None) -> Iterator[tuple[ssl.SSLContext, str]]:
    """A server context with a self-signed certificate for 127.0.0.1 (or for `host_name` only, when given), and the
    path of that certificate (for SSL_CERT_FILE, which Python's default client context trusts)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal-test-receiver")])
    now = datetime.datetime.now(datetime.UTC)
    subject: x509.GeneralName = (
        x509.DNSName(host_name) if host_name else x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    )
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([subject]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "receiver.pem", folder / "receiver.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    yield context, str(cert_path)
