"""Shared by every benchmark: paths, the function environments from template.yaml, statistics and Markdown.

Only the standard library at import time: `benchmarks.run` imports every section module to render its results.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "layers" / "portal"
FUNCTIONS_DIR = ROOT / "functions"
PYTHON = sys.executable

# The handlers measured, by their template logical id: (module, code directory).
HANDLERS: dict[str, tuple[str, str]] = {
    "CreateSessionFunction": ("create_session_handler", "create_session"),
    "RedirectFunction": ("redirect_handler", "redirect"),
    "ConfigurationsFunction": ("configurations_handler", "configurations"),
    "SessionsFunction": ("sessions_handler", "sessions"),
    "CleanupFunction": ("cleanup_handler", "cleanup"),
}

# What the stack's references resolve to in the benchmarks (never a real AWS resource: no endpoint, fake keys).
BENCH_TABLE = "portal-sessions-bench"
BENCH_REFS = {
    "SessionsTable": BENCH_TABLE,
    "SessionEventsBus": "portal-sessions-bench",
    "ApiKeyHashesParameter": "/portal-sessions/bench/api-key-hashes",
    "HandoffSigningSecret": "portal-sessions/bench/handoff-signing-key",
    "TestHandoffSigningSecret": "portal-sessions/bench/test-handoff-signing-key",
    "WebhookSecretsKey": "portal-sessions/bench/webhook-secrets-key",
    "CleanupQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/portal-sessions-bench-cleanup",
    "WebhookDeliveryQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/portal-sessions-bench-deliveries",
    "WebhookFailedDeliveriesQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/portal-sessions-bench-failed",
    "TestWebhookDeliveryQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/portal-sessions-bench-test-deliveries",
    "TestWebhookFailedDeliveriesQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/portal-sessions-bench-test-failed",
    "SessionEventsDeadLetterQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/portal-sessions-bench-events-failed",
}
BENCH_API_KEY = "sk_test_BenchmarkKey0000000000000001"
# A hand-off signing secret's text: a keyring (the same for both modes here, which only a benchmark may do).
BENCH_SIGNING_KEY = (
    '{"signing_kid": "bench-1", "bench-1": "benchmark-signing-key-0123456789abcdefghijklmnopqrstuvwxyz"}'
)


def offline_aws_environment() -> dict[str, str]:
    """The process environment with fake credentials and no way to reach a real AWS account or endpoint."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "POWERTOOLS_")) and name not in ("PYTHONPATH", "PORTAL_API_KEY")
    }
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "benchmark",
            "AWS_SECRET_ACCESS_KEY": "benchmark",
            "AWS_SESSION_TOKEN": "benchmark",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    return env


def function_environment(logical_id: str, refs: dict[str, str] | None = None) -> dict[str, str]:
    """The environment template.yaml gives this function (Globals plus its own), references resolved."""
    sys.path.insert(0, str(ROOT))
    try:
        from local_gateway.template import (
            condition_values,
            functions,
            load_template,
            parameter_defaults,
            resolve,
            with_conditions,
        )
    finally:
        sys.path.remove(str(ROOT))
    template = load_template()
    spec = functions(template)[logical_id]
    resolved_refs = {**parameter_defaults(template), **BENCH_REFS, **(refs or {})}
    environment = with_conditions(spec.environment, condition_values(template, resolved_refs))
    return {name: resolve(value, resolved_refs) for name, value in environment.items()}


def handler_paths(logical_id: str) -> list[str]:
    """What Lambda puts on sys.path for this function (its code, then the layer), as pyproject.toml does for tests."""
    return [str(FUNCTIONS_DIR / HANDLERS[logical_id][1]), str(LAYER_DIR)]


def http_event(method: str, path: str, headers: dict[str, str] | None = None, body: str = "") -> dict[str, Any]:
    """The payload 2.0 event API Gateway sends, built by the local gateway's code from template.yaml's routes."""
    from local_gateway.gateway import build_event
    from local_gateway.template import http_routes, load_template

    raw = body.encode()
    for route in http_routes(load_template()):
        found = route.pattern.match(path)
        if found and route.method == method:
            all_headers = {"host": "api.example.test", "x-forwarded-proto": "https", **(headers or {})}
            if raw:
                all_headers["content-length"] = str(len(raw))
            return build_event(route, found.groupdict(), method, path, all_headers, raw, "192.0.2.10")
    raise LookupError(f"no route in template.yaml for {method} {path}")


def to_json(value: Any) -> Any:
    """botocore's parsed values (bytes, datetimes) as JSON; `from_json` restores them."""
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, datetime.datetime):
        return {"__datetime__": value.isoformat()}
    return value


def from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        if set(value) == {"__datetime__"}:
            return datetime.datetime.fromisoformat(value["__datetime__"])
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


# Statistics


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": median(values),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": min(values) if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
    }


# Markdown


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


# Running one section as its own process


def section_main(measure: Callable[[bool], dict[str, Any]]) -> None:
    """`python -m benchmarks.<section> [--quick] [--out FILE]`: measure and write the result as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a fast check")
    parser.add_argument("--out", type=Path, help="write the JSON result here (default: stdout)")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        result = measure(args.quick)
    except Exception:  # report the failure in RESULTS.md rather than losing the other sections
        result = {"error": traceback.format_exc()}
    result["seconds"] = time.perf_counter() - started
    result["load_average"] = [load_before[0], os.getloadavg()[0]]
    text = json.dumps(result, indent=1, default=str)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)
