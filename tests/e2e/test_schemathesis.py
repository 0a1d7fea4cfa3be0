"""Schemathesis (4.x, every check) against the running service, driven by nothing but its OpenAPI document.

The plain CLI runs every phase (examples, coverage, fuzzing, stateful) with every check, from the repo root with
`schemathesis.toml`, no adapter: what a user of generic OpenAPI tools gets (arrays as OpenAPI sends them,
`expand=a&expand=b`). The suite's own stateful test sends arrays as Stripe's SDKs do (`expand[0]=a`) and follows the
document's links (create a session → retrieve, expire, list, visit its URL; create a configuration → retrieve,
update, list), checking that both kinds of link were followed. A fixed seed and a bounded budget keep the runs
repeatable.

It runs on one engine, the closest to AWS present (DynamoDB Local, else moto): what it tests is the HTTP contract,
which the engine does not change, and every test of the store and the handlers runs on both engines anyway. It has a
server of its own: the webhook endpoints it creates would otherwise get every later test's events.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from portal_sessions.api_gateway.openapi import openapi_document
from portal_sessions.domain.configuration import DEFAULT_CONFIGURATION_IDS
from tests.support.engines import ENGINES
from tests.support.local_service import E2E_API_KEY, ROOT, LocalService, own_service
from tests.support.schemathesis_rules import keeps_failure

SEED = 20261201
STATEFUL_SCENARIOS = 20  # shared by every operation Schemathesis reaches, webhooks and events included
STATEFUL_STEPS = 8
DOCUMENT_SERVER = "http://127.0.0.1"
NEGATIVE_DATA_REJECTED = ["400", "401", "403", "404", "405", "413", "415"]  # 413: a body over 64 KiB


class StripeArrayEncoding(requests.Session):
    """Sends arrays as Stripe's SDKs do (`expand[0]=a&expand[1]=b`). OpenAPI leaves the `deepObject` style of an
    array undefined and Schemathesis sends it as `expand=a&expand=b`, where Stripe reads one value (the last)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        for name in ("params", "data"):
            if isinstance(kwargs.get(name), dict):
                kwargs[name] = _indexed(kwargs[name])
        return super().request(method, url, *args, **kwargs)


def _indexed(values: dict[str, Any]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            pairs.extend((f"{name}[{index}]", item) for index, item in enumerate(value))
        else:
            pairs.append((name, value))
    return pairs


# Loaded when the tests are collected, before the server runs: the document the service serves is this one, with the
# server's own address (test_the_served_document_is_the_one_tested), and requests go to the server at run time.
schema = schemathesis.openapi.from_dict(
    copy.deepcopy(openapi_document(DOCUMENT_SERVER)),  # Schemathesis edits what it is given; the service's stays
    config=SchemathesisConfig.from_dict({
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {E2E_API_KEY}"},
        "checks": {"negative_data_rejection": {"expected-statuses": NEGATIVE_DATA_REJECTED}},
    }),
)  # fmt: skip


@schema.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """The rules no OpenAPI document can state, as `schemathesis.toml` gives them to the plain CLI."""
    return keeps_failure(failure, case, response)


@pytest.fixture(scope="module", params=ENGINES[-1:])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """A server of this module's own, on the engine closest to AWS present."""
    with own_service(request, tmp_path_factory.mktemp("schemathesis_server")) as running:
        yield running


def test_the_served_document_is_the_one_tested(service: LocalService) -> None:
    served = requests.get(f"{service.base_url}/v1/openapi.json", timeout=10).json()

    assert served == {**openapi_document(DOCUMENT_SERVER), "servers": [{"url": service.base_url}]}
    assert service.api_key == E2E_API_KEY


def test_stateful_workflows_hold_to_the_document(service: LocalService) -> None:
    # Given the links of the document: a created session or configuration, then what can be done with it. The
    # default configuration gets a default_return_url, so a generated create that leaves return_url out (as most do)
    # makes a session whose links can be followed; and webhook endpoints get room again (a run before may have made
    # the 16 a mode holds)
    session = StripeArrayEncoding()
    auth = {"Authorization": f"Bearer {E2E_API_KEY}"}
    session.post(
        f"{service.base_url}/v1/billing_portal/sessions",
        headers=auth,
        timeout=10,
        data={"customer": "cus_Stateful", "return_url": "https://example.com"},
    )  # the default is made
    default = f"{service.base_url}/v1/billing_portal/configurations/{DEFAULT_CONFIGURATION_IDS[False]}"
    updated = session.post(default, headers=auth, timeout=10, data={"default_return_url": "https://example.com/r"})
    assert updated.status_code == 200, updated.text
    endpoints = session.get(f"{service.base_url}/v1/webhook_endpoints?limit=100", headers=auth, timeout=10).json()
    for endpoint in endpoints["data"]:
        session.delete(f"{service.base_url}/v1/webhook_endpoints/{endpoint['id']}", headers=auth, timeout=10)

    called: set[str] = set()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"session": session, "base_url": service.base_url}

        def after_call(self, response: Any, case: Any) -> None:
            if response.status_code < 300 or response.status_code == 302:
                called.add(f"{case.method.upper()} {case.path}")

    # When Schemathesis walks them, with every check on every response
    try:
        Workflow.run(
            settings=hypothesis.settings(
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=STATEFUL_STEPS,
                derandomize=True,  # a fixed seed
                deadline=None,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
            )
        )
    finally:
        session.close()

    # Then nothing failed (a failure raises above), and links were followed from both kinds of created object (which
    # ones depends on what the module's server holds: any of each kind's follow-ups)
    session_links = {
        "GET /p/session/{token}",
        "HEAD /p/session/{token}",
        "GET /v1/billing_portal/sessions/{session}",
        "POST /v1/billing_portal/sessions/{session}/expire",
    }
    configuration_links = {
        "GET /v1/billing_portal/configurations/{configuration}",
        "POST /v1/billing_portal/configurations/{configuration}",
    }
    assert session_links & called and configuration_links & called, sorted(called)  # fmt: skip


def test_the_plain_cli_run_from_the_repo_root_finds_no_failure(service: LocalService) -> None:
    # Given only the served document and schemathesis.toml (which the CLI reads from the directory it runs in): no
    # adapter, arrays sent as OpenAPI sends them
    cli = Path(sys.executable).parent / "schemathesis"
    command = [str(cli), "run", f"{service.base_url}/v1/openapi.json", "-c", "all", "--no-color",
               "-H", f"Authorization: Bearer {service.api_key}"]  # fmt: skip

    # When every check runs in every phase
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)

    # Then nothing fails, and the seed the file fixes was used
    assert completed.returncode == 0, completed.stdout[-8000:] + completed.stderr[-2000:]
    assert "Seed: 20261201" in completed.stdout
