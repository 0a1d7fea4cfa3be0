"""Round trips: the AWS calls each request makes, counted by operation with botocore's `before-call` event on the
functions' own clients, against moto (in process) with the table built from template.yaml, as tests/conftest.py
builds it. The calls' responses are recorded too: the warm-invocation benchmark replays them through botocore's
Stubber, so it stubs exactly what the code calls today.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from .common import (
    BENCH_API_KEY,
    BENCH_REFS,
    BENCH_SIGNING_KEY,
    BENCH_TABLE,
    FUNCTIONS_DIR,
    HANDLERS,
    LAYER_DIR,
    ROOT,
    function_environment,
    http_event,
    offline_aws_environment,
    section_main,
    table,
    to_json,
)

CREATE_BODY = "customer=cus_Benchmark123&return_url=https%3A%2F%2Fexample.com%2Faccount"
CONFIGURATION_BODY = "features[invoice_history][enabled]=true&default_return_url=https%3A%2F%2Fexample.com%2Fback"
DYNAMODB = "dynamodb"


def setup_environment() -> None:
    """Every function's environment in this one process (as the local gateway does), on a fake, offline AWS."""
    os.environ.clear()
    os.environ.update(offline_aws_environment())
    merged: dict[str, str] = {}
    for logical_id in HANDLERS:
        for name, value in function_environment(logical_id).items():
            if merged.setdefault(name, value) != value:
                raise ValueError(f"{name} differs between functions")
    os.environ.update(merged)
    for path in [
        *(str(FUNCTIONS_DIR / code_dir) for _module, code_dir in HANDLERS.values()),
        str(FUNCTIONS_DIR / "session_events"),
        str(LAYER_DIR),
        str(ROOT),
    ]:
        if path not in sys.path:
            sys.path.insert(0, path)


class CallRecorder:
    """Counts every API call of the clients it watches (`before-call`) and keeps each parsed response (`after-call`)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._arguments: dict[str, Any] = {}

    def watch(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self._keep_arguments)
        client.meta.events.register("before-call", self._before)
        client.meta.events.register("after-call", self._after)

    def _keep_arguments(self, params: dict[str, Any], **_kwargs: Any) -> None:
        self._arguments = params  # the call's own arguments; before-call only sees the serialised request

    def _before(self, model: Any, **_kwargs: Any) -> None:
        call = {"service": model.service_model.endpoint_prefix, "operation": model.name}
        if "TransactItems" in self._arguments:
            call["items"] = len(self._arguments["TransactItems"])
        self.calls.append(call)

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        response = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
        self.calls[-1].update(status=http_response.status_code, response=to_json(response))

    def take(self) -> list[dict[str, Any]]:
        calls, self.calls = self.calls, []
        return calls


def measure(quick: bool) -> dict[str, Any]:
    setup_environment()
    real_stdout = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the functions' JSON logs
    try:
        return _measure()
    finally:
        sys.stdout.close()
        sys.stdout = real_stdout


def _measure() -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        from local_gateway.runtime import LambdaContext
        from local_gateway.template import load_template, table_definition
        from portal_sessions.domain.auth import key_hash
        from portal_sessions.outbound import eventbus
        from portal_sessions.runtime import parameter_providers
        from portal_sessions.store.table import dynamodb_client

        assert os.environ["TABLE_NAME"] == BENCH_TABLE
        definition = table_definition(load_template())
        admin = boto3.client("dynamodb")
        admin.create_table(TableName=BENCH_TABLE, **definition["create_table"])
        admin.update_time_to_live(TableName=BENCH_TABLE, TimeToLiveSpecification=definition["time_to_live"])
        boto3.client("ssm").put_parameter(
            Name=BENCH_REFS["ApiKeyHashesParameter"], Value=key_hash(BENCH_API_KEY), Type="String"
        )
        for secret in ("HandoffSigningSecret", "TestHandoffSigningSecret"):
            boto3.client("secretsmanager").create_secret(Name=BENCH_REFS[secret], SecretString=BENCH_SIGNING_KEY)
        boto3.client("events").create_event_bus(Name=BENCH_REFS["SessionEventsBus"])

        recorder = CallRecorder()
        ssm = parameter_providers.ssm_parameters().client
        secrets_manager = parameter_providers.secrets_provider().client
        for client in (dynamodb_client(), eventbus.events_client(), ssm, secrets_manager):
            recorder.watch(client)

        import configurations_handler
        import create_session_handler
        import redirect_handler
        import sessions_handler

        context = LambdaContext(function_name="benchmark", aws_request_id=str(uuid.uuid4()))
        scenarios: dict[str, dict[str, Any]] = {}
        auth = {"authorization": f"Bearer {BENCH_API_KEY}"}
        form = {**auth, "content-type": "application/x-www-form-urlencoded"}

        def run(name: str, module: Any, event: dict[str, Any], expected: int, note: str = "") -> dict[str, Any]:
            recorder.take()
            response: dict[str, Any] = module.lambda_handler(event, context)
            if response.get("statusCode") != expected:
                raise AssertionError(f"{name}: status {response.get('statusCode')}, {response.get('body')}")
            scenarios[name] = {"status": response["statusCode"], "calls": recorder.take(), "note": note}
            return response

        def created_session(response: dict[str, Any]) -> tuple[str, str]:
            import json

            body = json.loads(response["body"])
            return body["id"], urlsplit(body["url"]).path

        sessions_path = "/v1/billing_portal/sessions"
        run(
            "create, first request of a new deployment",
            create_session_handler,
            http_event("POST", sessions_path, form, CREATE_BODY),
            200,
            "key digests not cached yet; the default configuration is created on first need",
        )
        session_id, session_path = created_session(
            run("create", create_session_handler, http_event("POST", sessions_path, form, CREATE_BODY), 200)
        )
        idempotent = {**form, "idempotency-key": str(uuid.uuid4())}
        _other_id, other_path = created_session(
            run(
                "create with Idempotency-Key",
                create_session_handler,
                http_event("POST", sessions_path, idempotent, CREATE_BODY),
                200,
                "as the Stripe SDKs send every POST",
            )
        )
        run(
            "create, Idempotency-Key replayed",
            create_session_handler,
            http_event("POST", sessions_path, idempotent, CREATE_BODY),
            200,
            "an SDK retry: the stored response",
        )
        run(
            "redirect, first request of a new deployment",
            redirect_handler,
            http_event("GET", other_path),
            302,
            "signing key not cached yet",
        )
        run("redirect (first visit)", redirect_handler, http_event("GET", session_path), 302)
        run("redirect (revisit)", redirect_handler, http_event("GET", session_path), 302)
        run("HEAD session URL", redirect_handler, http_event("HEAD", session_path), 200)
        run("retrieve session", sessions_handler, http_event("GET", f"{sessions_path}/{session_id}", auth), 200)
        configurations_path = "/v1/billing_portal/configurations"
        created = run(
            "create configuration",
            configurations_handler,
            http_event("POST", configurations_path, form, CONFIGURATION_BODY),
            200,
        )
        import json

        configuration_id = json.loads(created["body"])["id"]
        run(
            "retrieve configuration",
            configurations_handler,
            http_event("GET", f"{configurations_path}/{configuration_id}", auth),
            200,
        )
        run(
            "retrieve default configuration",
            configurations_handler,
            http_event("GET", f"{configurations_path}/bpc_DefaultTestConfiguration", auth),
            200,
        )
        run("list configurations", configurations_handler, http_event("GET", configurations_path, auth), 200)
        run(
            "expire session",
            sessions_handler,
            http_event("POST", f"{sessions_path}/{session_id}/expire", form),
            200,
        )
        _events_scenarios(scenarios, recorder, context, lambda: create_session_handler.lambda_handler(
            http_event("POST", sessions_path, form, CREATE_BODY), context))  # fmt: skip
    return {"scenarios": scenarios}


def _events_scenarios(scenarios: dict[str, dict[str, Any]], recorder: Any, context: Any, create: Any) -> None:
    """What the events function's writes cost: each event stored (30 days), published, and queued per endpoint."""
    import boto3

    from local_gateway.streams import StreamReader
    from portal_sessions.outbound import webhook_delivery
    from portal_sessions.store.webhooks import WebhookEndpointStore

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="portal-sessions-bench-webhooks")["QueueUrl"]
    failed_url = sqs.create_queue(QueueName="portal-sessions-bench-events-failed")["QueueUrl"]
    os.environ.update(
        {
            "EVENT_BUS_NAME": BENCH_REFS["SessionEventsBus"],
            "WEBHOOK_DELIVERY_QUEUE_URL": queue_url,
            "TEST_WEBHOOK_DELIVERY_QUEUE_URL": queue_url,  # the sessions created here are test mode's
            "SESSION_EVENTS_FAILED_QUEUE_URL": failed_url,
        }
    )
    recorder.watch(webhook_delivery.sqs_client())
    endpoint = {"id": "we_Bench", "object": "webhook_endpoint", "api_version": None, "application": None,
                "created": 1, "description": None, "enabled_events": ["*"], "livemode": False, "metadata": {},
                "status": "enabled", "url": "https://hooks.example.com/bench"}  # fmt: skip
    WebhookEndpointStore(BENCH_TABLE).put_new(endpoint, "sealed")
    reader = StreamReader(BENCH_TABLE)
    import session_events_handler

    for count in (1, 10):
        for _ in range(count):
            create()
        records = reader.read()
        recorder.take()
        response = session_events_handler.lambda_handler({"Records": records}, context)
        if response.get("batchItemFailures"):
            raise AssertionError(f"events function failed: {response}")
        scenarios[f"events function, {count} session(s) created, one endpoint"] = {
            "status": 200,
            "calls": recorder.take(),
            "note": "per event: one PutItem (the stored event, ~1-2 KB, plus one unit on the keys-only ListKeys "
            "index), one EventBridge PutEvents, one delivery queued; the endpoints are read once per batch and mode",
        }


ASKED = (
    "create",
    "create with Idempotency-Key",
    "redirect (first visit)",
    "retrieve session",
    "retrieve configuration",
)


def _count(calls: list[dict[str, Any]], service: str | None) -> Counter[str]:
    return Counter(
        call["operation"] for call in calls if (call["service"] == service if service else call["service"] != DYNAMODB)
    )


def render(result: dict[str, Any]) -> str:
    rows = []
    for name, scenario in result["scenarios"].items():
        calls = scenario["calls"]
        dynamodb = _count(calls, DYNAMODB)
        others = Counter(f"{call['service']}:{call['operation']}" for call in calls if call["service"] != DYNAMODB)
        sequence = " → ".join(
            call["operation"]
            + (f" ({call['items']} items)" if "items" in call else "")
            + ("" if call.get("status", 200) < 300 else " ✗")
            for call in calls
            if call["service"] == DYNAMODB
        )
        rows.append(
            [
                f"**{name}**" if name in ASKED else name,
                scenario["status"],
                sum(dynamodb.values()),
                ", ".join(f"{operation} {count}" for operation, count in sorted(dynamodb.items())) or "–",
                sequence or "–",
                ", ".join(f"{operation} {count}" for operation, count in sorted(others.items())) or "–",
                scenario.get("note", ""),
            ]
        )
    return "\n".join(
        [
            "One request each, in this order, on one warm execution environment per function (rows in bold are the "
            "ones the issue asks about). ✗ marks a call DynamoDB refused (a failed condition: it still costs a "
            "round trip and capacity). Other AWS calls: the key digests (SSM) and signing key (Secrets Manager) "
            "are cached by Powertools for 60 s / 300 s; every create and first visit publishes one EventBridge "
            "event.",
            "",
            table(
                ["request", "status", "DynamoDB calls", "by operation", "sequence", "other AWS calls", "note"],
                rows,
            ),
            "",
            "Capacity: DynamoDB bills a transactional write two write units per item (of up to 1 KB), so a "
            "TransactWriteItems of a ConditionCheck and a Put costs 4 units where a PutItem costs 1; a refused "
            "conditional write still consumes its write units.",
        ]
    )


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    parts = []
    for name in ASKED:
        calls = result["scenarios"][name]["calls"]
        parts.append(f"{name} {sum(_count(calls, DYNAMODB).values())}")
    return [("DynamoDB calls per request", "; ".join(parts), "–", None)]


if __name__ == "__main__":
    section_main(measure)
