"""Local server: requests per second through `python -m local_gateway run` (the `make run` stack: local gateway,
every function in one process, the embedded moto DynamoDB over loopback HTTP), with concurrent keep-alive clients.

This measures the local development stack, not Lambda: the gateway invokes one request per function at a time
(like one execution environment), and gateway, handlers and moto share one process and one GIL. The client threads
run in this process, on the same 2 cores.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .common import (
    BENCH_API_KEY,
    PYTHON,
    ROOT,
    fmt,
    fmt_int,
    offline_aws_environment,
    section_main,
    summary,
    table,
)

CLIENTS = 8
START_TIMEOUT_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 10
MAX_REQUESTS_PER_CLIENT = 100_000
CREATE_BODY = "customer=cus_Benchmark123&return_url=https%3A%2F%2Fexample.com%2Faccount"
_BANNER = re.compile(r"Portal session service on (http://[\d.]+:\d+)")


class Server:
    """`python -m local_gateway run --port 0` as a child process in its own process group, stopped on exit."""

    def __init__(self, log_dir: Path) -> None:
        env = offline_aws_environment()
        env["PORTAL_API_KEY"] = BENCH_API_KEY
        env["PORTAL_TABLE_NAME"] = "portal-sessions-bench"
        env["PYTHONUNBUFFERED"] = "1"
        self.stdout_path, self.stderr_path = log_dir / "server.out", log_dir / "server.err"
        self._stdout, self._stderr = self.stdout_path.open("wb"), self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [PYTHON, "-m", "local_gateway", "run", "--host", "127.0.0.1", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=self._stdout,
            stderr=self._stderr,
            start_new_session=True,
        )
        self.base_url = self._wait_for_banner()
        parts = urlsplit(self.base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def _wait_for_banner(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            text = self.stdout_path.read_text(errors="replace")
            found = _BANNER.search(text)
            if found and "API key" in text:
                return found.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}): {self._tail()}")
            time.sleep(0.1)
        raise TimeoutError(f"no banner within {START_TIMEOUT_SECONDS} s: {self._tail()}")

    def _tail(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (gateway, functions and moto: one process)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the gateway stops its server and moto on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group started for this child only
                self.process.wait(timeout=15)
        self._stdout.close()
        self._stderr.close()


def _load(
    server: Server,
    seconds: float,
    request: Any,
) -> dict[str, Any]:
    """CLIENTS threads, each with one keep-alive connection, sending requests until the deadline."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    statuses: list[dict[int, int]] = [{} for _ in range(CLIENTS)]
    errors = [0] * CLIENTS
    barrier = threading.Barrier(CLIENTS + 1)
    deadline_box: list[float] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=REQUEST_TIMEOUT_SECONDS)
        barrier.wait()
        deadline = deadline_box[0]
        for _sent in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= deadline:
                break
            started = time.perf_counter()
            try:
                status = request(connection)
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection(server.host, server.port, timeout=REQUEST_TIMEOUT_SECONDS)
                continue
            latencies[index].append(time.perf_counter() - started)
            statuses[index][status] = statuses[index].get(status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    deadline_box.append(started + seconds)
    barrier.wait()
    for thread in threads:
        thread.join(timeout=seconds + 2 * REQUEST_TIMEOUT_SECONDS + 5)
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    all_latencies = [value * 1000 for values in latencies for value in values]
    merged: dict[str, int] = {}
    for per_client in statuses:
        for status, count in per_client.items():
            merged[str(status)] = merged.get(str(status), 0) + count
    return {
        "seconds": elapsed,
        "requests": len(all_latencies),
        "errors": sum(errors),
        "statuses": merged,
        "latency_ms": summary(all_latencies),
        "server_cpu_seconds": cpu,
        "stuck_clients": sum(thread.is_alive() for thread in threads),
    }


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # unwinds through `finally`, which stops the server


def measure(quick: bool) -> dict[str, Any]:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    seconds = 3.0 if quick else 10.0
    headers = {"Authorization": f"Bearer {BENCH_API_KEY}", "Content-Type": "application/x-www-form-urlencoded"}
    paths: list[str] = []
    paths_lock = threading.Lock()

    def create(connection: http.client.HTTPConnection) -> int:
        connection.request("POST", "/v1/billing_portal/sessions", body=CREATE_BODY, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status == 200:
            path = urlsplit(json.loads(body)["url"]).path
            with paths_lock:
                paths.append(path)
        return response.status

    with tempfile.TemporaryDirectory(prefix="portal-bench-server-") as temporary:
        started = time.perf_counter()
        server = Server(Path(temporary))
        start_seconds = time.perf_counter() - started
        try:
            warm = http.client.HTTPConnection(server.host, server.port, timeout=REQUEST_TIMEOUT_SECONDS)
            for _request in range(20):  # first requests: default configuration, key digests, signing key
                if create(warm) != 200:
                    raise RuntimeError(f"create failed during warm-up: {server._tail()}")
            warm.close()
            created = _load(server, seconds, create)
            visit_order = itertools.cycle(list(paths))
            visits_lock = threading.Lock()
            visited: set[str] = set()

            def redirect(connection: http.client.HTTPConnection) -> int:
                with visits_lock:
                    path = next(visit_order)
                    visited.add(path)
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                return response.status

            redirected = _load(server, seconds, redirect)
            redirected["first_visits"] = len(visited)
            redirected["sessions_available"] = len(paths)
        finally:
            server.stop()
    return {
        "clients": CLIENTS,
        "duration": seconds,
        "start_seconds": start_seconds,
        "create": created,
        "redirect": redirected,
        "expected": {"create": 200, "redirect": 302},
    }


def render(result: dict[str, Any]) -> str:
    rows = []
    for name in ("create", "redirect"):
        run = result[name]
        expected = str(result["expected"][name])
        good = run["statuses"].get(expected, 0)
        others = {status: count for status, count in run["statuses"].items() if status != expected}
        cpu_ms = run["server_cpu_seconds"] / run["requests"] * 1000 if run["requests"] else float("nan")
        rows.append(
            [
                name,
                fmt(good / run["seconds"], 1),
                fmt_int(run["requests"]),
                f"{good} × {expected}" + "".join(f", {count} × {status}" for status, count in others.items()),
                run["errors"],
                fmt(run["latency_ms"]["median"], 1),
                fmt(run["latency_ms"]["p99"], 1),
                fmt(cpu_ms, 2),
            ]
        )
    redirect = result["redirect"]
    return "\n".join(
        [
            f"{result['clients']} concurrent keep-alive clients for {fmt(result['duration'], 0)} s per row against "
            "`python -m local_gateway run --port 0` on loopback (server ready in "
            f"{fmt(result['start_seconds'], 1)} s; 20 creates first, untimed). Redirects cycle through the sessions "
            f"the create run made: {fmt_int(redirect['first_visits'])} first visits out of "
            f"{fmt_int(redirect['requests'])} requests ({fmt_int(redirect['sessions_available'])} sessions), the rest "
            "revisits.",
            "",
            table(
                [
                    "request",
                    "requests/s",
                    "requests",
                    "statuses",
                    "client errors",
                    "median ms",
                    "p99 ms",
                    "server CPU ms per request",
                ],
                rows,
            ),
            "",
            "This is the local stack (gateway, the functions and moto's DynamoDB over loopback HTTP in one process "
            "and one GIL, clients on the same 2 cores), useful to compare versions of this code, not a Lambda "
            "throughput figure: on AWS each execution environment serves one request at a time and scales out.",
        ]
    )


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    values = []
    for name in ("create", "redirect"):
        run = result[name]
        good = run["statuses"].get(str(result["expected"][name]), 0)
        values.append(f"{name} {fmt(good / run['seconds'], 1)}/s")
    return [(f"Local server, {result['clients']} clients", ", ".join(values), "–", None)]


if __name__ == "__main__":
    section_main(measure)
