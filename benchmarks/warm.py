"""Warm invocation: in-process time of the create and redirect handlers, with every AWS call stubbed by botocore's
Stubber on real boto3 clients, against a minimal hand-written handler that parses the same event and makes the same
single PutItem / UpdateItem through the same stubbed client.

Stubbed calls still run botocore's parameter validation and serialisation, but no signing, HTTP or parsing; the
network round trips are counted in the round-trips section instead. The API key digests (SSM) and the signing key
(Secrets Manager) come through Powertools' own cache, whose providers get stubbed clients here; the functions'
EventBridge client (PutEvents on every create and first visit) is stubbed too. Logs and metrics (EMF) are written,
to /dev/null. Each iteration runs every case once, in the same order; medians and p99 over all iterations.
"""

from __future__ import annotations

import base64
import copy
import cProfile
import hashlib
import hmac
import json
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .common import (
    BENCH_API_KEY,
    BENCH_REFS,
    BENCH_SIGNING_KEY,
    BENCH_TABLE,
    FUNCTIONS_DIR,
    HANDLERS,
    LAYER_DIR,
    PYTHON,
    ROOT,
    fmt,
    from_json,
    function_environment,
    http_event,
    offline_aws_environment,
    section_main,
    summary,
    table,
    verdict,
)

GOAL_MEDIAN_MS = 1.0
GOAL_RATIO = 3.0
CREATE_BODY = "customer=cus_Benchmark123&return_url=https%3A%2F%2Fexample.com%2Faccount"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class Case:
    name: str
    handler: Handler
    prepare: Callable[[], dict[str, Any]]  # queues the stub responses, returns the event
    expected_status: int
    samples: list[float] = field(default_factory=list)


def setup_environment() -> None:
    os.environ.clear()
    os.environ.update(offline_aws_environment())
    for logical_id in ("CreateSessionFunction", "RedirectFunction"):
        os.environ.update(function_environment(logical_id))
    for logical_id in ("CreateSessionFunction", "RedirectFunction"):
        path = str(FUNCTIONS_DIR / HANDLERS[logical_id][1])
        if path not in sys.path:
            sys.path.insert(0, path)
    for path in (str(LAYER_DIR), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


def _short(location: tuple[str, int, str]) -> str:
    filename, line, function = location
    for marker in ("site-packages/", str(ROOT) + "/", f"lib/python{sys.version_info.major}.{sys.version_info.minor}/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({function})" if line else function


def _profile(profile: cProfile.Profile, invocations: int, limit: int = 10) -> dict[str, Any]:
    """Per invocation: the top functions by own time, and by cumulative time below the handler's call chain."""
    entries = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def row(location: tuple[str, int, str], values: tuple[Any, ...]) -> dict[str, Any]:
        return {
            "function": _short(location),
            "calls": values[1] / invocations,
            "own_us": values[2] / invocations * 1e6,
            "cumulative_us": values[3] / invocations * 1e6,
        }

    total = max(values[3] for values in entries.values())
    by_own = sorted(entries.items(), key=lambda item: -item[1][2])[:limit]
    below: list[dict[str, Any]] = []
    previous: tuple[Any, ...] | None = None
    for location, values in sorted(entries.items(), key=lambda item: -item[1][3]):
        if values[3] > 0.6 * total:
            continue  # the chain of wrappers every request goes through (decorators, resolver, route)
        if previous is not None and values[1] == previous[1] and values[3] > 0.97 * previous[3]:
            continue  # a thin wrapper of the row above
        below.append(row(location, values))
        previous = values
        if len(below) == limit:
            break
    botocore = sum(
        values[3] for (filename, _line, function), values in entries.items()
        if filename.endswith("botocore/client.py") and function == "_make_api_call"
    )  # fmt: skip
    return {
        "total_us": total / invocations * 1e6,
        "botocore_share": botocore / total,
        "by_own": [row(location, values) for location, values in by_own],
        "by_cumulative": below,
    }


def measure(quick: bool) -> dict[str, Any]:
    iterations, warmup, profiled = (300, 50, 200) if quick else (2000, 200, 1000)
    setup_environment()
    real_stdout = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Powertools' logger binds the stream it finds at import
    try:
        return _measure(iterations, warmup, profiled)
    finally:
        sys.stdout.close()
        sys.stdout = real_stdout


@dataclass
class Bench:
    """The cases, each with its stubbed responses, and how to invoke one (checked, timed in µs)."""

    cases: list[Case]
    invoke: Callable[[Case], float]
    context: Any
    sequences: dict[str, str]
    last_cpu_us: Callable[[], float]  # the last invocation's CPU time (this thread's), which other processes' load
    # on the machine does not inflate as it does wall time


def build_cases(recorded: dict[str, Any]) -> Bench:
    """Both handlers with every AWS client stubbed, replaying what `recorded` (round_trips.py) says each request
    calls. Imports both handlers if they are not imported yet."""
    import create_session_handler
    import redirect_handler
    from botocore.stub import Stubber

    from local_gateway.runtime import LambdaContext
    from portal_sessions.domain.auth import key_hash
    from portal_sessions.domain.configuration import default_configuration
    from portal_sessions.domain.tokens import new_url_token
    from portal_sessions.outbound import eventbus
    from portal_sessions.runtime import parameter_providers
    from portal_sessions.store.configurations import ConfigurationStore
    from portal_sessions.store.items import configuration_item
    from portal_sessions.store.table import dynamodb_client
    from portal_sessions.use_cases.service import ensure_default_configuration

    table_name = os.environ["TABLE_NAME"]
    assert table_name == BENCH_TABLE
    dynamodb = dynamodb_client()  # the functions' own cached client, stubbed from here on
    dynamodb_stub = Stubber(dynamodb)
    events_stub = Stubber(eventbus.events_client())
    ssm = parameter_providers.ssm_parameters().client
    secrets_manager = parameter_providers.secrets_provider().client
    ssm_stub, secrets_stub = Stubber(ssm), Stubber(secrets_manager)
    for _refresh in range(50):  # Powertools' cache calls these once per max_age (60 s / 300 s)
        parameter = {"Name": BENCH_REFS["ApiKeyHashesParameter"], "Type": "String", "Value": key_hash(BENCH_API_KEY)}
        ssm_stub.add_response("get_parameter", {"Parameter": parameter})
        secrets_stub.add_response(
            "get_secret_value", {"Name": BENCH_REFS["HandoffSigningSecret"], "SecretString": BENCH_SIGNING_KEY}
        )
    for stub in (dynamodb_stub, events_stub, ssm_stub, secrets_stub):
        stub.activate()

    # As in a warm function: the mode's default configuration has been seen (the recorded creates come after one).
    default = default_configuration(livemode=False, now=int(time.time()))
    dynamodb_stub.add_response("get_item", {"Item": configuration_item(default, version=1)})
    ensure_default_configuration(ConfigurationStore(table_name), livemode=False, now=int(time.time()))

    stubs = {"dynamodb": dynamodb_stub, "events": events_stub}
    clients = {"dynamodb": dynamodb, "events": eventbus.events_client()}
    methods = {
        service: {api: method for method, api in client.meta.method_to_api_mapping.items()}
        for service, client in clients.items()
    }

    sequences: dict[str, str] = {}

    def replayer(
        name: str, scenario: str, event: dict[str, Any], fresh_key: bool = False
    ) -> Callable[[], dict[str, Any]]:
        """Queue what the code called against moto for this request, in order, then hand out the event."""
        calls = [call for call in recorded[scenario]["calls"] if call["service"] in stubs]
        for call in calls:
            if call.get("status", 200) >= 300:
                raise ValueError(f"{scenario}: recorded a failed {call['operation']}; only successes are replayed")
        queued = [(stubs[c["service"]], methods[c["service"]][c["operation"]], from_json(c["response"])) for c in calls]
        sequences[name] = " + ".join(call["operation"] for call in calls)

        def prepare() -> dict[str, Any]:
            for stub, method, response in queued:
                stub.add_response(method, response)
            if not fresh_key:
                return event
            copied = copy.deepcopy(event)
            copied["headers"]["idempotency-key"] = str(uuid.uuid4())
            return copied

        return prepare

    now = int(time.time())
    create_headers = {"authorization": f"Bearer {BENCH_API_KEY}", "content-type": "application/x-www-form-urlencoded"}
    create_event = http_event("POST", "/v1/billing_portal/sessions", create_headers, CREATE_BODY)
    token = new_url_token()
    redirect_event = http_event("GET", f"/p/session/{token}", {"user-agent": "Mozilla/5.0"})
    visit_response = next(
        from_json(call["response"])
        for call in recorded["redirect (first visit)"]["calls"]
        if call["operation"] == "UpdateItem"
    )
    visited_item = visit_response["Attributes"]

    def prepare_put() -> dict[str, Any]:
        dynamodb_stub.add_response("put_item", {})
        return create_event

    def prepare_update() -> dict[str, Any]:
        dynamodb_stub.add_response("update_item", visit_response)
        return redirect_event

    key_hashes = frozenset({key_hash(BENCH_API_KEY)})

    def minimal_create(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        """What any create handler must do: check the key, parse the form, store one item, answer JSON."""
        authorization = event["headers"].get("authorization", "")
        api_key = authorization[7:] if authorization.startswith("Bearer ") else ""
        if hashlib.sha256(api_key.encode()).hexdigest() not in key_hashes:
            return {"statusCode": 401, "body": ""}
        body = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode()
        params = dict(parse_qsl(body.decode()))
        created = int(time.time())
        expires_at = created + 300
        session_id = "bps_" + secrets.token_hex(12)
        url_token = secrets.token_urlsafe(32)
        item: dict[str, Any] = {
            "pk": {"S": "token#" + hashlib.sha256(url_token.encode()).hexdigest()},
            "session_id": {"S": session_id},
            "livemode": {"BOOL": False},
            "configuration": {"S": "bpc_DefaultTestConfiguration"},
            "created": {"N": str(created)},
            "expires_at": {"N": str(expires_at)},
            "purge_at": {"N": str(expires_at + 3600 + 7 * 86400)},
            "purge_shard": {"S": f"{(expires_at + 3600 + 7 * 86400) // 3600}#0"},
            "customer": {"S": params["customer"]},
            "return_url": {"S": params["return_url"]},
        }
        dynamodb.put_item(TableName=table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
        shown = {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": "bpc_DefaultTestConfiguration",
            "created": created,
            "customer": params["customer"],
            "livemode": False,
            "return_url": params["return_url"],
            "url": f"https://{event['headers']['host']}/p/session/{url_token}",
        }
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(shown)}

    def minimal_redirect(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        """What any redirect handler must do: one conditional UpdateItem, sign an HS256 hand-off, answer 302."""
        url_token = event["pathParameters"]["token"]
        visit_time = int(time.time())
        expires_at = visit_time + 3600
        response = dynamodb.update_item(
            TableName=table_name,
            Key={"pk": {"S": "token#" + hashlib.sha256(url_token.encode()).hexdigest()}},
            UpdateExpression="SET visited_at = :now, expires_at = :exp",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(visited_at) AND expires_at > :now",
            ExpressionAttributeValues={":now": {"N": str(visit_time)}, ":exp": {"N": str(expires_at)}},
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        attributes = response["Attributes"]

        def encode(part: dict[str, Any]) -> bytes:
            return base64.urlsafe_b64encode(json.dumps(part, separators=(",", ":")).encode()).rstrip(b"=")

        claims = {"aud": "billing_portal", "exp": visit_time + 60, "sid": attributes["session_id"]["S"]}
        signing_input = encode({"alg": "HS256", "typ": "JWT"}) + b"." + encode(claims)
        signature = hmac.new(BENCH_SIGNING_KEY.encode(), signing_input, hashlib.sha256).digest()
        jwt = signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")
        location = "https://portal.example.com/session?handoff=" + jwt.decode()
        return {"statusCode": 302, "headers": {"Location": location}, "body": ""}

    def stubbed_put(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        dynamodb.put_item(TableName=table_name, Item=visited_item, ConditionExpression="attribute_not_exists(pk)")
        return {"statusCode": 200}

    def stubbed_update(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        dynamodb.update_item(
            TableName=table_name,
            Key={"pk": visited_item["pk"]},
            UpdateExpression="SET visited_at = :now",
            ExpressionAttributeValues={":now": {"N": str(now)}},
            ReturnValues="ALL_NEW",
        )
        return {"statusCode": 200}

    create = create_session_handler.lambda_handler
    redirect = redirect_handler.lambda_handler
    cases = [
        Case("create", create, replayer("create", "create", create_event), 200),
        Case("create, minimal handler", minimal_create, prepare_put, 200),
        Case(
            "create with Idempotency-Key",
            create,
            replayer("create with Idempotency-Key", "create with Idempotency-Key", create_event, fresh_key=True),
            200,
        ),
        Case(
            "redirect (first visit)",
            redirect,
            replayer("redirect (first visit)", "redirect (first visit)", redirect_event),
            302,
        ),
        Case("redirect, minimal handler", minimal_redirect, prepare_update, 302),
        Case("one stubbed PutItem", stubbed_put, prepare_put, 200),
        Case("one stubbed UpdateItem", stubbed_update, prepare_update, 200),
    ]
    context = LambdaContext(function_name="benchmark", aws_request_id=str(uuid.uuid4()))

    cpu = {"last_us": 0.0}

    def invoke(case: Case) -> float:
        event = case.prepare()
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        response = case.handler(event, context)
        cpu["last_us"] = (time.thread_time_ns() - started_cpu) / 1000
        elapsed = time.perf_counter_ns() - started
        if response.get("statusCode") != case.expected_status:
            raise AssertionError(f"{case.name}: status {response.get('statusCode')}: {response.get('body')}")
        dynamodb_stub.assert_no_pending_responses()
        events_stub.assert_no_pending_responses()
        return elapsed / 1000  # µs

    return Bench(cases, invoke, context, sequences, lambda: cpu["last_us"])


def _measure(iterations: int, warmup: int, profiled: int) -> dict[str, Any]:
    bench = build_cases(recorded_scenarios())
    cases, invoke, context, sequences = bench.cases, bench.invoke, bench.context, bench.sequences
    profiled_cases = [case for case in cases if case.name in ("create", "redirect (first visit)")]
    for iteration in range(warmup + iterations):
        for case in cases:
            elapsed = invoke(case)
            if iteration >= warmup:
                case.samples.append(elapsed)

    profiles = {}
    for case in profiled_cases:
        profile = cProfile.Profile()
        for _iteration in range(profiled):
            event = case.prepare()
            profile.enable()
            case.handler(event, context)
            profile.disable()
        profiles[case.name] = _profile(profile, profiled)
    return {
        "calls": sequences,
        "iterations": iterations,
        "warmup": warmup,
        "profiled": profiled,
        "cases": {case.name: summary(case.samples) for case in cases},
        "profiles": profiles,
    }


def recorded_scenarios() -> dict[str, Any]:
    """What each request calls today, with moto's responses: recorded by the round-trips benchmark in its process."""
    with tempfile.TemporaryDirectory(prefix="portal-bench-record-") as temporary:
        out = Path(temporary) / "round_trips.json"
        subprocess.run(
            [PYTHON, "-m", "benchmarks.round_trips", "--out", str(out)],
            cwd=ROOT,
            env=offline_aws_environment(),
            check=True,
            timeout=300,
        )
        result = json.loads(out.read_text())
    if "error" in result:
        raise RuntimeError("recording the calls failed:\n" + result["error"])
    scenarios: dict[str, Any] = result["scenarios"]
    return scenarios


def render(result: dict[str, Any]) -> str:
    cases: dict[str, dict[str, float]] = result["cases"]
    baselines = {
        "create": "create, minimal handler",
        "create, no event bus": "create, minimal handler",
        "redirect, no event bus": "redirect, minimal handler",
        "create with Idempotency-Key": "create, minimal handler",
        "redirect (first visit)": "redirect, minimal handler",
    }
    calls = {
        **result["calls"],
        "create, minimal handler": "PutItem",
        "redirect, minimal handler": "UpdateItem",
        "one stubbed PutItem": "PutItem",
        "one stubbed UpdateItem": "UpdateItem",
    }
    rows = []
    for name, stats in cases.items():
        baseline = baselines.get(name)
        ratio = f"{stats['median'] / cases[baseline]['median']:.2f}×" if baseline else ""
        p99_ratio = f"{stats['p99'] / cases[baseline]['p99']:.2f}×" if baseline else ""
        rows.append(
            [
                name,
                calls[name],
                fmt(stats["median"] / 1000, 3),
                fmt(stats["p90"] / 1000, 3),
                fmt(stats["p99"] / 1000, 3),
                ratio,
                p99_ratio,
            ]
        )
    create, minimal = cases["create"], cases["create, minimal handler"]
    create_ratio = create["median"] / minimal["median"]
    redirect_ratio = cases["redirect (first visit)"]["median"] / cases["redirect, minimal handler"]["median"]
    parts = [
        f"{result['iterations']:,} timed invocations per row after {result['warmup']} warm-up ones, interleaved "
        "(every row once per iteration). Time is the handler call alone (`time.perf_counter_ns`), with Powertools' "
        "logger, metrics and event handler as deployed. The create event is the form post "
        f"`{CREATE_BODY}` with a Bearer key; redirect is `GET /p/session/{{token}}`. The minimal handlers "
        "(benchmarks/warm.py) parse the same event and make the one DynamoDB call through the same stubbed client "
        "(create: key digest check, form parse, PutItem, JSON; redirect: UpdateItem, stdlib HS256, 302). No request "
        "publishes an event: the sessions table's stream feeds the events function, outside the request path.",
        "",
        table(
            ["case", "AWS calls (stubbed)", "median ms", "p90 ms", "p99 ms", "ratio (median)", "ratio (p99)"],
            rows,
        ),
        "",
        f"Goals: create median ≤ {GOAL_MEDIAN_MS} ms: {fmt(create['median'] / 1000, 3)} ms, "
        f"{verdict(create['median'] / 1000 <= GOAL_MEDIAN_MS)}; create ratio ≤ {GOAL_RATIO}×: "
        f"{create_ratio:.2f}×, {verdict(create_ratio <= GOAL_RATIO)}; redirect ratio: {redirect_ratio:.2f}× "
        f"({verdict(redirect_ratio <= GOAL_RATIO)} against the same {GOAL_RATIO}×).",
    ]
    for name, profile in result["profiles"].items():
        total = profile["total_us"]
        parts += [
            "",
            f"cProfile of {result['profiled']:,} warm `{name}` invocations: {fmt(total / 1000, 2)} ms each under the "
            f"profiler (it inflates small calls; read the shares), {100 * profile['botocore_share']:.0f}% of it inside "
            "botocore's `_make_api_call` (stubbed calls: parameter validation, serialisation, endpoint resolution, "
            "user-agent string). Top 10 by cumulative time, below the wrappers every request goes through, and top "
            "10 by own time:",
            "",
            table(
                ["function (cumulative)", "calls", "cumulative µs", "share"],
                [
                    [
                        f"`{row['function']}`",
                        fmt(row["calls"], 1),
                        fmt(row["cumulative_us"], 0),
                        f"{100 * row['cumulative_us'] / total:.0f}%",
                    ]
                    for row in profile["by_cumulative"]
                ],
            ),  # fmt: skip
            "",
            table(
                ["function (own time)", "calls", "own µs", "share"],
                [
                    [
                        f"`{row['function']}`",
                        fmt(row["calls"], 1),
                        fmt(row["own_us"], 0),
                        f"{100 * row['own_us'] / total:.0f}%",
                    ]
                    for row in profile["by_own"]
                ],
            ),  # fmt: skip
        ]
    return "\n".join(parts)


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    cases: dict[str, dict[str, float]] = result["cases"]
    create, minimal = cases["create"], cases["create, minimal handler"]
    redirect, minimal_redirect = cases["redirect (first visit)"], cases["redirect, minimal handler"]
    ratio = create["median"] / minimal["median"]
    redirect_ratio = redirect["median"] / minimal_redirect["median"]
    return [
        (
            "Warm create, median (p99)",
            f"{fmt(create['median'] / 1000, 3)} ms ({fmt(create['p99'] / 1000, 3)} ms)",
            f"≤ {GOAL_MEDIAN_MS} ms",
            create["median"] / 1000 <= GOAL_MEDIAN_MS,
        ),
        ("Warm create ÷ minimal handler, median", f"{ratio:.2f}×", f"≤ {GOAL_RATIO}×", ratio <= GOAL_RATIO),
        (
            "Warm redirect, median (p99); ÷ minimal handler",
            f"{fmt(redirect['median'] / 1000, 3)} ms ({fmt(redirect['p99'] / 1000, 3)} ms); {redirect_ratio:.2f}×",
            "–",
            None,
        ),
    ]


if __name__ == "__main__":
    section_main(measure)
