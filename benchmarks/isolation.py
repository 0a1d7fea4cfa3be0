"""Test mode cannot delay live mode's webhooks: live delivery latency with and without a flood of test deliveries.

Each mode's queue is read by its own worker process, as each mode's event source mapping runs its own Lambda
environments; both invoke the real delivery function (`webhook_deliveries_handler`) on an embedded moto server
(DynamoDB, SQS, Secrets Manager), as `make run` does. A live endpoint (https, a certificate this run makes and the
live worker trusts through `SSL_CERT_FILE`) answers at once; a test endpoint fails every attempt after holding it a
second (a receiver in trouble). Latency is from the live delivery's message being sent to its arrival at the
receiver. Rounds come in pairs, live deliveries alone and the same with 300 test deliveries queued just before, in
ABBA order (alone first in even pairs, the flood first in odd ones, so a drift of the machine's load weighs on both
sides); the ratio of the p99s is taken per pair and the median of the pairs reported. The live worker times each
batch (its wait in the queue, the function, its AWS calls), which says where a slower delivery lost its time; two
switches run experiments instead of the goal's measure (ISOLATION_SEPARATE_TEST_AWS, ISOLATION_CPU_CONTROL). Moto
runs in a process of its own, as AWS's services share no interpreter with the workers or the receivers. One test
worker (one batch of ten at a time) is fewer than the five environments the template lets test mode's mapping use
(TestWebhookMaxConcurrency).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import math
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .common import LAYER_DIR, PYTHON, ROOT, fmt, function_environment, median, percentile, section_main, table

FUNCTION_DIR = ROOT / "functions" / "webhook_deliveries"

GOAL_RATIO = 1.2
LIVE_PER_ROUND = 200  # enough that a p99 is not just the slowest one
LIVE_SPACING_SECONDS = 0.025
FLOOD = 300
FAILING_HOLD_SECONDS = 1.0
# An experiment, not the goal's measure: ISOLATION_SEPARATE_TEST_AWS=1 gives test mode's side (its queue, table,
# secret; the test worker and the flood's writes) a moto process of its own, so the two modes share no AWS stand-in.
SEPARATE_TEST_AWS = os.environ.get("ISOLATION_SEPARATE_TEST_AWS") == "1"
# Another: ISOLATION_CPU_CONTROL=1 queues no test delivery; a "flood" round runs instead a process that computes for
# 25 ms out of every 100 (a quarter of a core, what the flood's worker and test mode's moto used together when test
# mode had a moto of its own): the same demand on the machine's cores, touching nothing of the service's.
CPU_CONTROL = os.environ.get("ISOLATION_CPU_CONTROL") == "1"
_BURN = """
import sys, threading, time
def burn():
    while True:
        end = time.process_time() + 0.025
        while time.process_time() < end:
            pass
        time.sleep(0.075)
threading.Thread(target=burn, daemon=True).start()
sys.stdin.read()
"""
_test_aws: dict[str, str] = {}  # the test side's AWS_ENDPOINT_URL, when it has its own moto


def _test_client(service: str) -> Any:
    """A client for test mode's side: the shared moto, or its own under SEPARATE_TEST_AWS."""
    import boto3

    return boto3.client(service, endpoint_url=_test_aws.get("AWS_ENDPOINT_URL"))  # type: ignore[call-overload]


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal-bench-receiver")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "receiver.pem", folder / "receiver.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Receivers:
    """The live receiver (https, answers at once, records when each event arrived) and the failing test one."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.arrived: dict[str, float] = {}
        self.failed = 0
        receivers = self

        class Live(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receivers.arrived.setdefault(json.loads(body)["id"], time.time())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Failing(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                time.sleep(FAILING_HOLD_SECONDS)
                receivers.failed += 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.live = ThreadingHTTPServer(("127.0.0.1", 0), Live)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.live.socket = context.wrap_socket(self.live.socket, server_side=True)
        self.failing = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
        for server in (self.live, self.failing):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for server in (self.live, self.failing):
            server.shutdown()
            server.server_close()


def worker(queue_url: str) -> None:
    """One mode's event source mapping: receive a batch (long poll), invoke the delivery function, delete what it
    did not report as failed; until stdin closes."""
    import boto3

    for path in (str(LAYER_DIR), str(FUNCTION_DIR)):
        sys.path.insert(0, path)
    import webhook_deliveries_handler  # type: ignore[import-not-found]  # the function's folder, put on the path above

    from local_gateway.queues import lambda_sqs_event
    from local_gateway.runtime import LambdaContext

    sqs = boto3.client("sqs")
    # Where a live delivery's time goes: each batch's AWS calls (to moto) timed through botocore's events on the
    # default session, which the function's clients are made from.
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    aws_seconds: list[float] = []

    def call_started(context: dict[str, Any], **_kwargs: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def call_ended(context: dict[str, Any], **_kwargs: Any) -> None:
        if "bench_started" in context:
            aws_seconds.append(time.perf_counter() - context["bench_started"])

    boto3.DEFAULT_SESSION.events.register("before-call", call_started)
    boto3.DEFAULT_SESSION.events.register("after-call", call_ended)
    timings = open(os.environ["BENCH_TIMINGS"], "a", buffering=1)  # noqa: SIM115 - open while the worker runs
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stopped = threading.Event()

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        stopped.set()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    while not stopped.is_set():
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       AttributeNames=["All"]).get("Messages", [])  # fmt: skip
        if not messages:
            continue
        received, aws_seconds[:] = time.time(), []
        handler_started = time.perf_counter()
        response = webhook_deliveries_handler.lambda_handler(
            lambda_sqs_event([dict(message) for message in messages], arn),
            LambdaContext(function_name="WebhookDeliveriesFunction"),
        )
        sent = [int(message["Attributes"]["SentTimestamp"]) / 1000 for message in messages]
        timings.write(json.dumps({"received": received, "handler_s": time.perf_counter() - handler_started,
                                  "aws_s": sum(aws_seconds), "aws_max_s": max(aws_seconds, default=0.0),
                                  "sent": sent}) + "\n")  # fmt: skip
        failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def backend() -> None:
    """The embedded moto of `make run`, with the table and the webhook resources, until stdin closes; what the
    others need to reach it goes to stdout as one JSON line."""
    for path in (str(LAYER_DIR), str(ROOT)):
        sys.path.insert(0, path)
    import boto3

    from local_gateway.backend import ensure_event_bus, ensure_table, ensure_webhook_resources, start_backend
    from local_gateway.template import load_template

    running = start_backend()
    try:
        ensure_table(load_template(), running.table_name)
        refs = {
            **ensure_webhook_resources(),
            "SessionEventsBus": ensure_event_bus(),
            "SessionsTable": running.table_name,
        }
        # A failed test attempt's retry (due a minute later) goes to a queue no worker reads: else the flood of one
        # round would come back in a later round's "live alone".
        sqs = boto3.client("sqs")
        refs["TestRetries"] = sqs.create_queue(QueueName="portal-sessions-bench-test-retries")["QueueUrl"]
        names = ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        aws = {name: os.environ[name] for name in names if name in os.environ}
        print(json.dumps({"refs": refs, "environment": aws}), flush=True)
        sys.stdin.read()
    finally:
        running.stop()


def measure(quick: bool) -> dict[str, Any]:
    pairs = 2 if quick else 5
    for path in (str(LAYER_DIR), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    # moto in a process of its own: AWS's services do not share a CPU (or a GIL) with the receivers and the sender.
    moto = subprocess.Popen([PYTHON, "-m", "benchmarks.isolation", "--backend"], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    moto_test = None
    if SEPARATE_TEST_AWS:
        moto_test = subprocess.Popen([PYTHON, "-m", "benchmarks.isolation", "--backend"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    workers: list[subprocess.Popen[str]] = []
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-isolation-"))  # the certificate, its key, the workers' logs
    try:
        assert moto.stdout is not None
        started = json.loads(moto.stdout.readline() or "null")
        if started is None:
            raise RuntimeError("the moto process exited before it was ready")
        os.environ.update(started["environment"])
        if moto_test is not None:
            assert moto_test.stdout is not None
            _test_aws.update(json.loads(moto_test.stdout.readline())["environment"])
        refs: dict[str, str] = started["refs"]
        table_name = refs["SessionsTable"]
        cert, key = _certificate(folder)
        receivers = _Receivers(cert, key)
        # The delivery function's own environment from template.yaml (its table, queues, Powertools settings),
        # resolved to this moto's resources; then what a local run changes.
        function_refs = {**refs, "TestWebhookDeliveryQueue": refs["TestRetries"]}
        function_env = function_environment("WebhookDeliveriesFunction", function_refs)
        environment = {
            **os.environ,
            # An endpoint the template leaves empty (deployed: AWS's own) must not hide this run's moto
            **{name: value for name, value in function_env.items() if value or not name.startswith("AWS_ENDPOINT")},
            "WEBHOOK_LOCAL_RECEIVERS": "true",  # the receivers are on loopback
            "SSL_CERT_FILE": str(cert),
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        os.environ.update(environment)
        live_endpoint = _endpoint(table_name, f"https://127.0.0.1:{receivers.live.server_address[1]}/h", True)
        test_endpoint = _endpoint(table_name, f"http://127.0.0.1:{receivers.failing.server_address[1]}/h",
                                  False)  # fmt: skip
        logs: list[Path] = []
        for queue in ("WebhookDeliveryQueue", "TestWebhookDeliveryQueue"):
            logs.append(folder / f"{queue}.log")  # the function's log lines and metrics, and a worker's traceback
            with logs[-1].open("w") as log:
                workers.append(subprocess.Popen(
                    [PYTHON, "-m", "benchmarks.isolation", "--worker", refs[queue]], cwd=ROOT,
                    env={**environment, "BENCH_TIMINGS": str(folder / f"{queue}.timings"),
                         **(_test_aws if queue.startswith("Test") else {})},
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True))  # fmt: skip
        processes = {"moto": moto.pid, "live worker": workers[0].pid, "test worker": workers[1].pid}
        if moto_test is not None:
            processes["test mode's moto"] = moto_test.pid
        warm = _round(table_name, refs, receivers, live_endpoint, test_endpoint, processes, flood=0)
        _check_workers(workers, logs, warm)
        rounds: list[dict[str, Any]] = []
        live_timings = folder / "WebhookDeliveryQueue.timings"
        for pair in range(pairs):
            # alone first in even pairs, the flood first in odd ones: a drift of the machine's load over the run
            # weighs on both sides alike
            for flood in (0, FLOOD) if pair % 2 == 0 else (FLOOD, 0):
                rounds.append(_round(table_name, refs, receivers, live_endpoint, test_endpoint, processes, flood=flood))
                rounds[-1]["pair"] = pair
                _check_workers(workers, logs, rounds[-1])
                rounds[-1]["phases"] = _phases(live_timings, rounds[-1]["started"], rounds[-1]["ended"])
                if flood:
                    rounds[-1]["flood_seconds"] = _drained(refs["TestWebhookDeliveryQueue"], rounds[-1]["started"])
        failed_attempts = receivers.failed
        receivers.stop()
    finally:
        for group in (
            workers,
            [moto, *([moto_test] if moto_test else [])],
        ):  # the workers first: they still talk to moto while they stop
            for process in group:
                if process.stdin is not None:
                    process.stdin.close()
            for process in group:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    by_pair = {(r["pair"], r["flood"]): r for r in rounds}
    ratios = [by_pair[pair, FLOOD]["p99_ms"] / by_pair[pair, 0]["p99_ms"] for pair in range(pairs)
              if by_pair[pair, 0]["p99_ms"] > 0]  # fmt: skip
    return {"rounds": rounds, "ratios": ratios, "ratio": median(ratios), "flood": FLOOD, "live": LIVE_PER_ROUND,
            "test_attempts_failed": failed_attempts, "cpu_count": os.cpu_count(),
            "separate_test_aws": SEPARATE_TEST_AWS, "cpu_control": CPU_CONTROL}  # fmt: skip


def _check_workers(workers: list[subprocess.Popen[str]], logs: list[Path], last_round: dict[str, Any]) -> None:
    """Stop the run with the workers' own words if one died or a round delivered nothing: no numbers then."""
    if all(process.poll() is None for process in workers) and last_round["delivered"]:
        return
    tails = "\n".join(f"--- {log.name} ---\n{log.read_text()[-3000:]}" for log in logs)
    raise RuntimeError(f"the workers delivered {last_round['delivered']} of {LIVE_PER_ROUND} live deliveries:\n{tails}")


def _backlog(queue_url: str) -> int:
    """Test deliveries waiting or being attempted."""
    attributes = _test_client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _drained(queue_url: str, started: float) -> float:
    """Wait until the test worker has attempted the whole flood, so the next round is live alone; how long it took
    from the flood's queueing."""
    deadline = time.monotonic() + 300
    while _backlog(queue_url) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _backlog(queue_url):
        raise RuntimeError("the test worker did not get through the flood in 5 minutes")
    return time.time() - started


def _endpoint(table_name: str, url: str, livemode: bool) -> str:
    from portal_sessions.domain.tokens import new_object_id
    from portal_sessions.domain.webhooks import EndpointSecrets, new_signing_secret
    from portal_sessions.store.webhooks import WebhookEndpointStore

    endpoint_id = new_object_id("we")
    endpoint: dict[str, Any]
    endpoint = {"id": endpoint_id, "object": "webhook_endpoint", "api_version": None, "application": None,
                "created": int(time.time()), "description": None, "enabled_events": ["*"], "livemode": livemode,
                "metadata": {}, "status": "enabled", "url": url}  # fmt: skip
    side = {"dynamodb": None, "secretsmanager": None} if livemode else {
        "dynamodb": _test_client("dynamodb"), "secretsmanager": _test_client("secretsmanager")}  # fmt: skip
    import boto3

    secrets = side["secretsmanager"] or boto3.client("secretsmanager")
    key = secrets.get_secret_value(SecretId=os.environ["WEBHOOK_SECRETS_KEY_ID"])["SecretString"]
    sealed = EndpointSecrets(key).seal(endpoint_id, new_signing_secret())
    WebhookEndpointStore(table_name, side["dynamodb"]).put_new(endpoint, sealed)
    return endpoint_id


def _phases(timings: Path, started: float, ended: float) -> dict[str, float]:
    """Where the round's live deliveries spent their time, p50 and p99 in ms: waiting in the queue (sent to received
    by the live worker), in the delivery function (a batch; the https attempt included) and, within it, in its AWS
    calls to moto."""
    batches = [json.loads(line) for line in timings.read_text().splitlines() if line.strip()]
    batches = [b for b in batches if started <= b["received"] <= ended]
    waits = [(b["received"] - sent) * 1000 for b in batches for sent in b["sent"]]
    phases: dict[str, float] = {}
    for name, values in (("queue_wait", waits), ("handler", [b["handler_s"] * 1000 for b in batches]),
                         ("aws_calls", [b["aws_s"] * 1000 for b in batches]),
                         ("longest_aws_call", [b["aws_max_s"] * 1000 for b in batches])):  # fmt: skip
        phases[f"{name}_p50_ms"], phases[f"{name}_p99_ms"] = percentile(values, 50), percentile(values, 99)
    return phases


def _cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (Linux's /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _round(table_name: str, refs: dict[str, str], receivers: _Receivers, live_endpoint: str, test_endpoint: str,
           processes: dict[str, int], *, flood: int) -> dict[str, Any]:  # fmt: skip
    """Queue `flood` test deliveries, then LIVE_PER_ROUND live ones, one every LIVE_SPACING_SECONDS; the live ones'
    latencies once all arrived (or 60 s passed)."""
    from portal_sessions.outbound.webhook_delivery import Delivery, SqsDeliveryQueue
    from portal_sessions.store.webhooks import EventStore

    stores = {True: EventStore(table_name), False: EventStore(table_name, _test_client("dynamodb"))}
    now = int(time.time())

    def stored(livemode: bool) -> str:
        event_id = "evt_" + os.urandom(12).hex()
        stores[livemode].put_new({"id": event_id, "object": "event", "api_version": "2026-10-28.endive", "created": now,
                        "data": {"object": {"id": "bps_Bench", "livemode": livemode}}, "livemode": livemode,
                        "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
                        "type": "billing_portal.session.created"}, pending_webhooks=1)  # fmt: skip
        return event_id

    started = time.time()
    control = None
    if CPU_CONTROL and flood:
        control = subprocess.Popen([PYTHON, "-c", _BURN], stdin=subprocess.PIPE, text=True)
        flood = 0
    test_sqs, flooding = _test_client("sqs"), [Delivery(stored(False), test_endpoint, False) for _n in range(flood)]
    for start in range(0, flood, 10):
        entries = [{"Id": str(n), "MessageBody": d.to_json()} for n, d in enumerate(flooding[start : start + 10])]
        test_sqs.send_message_batch(QueueUrl=refs["TestWebhookDeliveryQueue"], Entries=entries)
    live_queue = SqsDeliveryQueue(refs["WebhookDeliveryQueue"])
    sent: dict[str, float] = {}
    cpu_before = {name: _cpu_seconds(pid) for name, pid in processes.items()}
    live_started = time.monotonic()
    for _n in range(LIVE_PER_ROUND):
        event_id = stored(True)
        sent[event_id] = time.time()
        live_queue.send([Delivery(event_id, live_endpoint, True)])
        time.sleep(LIVE_SPACING_SECONDS)
    deadline = time.monotonic() + 60
    while not set(sent) <= set(receivers.arrived) and time.monotonic() < deadline:
        time.sleep(0.05)
    live_seconds = time.monotonic() - live_started
    control_cores = math.nan
    if control is not None:
        control_cores = _cpu_seconds(control.pid) / live_seconds
        assert control.stdin is not None
        control.stdin.close()
        control.wait(10)
        flood = FLOOD  # the round stands for a flood round
    # Each process's share of a core while the live deliveries were on their way.
    cores = {name: (_cpu_seconds(pid) - cpu_before[name]) / live_seconds for name, pid in processes.items()}
    latencies = [(receivers.arrived[e] - sent[e]) * 1000 for e in sent if e in receivers.arrived]
    # Still queued or in attempt when the round's live deliveries were all in: the flood lasted the whole round.
    backlog = _backlog(refs["TestWebhookDeliveryQueue"])
    return {"flood": flood, "delivered": len(latencies), "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "test_backlog_at_end": backlog, "started": started, "cores": cores,
            "ended": time.time(), "control_cores": control_cores,
            "load_average": os.getloadavg()[0]}  # fmt: skip


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    return [(f"live webhook p99 during a flood of {result['flood']} test deliveries ÷ without (median of pairs)",
             fmt(result["ratio"], 2) + "×", f"≤ {GOAL_RATIO}×", result["ratio"] <= GOAL_RATIO)]  # fmt: skip


def render(result: dict[str, Any]) -> str:
    rows = [[str(n + 1), f"{r['flood']} test deliveries queued first" if r["flood"] else "live alone",
             f"{r['delivered']} / {result['live']}", fmt(r["p50_ms"], 1), fmt(r["p99_ms"], 1),
             str(r["test_backlog_at_end"]) if r["flood"] else "",
             fmt(r["flood_seconds"], 0) if "flood_seconds" in r else "",
             " / ".join(fmt(r["cores"][name], 2) for name in ("live worker", "test worker", "moto")),
             fmt(r["load_average"], 1)]
            for n, r in enumerate(result["rounds"])]  # fmt: skip
    ratio = result["ratio"]
    p50s = {flood: median([r["p50_ms"] for r in result["rounds"] if r["flood"] == flood]) for flood in (0, FLOOD)}

    def used(name: str, flood: int) -> str:
        return fmt(median([r["cores"][name] for r in result["rounds"] if r["flood"] == flood]), 2)

    verdict = f"median {fmt(ratio, 2)}×, " + (
        f"within {GOAL_RATIO}×."
        if ratio <= GOAL_RATIO
        else f"above {GOAL_RATIO}×. The flood is not in the live queue's way (every live delivery arrived while "
        "most of the flood still waited in its own queue: the backlog column) and costs little CPU on average: "
        "while it ran the test worker used "
        f"{used('test worker', FLOOD)} of a core, and moto {used('moto', FLOOD)} against {used('moto', 0)} without "
        f"it, on {result['cpu_count']} cores shared with whatever else runs here (the load average column). Where "
        "the longer tail comes from is in the phases table: a live delivery's wait in its queue, its time in the "
        "function and its longest AWS call grow together, which is what waiting for a core looks like; "
        "benchmarks/RESULTS.md compares runs with test mode on a moto of its own and with a CPU-only stand-in "
        "for the flood."
    )
    verdict += f" Live p50, median of the rounds: {fmt(p50s[0], 1)} ms alone, {fmt(p50s[FLOOD], 1)} ms with the flood."
    phase_names = {"queue_wait": "waiting in the live queue (sent → received by the live worker)",
                   "handler": "in the delivery function (a batch, its https attempt included)",
                   "longest_aws_call": "its longest AWS call (moto)"}  # fmt: skip

    def phase(name: str, flood: int) -> float:
        return median([r["phases"][name] for r in result["rounds"] if r["flood"] == flood and "phases" in r])

    phase_rows = [[label, fmt(phase(f"{name}_p50_ms", 0), 1), fmt(phase(f"{name}_p50_ms", FLOOD), 1),
                   fmt(phase(f"{name}_p99_ms", 0), 1), fmt(phase(f"{name}_p99_ms", FLOOD), 1)]
                  for name, label in phase_names.items()]  # fmt: skip
    return "\n".join([
        f"{result['live']} live deliveries a round, one every {int(LIVE_SPACING_SECONDS * 1000)} ms, to an https "
        "receiver that answers at once; in one round of each pair (ABBA order) {flood} test deliveries are queued "
        "just before, to a "
        f"receiver that fails each attempt after holding it {FAILING_HOLD_SECONDS:g} s. Each mode's queue is read by "
        "a worker process of its own running the real delivery function (as each mode's event source mapping has "
        "its own environments), on an embedded moto; latency from the live message's send to its arrival. A live "
        "alone round starts only once the test worker has attempted the whole flood, and the flood's retries (due a "
        "minute later) are kept out of later rounds.".replace("{flood}", str(result["flood"]))
        + (" Experiment: test mode's side (its queue, table and secret, the test worker's and the flood's calls) on "
           "a moto process of its own (ISOLATION_SEPARATE_TEST_AWS=1)." if result.get("separate_test_aws") else ""),
        "",
        table(["round", "load", "live delivered", "live p50 ms", "live p99 ms",
               "test backlog when the live round ended", "flood attempted in s",
               "cores used by the live worker / test worker / moto", "load average"], rows),  # fmt: skip
        "",
        "Where the live deliveries' time went (ms, median of the rounds' p50 and p99; from the live worker's own "
        "clock):",
        "",
        table(["phase", "p50 alone", "p50 with the flood", "p99 alone", "p99 with the flood"], phase_rows),
        "",
        "p99 with the flood ÷ p99 without, per pair: " + ", ".join(fmt(r, 2) for r in result["ratios"]) + "; "
        + verdict + f" {result.get('test_attempts_failed', 0)} test attempts failed at the receiver in all.",
    ])  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2])
        sys.exit(0)
    if sys.argv[1:2] == ["--backend"]:
        backend()
        sys.exit(0)
    section_main(measure)
    sys.exit(0)
