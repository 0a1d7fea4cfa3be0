"""`python -m local_gateway run` serves the service; `python -m local_gateway invoke FUNCTION -e EVENT`
is the equivalent of `sam local invoke FUNCTION -e EVENT`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from .backend import (
    API_KEYS_PARAMETER,
    HANDOFF_SECRET_NAME,
    LocalBackend,
    ensure_cleanup_queue,
    ensure_event_bus,
    ensure_table,
    new_test_api_key,
    start_backend,
    store_api_keys,
    store_handoff_secret,
)
from .template import load_template

DEFAULT_PORT = 3000


def _prepare(api_keys: list[str], portal_url: str, login_url: str) -> tuple[LocalBackend, dict, dict[str, str], str]:
    template = load_template()
    backend = start_backend()
    ensure_table(template, backend.table_name)
    store_api_keys(api_keys)
    signing_key = store_handoff_secret()
    refs = {
        "SessionEventsBus": ensure_event_bus(),
        "CleanupQueue": ensure_cleanup_queue(),
        "SessionsTable": backend.table_name,
        "ApiKeyHashesParameter": API_KEYS_PARAMETER,
        "HandoffSigningSecret": HANDOFF_SECRET_NAME,
        "PortalUrl": portal_url,
        "PortalLoginUrl": login_url,
    }
    return backend, template, refs, signing_key


def run(host: str, port: int) -> int:
    from .demo_portal import LOGIN_PATH, PortalPage
    from .demo_portal import PATH as PORTAL_PATH
    from .gateway import make_server
    from .runtime import FunctionRuntime
    from .streams import NoStreamError, StreamPoller, StreamReader
    from .template import http_routes, stream_functions

    routes = http_routes(load_template())
    local_pages: dict[str, Any] = {}
    server = make_server(host, port, routes, local_pages)
    base_url = f"http://{host}:{server.server_address[1]}"
    api_key = os.environ.get("PORTAL_API_KEY") or new_test_api_key()
    portal_url = os.environ.get("PORTAL_URL") or base_url + PORTAL_PATH
    login_url = os.environ.get("PORTAL_LOGIN_URL") or base_url + LOGIN_PATH
    backend, template, refs, signing_key = _prepare([api_key], portal_url, login_url)
    local_pages[PORTAL_PATH] = PortalPage(signing_key)
    local_pages[LOGIN_PATH] = PortalPage(signing_key, login=True)
    server.runtime = FunctionRuntime(template, refs)
    runtime = server.runtime
    for name in runtime.specs:  # import every handler now, as Lambda's init would, so errors show at start
        runtime.handler(name)
    pollers = []  # the table's stream, as Lambda's event source mapping reads it
    for name in stream_functions(template):
        try:
            reader = StreamReader(backend.table_name)
        except NoStreamError as exc:
            print(f"No session events: {exc}", flush=True)
            continue
        pollers.append(StreamPoller(reader, lambda event, name=name: runtime.invoke(name, event)))
    for poller in pollers:
        poller.start()
    dynamodb = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or f"embedded ({backend.endpoint_url})"
    print(
        f"Portal session service on {base_url}\n"
        f"  API key (test mode): {api_key}\n"
        f"  DynamoDB: {dynamodb}, table {backend.table_name}\n"
        f"  Portal: {portal_url}\n"
        f"  Portal login (recovery of expired sessions): {login_url}\n\n"
        f"Try:\n  curl {base_url}/v1/billing_portal/sessions -u {api_key}: \\\n"
        f"    -d customer=cus_123 -d return_url=https://example.com/account\n\n"
        "Ctrl-C stops.",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for poller in pollers:
            poller.stop()
        server.server_close()
        backend.stop()
    return 0


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def invoke(function: str, event_path: Path) -> int:
    from .runtime import FunctionRuntime
    from .samples import SAMPLE_API_KEY, seed_sample_session

    event = json.loads(event_path.read_text())
    defaults = load_template()["Parameters"]
    portal_url = os.environ.get("PORTAL_URL") or defaults["PortalUrl"]["Default"]
    login_url = os.environ.get("PORTAL_LOGIN_URL") or defaults["PortalLoginUrl"]["Default"]
    backend, template, refs, _signing_key = _prepare([SAMPLE_API_KEY], portal_url, login_url)
    result_out = sys.stdout
    sys.stdout = sys.stderr  # like sam local invoke: the function's logs on stderr, its result alone on stdout
    try:
        seed_sample_session(backend.table_name)
        result = FunctionRuntime(template, refs).invoke(function, event)
    finally:
        sys.stdout = result_out
        backend.stop()
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="serve the API locally until Ctrl-C")
    run_parser.add_argument("--host", default=os.environ.get("PORTAL_HOST", "127.0.0.1"))
    run_parser.add_argument(
        "--port", type=int, help="0 picks a free port", default=int(os.environ.get("PORTAL_PORT", DEFAULT_PORT))
    )
    invoke_parser = commands.add_parser("invoke", help="invoke one function with an event file, like sam local invoke")
    invoke_parser.add_argument("function", help="logical id in template.yaml, e.g. CreateSessionFunction")
    invoke_parser.add_argument("-e", "--event", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.host, args.port)
    return invoke(args.function, args.event)


if __name__ == "__main__":
    sys.exit(main())
