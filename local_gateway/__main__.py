"""`python -m local_gateway run` serves the service; `python -m local_gateway invoke FUNCTION -e EVENT`
is the equivalent of `sam local invoke FUNCTION -e EVENT`; `python -m local_gateway aws --env-vars FILE` serves the
AWS side for the real `sam local` (its containers)."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from portal_sessions.domain.handoff import Keyring
from portal_sessions.runtime.errors import ConfigurationError

from .backend import (
    API_KEYS_PARAMETER,
    HANDOFF_SECRET_NAME,
    TEST_HANDOFF_SECRET_NAME,
    LocalBackend,
    ensure_cleanup_queue,
    ensure_event_bus,
    ensure_table,
    ensure_webhook_resources,
    new_test_api_key,
    start_backend,
    store_api_keys,
    store_handoff_secrets,
)
from .dynamodb_local import DynamoDBLocalUnavailable
from .template import load_template

DEFAULT_PORT = 3000
# The link of the session `aws` seeds for events/redirect_live.json lasts a day (the most LinkTtlSeconds allows): the
# server runs while a developer invokes, and a cold container under emulation takes a minute.
SAMPLE_LINK_SECONDS = 86400


def prepare(
    api_keys: list[str], portal_urls: dict[str, str], *, dynamodb: str = "embedded", aws_address: str = "127.0.0.1"
) -> tuple[LocalBackend, dict, dict[str, str], dict[bool, Keyring]]:
    template = load_template()
    backend = start_backend(dynamodb, address=aws_address)
    ensure_table(template, backend.table_name)
    store_api_keys(api_keys)
    keyrings = store_handoff_secrets()
    refs = {
        "SessionEventsBus": ensure_event_bus(),
        "CleanupQueue": ensure_cleanup_queue(),
        "SessionsTable": backend.table_name,
        "ApiKeyHashesParameter": API_KEYS_PARAMETER,
        "HandoffSigningSecret": HANDOFF_SECRET_NAME,
        "TestHandoffSigningSecret": TEST_HANDOFF_SECRET_NAME,
        **portal_urls,
        **ensure_webhook_resources(),
    }
    # The local-only switch: webhook endpoints may be loopback receivers (http in test mode). Never deployed.
    os.environ.setdefault("WEBHOOK_LOCAL_RECEIVERS", "true")
    # Deployed, each delivery environment keeps the endpoints it read for 2 s (a hot item at full load otherwise),
    # so an endpoint made a moment before an event may miss it; one developer's runner reads them for every event.
    os.environ.setdefault("WEBHOOK_ENDPOINT_CACHE_SECONDS", "0")
    return backend, template, refs, keyrings


def run(host: str, port: int, dynamodb: str = "embedded") -> int:
    from .demo_portal import LIVE_LOGIN_PATH, LIVE_PATH, LOGIN_PATH, PortalPage
    from .demo_portal import PATH as PORTAL_PATH
    from .gateway import make_server
    from .queues import QueuePoller, queue_pollers
    from .runtime import FunctionRuntime
    from .streams import NoStreamError, StreamPoller, StreamReader
    from .template import http_routes, stream_functions

    routes = http_routes(load_template())
    local_pages: dict[str, Any] = {}
    try:
        server = make_server(host, port, routes, local_pages)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"Not starting: port {port} on {host} is already in use; choose another with PORTAL_PORT "
            "(e.g. `make run PORTAL_PORT=3001`, or 0 for any free port).",
            file=sys.stderr,
            flush=True,
        )
        return 2
    print("Starting: the AWS stand-in and every function (a few seconds)…", flush=True)
    backend: LocalBackend | None = None
    pollers: list[StreamPoller | QueuePoller] = []  # the table's stream and the queues, as Lambda reads them
    try:
        base_url = f"http://{host}:{server.server_address[1]}"
        api_key = os.environ.get("PORTAL_API_KEY") or new_test_api_key()
        # Each mode has its demo portal; as in the template, the test portal defaults to a live one that is set.
        live_portal_url = os.environ.get("PORTAL_URL") or base_url + LIVE_PATH
        live_login_url = os.environ.get("PORTAL_LOGIN_URL") or base_url + LIVE_LOGIN_PATH
        portal_url = os.environ.get("TEST_PORTAL_URL") or os.environ.get("PORTAL_URL") or base_url + PORTAL_PATH
        login_url = (
            os.environ.get("TEST_PORTAL_LOGIN_URL") or os.environ.get("PORTAL_LOGIN_URL") or base_url + LOGIN_PATH
        )
        portal_urls = {
            "PortalUrl": live_portal_url,
            "PortalLoginUrl": live_login_url,
            "TestPortalUrl": portal_url,
            "TestPortalLoginUrl": login_url,
        }
        try:
            backend, template, refs, keyrings = prepare([api_key], portal_urls, dynamodb=dynamodb)
        except DynamoDBLocalUnavailable as exc:
            print(f"Cannot serve on DynamoDB Local: {exc}", file=sys.stderr, flush=True)
            return 2
        local_pages[PORTAL_PATH] = PortalPage(keyrings[False], livemode=False)
        local_pages[LOGIN_PATH] = PortalPage(keyrings[False], livemode=False, login=True)
        local_pages[LIVE_PATH] = PortalPage(keyrings[True], livemode=True)
        local_pages[LIVE_LOGIN_PATH] = PortalPage(keyrings[True], livemode=True, login=True)
        server.runtime = FunctionRuntime(template, refs)
        runtime = server.runtime
        for name in runtime.specs:  # import every handler now, as Lambda's init would, so errors show at start
            runtime.handler(name)
        for name in stream_functions(template):
            try:
                reader = StreamReader(backend.table_name)
            except NoStreamError as exc:
                print(f"No session events: {exc}", flush=True)
                continue
            pollers.append(StreamPoller(reader, lambda event, name=name: runtime.invoke(name, event)))
        pollers += queue_pollers(template, refs, runtime)
        for poller in pollers:
            poller.start()
        print(
            f"Portal session service on {base_url}\n"
            f"  API key (test mode): {api_key}\n"
            f"  DynamoDB: {backend.dynamodb_description}, table {backend.table_name}\n"
            f"  Other AWS services: embedded ({backend.endpoint_url})\n"
            f"  Portal: {portal_url}\n"
            f"  Portal login (recovery of expired sessions): {login_url}\n"
            f"  Live mode portal: {live_portal_url}, login: {live_login_url}\n"
            f"  Webhooks: delivered from the local queue; endpoints may be http://127.0.0.1 receivers (test mode)\n\n"
            f"Try:\n  curl {base_url}/v1/billing_portal/sessions -u {api_key}: \\\n"
            f"    -d customer=cus_123 -d return_url=https://example.com/account\n\n"
            "Ctrl-C stops.",
            flush=True,
        )
        server.serve_forever()
    finally:
        _ignore_stop_signals()  # a second Ctrl-C while stopping must not interrupt the clean-up
        for poller in pollers:
            poller.stop()
        server.server_close()
        if backend is not None:
            backend.stop()
    return 0


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def invoke(function: str, event_path: Path) -> int:
    from .runtime import FunctionRuntime
    from .samples import SAMPLE_API_KEY, seed_sample_event, seed_sample_session

    event = json.loads(event_path.read_text())
    defaults = load_template()["Parameters"]
    portal_url = os.environ.get("PORTAL_URL") or defaults["PortalUrl"]["Default"]
    login_url = os.environ.get("PORTAL_LOGIN_URL") or defaults["PortalLoginUrl"]["Default"]
    portal_urls = {
        "PortalUrl": portal_url,
        "PortalLoginUrl": login_url,
        "TestPortalUrl": os.environ.get("TEST_PORTAL_URL") or portal_url,
        "TestPortalLoginUrl": os.environ.get("TEST_PORTAL_LOGIN_URL") or login_url,
    }
    backend, template, refs, _keyrings = prepare([SAMPLE_API_KEY], portal_urls)
    result_out = sys.stdout
    sys.stdout = sys.stderr  # like sam local invoke: the function's logs on stderr, its result alone on stdout
    try:
        seed_sample_session(backend.table_name)
        seed_sample_event(backend.table_name)
        result = FunctionRuntime(template, refs).invoke(function, event)
    finally:
        sys.stdout = result_out
        backend.stop()
    print(json.dumps(result, indent=2))
    return 0


def reachable_from_containers(url: str, container_host: str) -> str:
    """`url` as a container reaches it: a loopback host becomes `container_host`."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return url
    return parts._replace(netloc=f"{container_host}:{parts.port}").geturl()


def serve_aws(env_vars_path: Path, address: str, container_host: str | None, dynamodb: str) -> int:
    """The AWS side for `sam local invoke` and `sam local start-api` until Ctrl-C: moto on `address` (and DynamoDB
    Local, or the DynamoDB that AWS_ENDPOINT_URL_DYNAMODB names) provisioned as `run` provisions it, the sample events'
    session seeded, and an --env-vars file that points every function there, at `container_host` (default: address).
    """
    from .samples import SAMPLE_API_KEY, seed_sample_event, seed_sample_session
    from .template import function_environments

    data = tempfile.TemporaryDirectory(prefix="sam-local-dynamodb-")  # a fresh store each time, as for an invoke
    os.environ.setdefault("PORTAL_DYNAMODB_DATA", data.name)
    try:
        backend, template, refs, _keyrings = prepare([SAMPLE_API_KEY], {}, dynamodb=dynamodb, aws_address=address)
    except DynamoDBLocalUnavailable as exc:
        data.cleanup()
        print(f"Cannot serve on DynamoDB Local: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        seed_sample_session(backend.table_name, link_seconds=SAMPLE_LINK_SECONDS)
        seed_sample_event(backend.table_name)
        host = container_host or address
        aws_endpoint = backend.endpoint_url or ""
        endpoints = {  # declared in the template's Globals, empty when deployed
            "AWS_ENDPOINT_URL": reachable_from_containers(aws_endpoint, host),
            "AWS_ENDPOINT_URL_DYNAMODB": reachable_from_containers(
                os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or aws_endpoint, host
            ),
        }
        environments = {
            name: {**variables, **endpoints} for name, variables in function_environments(template, refs).items()
        }
        env_vars_path.write_text(json.dumps(environments, indent=2) + "\n")
        print(
            f"AWS for sam local: {aws_endpoint} (SSM, Secrets Manager, SQS, EventBridge)\n"
            f"  DynamoDB: {backend.dynamodb_description}, table {backend.table_name}\n"
            f"  The functions reach them as {endpoints['AWS_ENDPOINT_URL']} and "
            f"{endpoints['AWS_ENDPOINT_URL_DYNAMODB']}: --env-vars {env_vars_path}\n"
            f"  API key (test mode) of the sample events: {SAMPLE_API_KEY}\n\n"
            "Try:\n  sam build\n"
            f"  sam local invoke CreateSessionFunction -e events/create_session_form.json \\\n"
            f"    --env-vars {env_vars_path}\n\n"
            "Ctrl-C stops.",
            flush=True,
        )
        signal.pause()  # until Ctrl-C or SIGTERM, which the package turns into SystemExit
    finally:
        _ignore_stop_signals()
        backend.stop()
        data.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="serve the API locally until Ctrl-C")
    run_parser.add_argument("--host", default=os.environ.get("PORTAL_HOST", "127.0.0.1"))
    run_parser.add_argument(
        "--port", type=int, help="0 picks a free port", default=int(os.environ.get("PORTAL_PORT", DEFAULT_PORT))
    )
    run_parser.add_argument(
        "--dynamodb",
        choices=["embedded", "local"],
        default=os.environ.get("PORTAL_DYNAMODB") or "embedded",
        help="embedded: moto, in memory (the default); local: Amazon DynamoDB Local, data kept in .dynamodb-local/",
    )
    invoke_parser = commands.add_parser("invoke", help="invoke one function with an event file, like sam local invoke")
    invoke_parser.add_argument("function", help="logical id in template.yaml, e.g. CreateSessionFunction")
    invoke_parser.add_argument("-e", "--event", type=Path, required=True)
    aws_parser = commands.add_parser("aws", help="serve the AWS side for sam local, with an --env-vars file for it")
    aws_parser.add_argument("--env-vars", type=Path, required=True, help="the file to write, for sam local --env-vars")
    aws_parser.add_argument("--address", default="127.0.0.1", help="where moto listens (a bridge's gateway address)")
    aws_parser.add_argument("--container-host", help="how the containers name this host (default: --address)")
    aws_parser.add_argument("--dynamodb", choices=["embedded", "local"], default="local")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(args.host, args.port, args.dynamodb)
        if args.command == "aws":
            return serve_aws(args.env_vars, args.address, args.container_host, args.dynamodb)
        return invoke(args.function, args.event)
    except ConfigurationError as exc:  # the message a deployed function's init fails with
        print(f"Not starting: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
