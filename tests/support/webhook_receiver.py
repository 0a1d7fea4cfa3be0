"""A webhook receiver on loopback for tests: records each delivery and answers the statuses it is told to."""

from __future__ import annotations

import json
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
def webhook_receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/webhook", statuses=list(statuses or []))
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
def stalling_receiver(kind: str, *, host_name: str = "127.0.0.1") -> Iterator[StallingReceiver]:
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    receiver = StallingReceiver(f"http://{host_name}:{port}/webhook")
    stopped = threading.Event()
    drip = b"HTTP/1.1 200 OK\r\n" if kind == "drip" else b"HTTP/1.1 100 Continue\r\n\r\n"

    def serve(connection: socket.socket) -> None:
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
