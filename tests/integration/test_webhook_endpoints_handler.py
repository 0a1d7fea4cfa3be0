"""/v1/webhook_endpoints through the handler, on moto: Stripe's wire, the secret shown once and sealed in the table,
test and live apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import create_session_handler
import pytest
import webhook_endpoints_handler

from portal_sessions.domain.webhooks import EndpointSecrets, endpoint_secrets
from portal_sessions.runtime.observability import logger
from portal_sessions.runtime.parameter_providers import clear_provider_cache
from portal_sessions.store.webhooks import WebhookEndpointStore
from tests.support.aws import aws_client
from tests.support.events import FakeContext, http_event
from tests.support.settings import LIVE_KEY, TEST_KEY
from tests.support.table import all_items

BASE = "/v1/webhook_endpoints"
FIXTURES = json.loads((Path(__file__).parents[1] / "reference" / "webhook_fixtures.json").read_text())
CREATE = "url=https://hooks.example.com/stripe&enabled_events[0]=billing_portal.session.created"


def call(method: str, path: str, body: str = "", key: str = TEST_KEY, **headers: str) -> tuple[int, Any]:
    path, _, query = path.partition("?")
    all_headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {key}", **headers}
    event = http_event(method, path, headers=all_headers, body=body)
    event["rawQueryString"] = query
    response = webhook_endpoints_handler.lambda_handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def create(body: str = CREATE, key: str = TEST_KEY) -> dict[str, Any]:
    status, endpoint = call("POST", BASE, body, key)
    assert status == 200, endpoint
    return endpoint


def test_create_shows_stripes_fields_and_the_secret_once(service_env: dict) -> None:
    endpoint = create(CREATE + "&description=Billing&metadata[team]=payments")

    assert set(endpoint) == {*FIXTURES["webhook_endpoint"], "secret"}
    assert endpoint["id"].startswith("we_") and endpoint["object"] == "webhook_endpoint"
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["status"] == "enabled" and endpoint["livemode"] is False
    assert endpoint["enabled_events"] == ["billing_portal.session.created"]
    assert endpoint["metadata"] == {"team": "payments"} and endpoint["description"] == "Billing"
    status, retrieved = call("GET", f"{BASE}/{endpoint['id']}")
    assert status == 200 and "secret" not in retrieved
    assert retrieved == {name: value for name, value in endpoint.items() if name != "secret"}


def test_a_table_dump_does_not_hold_the_secret_but_it_still_signs(service_env: dict) -> None:
    endpoint = create()

    dump = json.dumps(all_items(service_env["TABLE_NAME"]))
    assert endpoint["secret"] not in dump
    assert endpoint["secret"].removeprefix("whsec_") not in dump
    stored = WebhookEndpointStore(service_env["TABLE_NAME"]).get(endpoint["id"])
    assert stored is not None
    assert (
        endpoint_secrets(service_env["WEBHOOK_SECRETS_KEY_ID"]).open(endpoint["id"], stored.sealed_secret)
        == (endpoint["secret"])
    )


def test_an_idempotent_create_replays_the_secret_and_the_stored_response_is_sealed(service_env: dict) -> None:
    status, first = call("POST", BASE, CREATE, **{"idempotency-key": "we-once"})
    status_again, again = call("POST", BASE, CREATE, **{"idempotency-key": "we-once"})

    assert status == status_again == 200 and again == first
    assert first["secret"] not in json.dumps(all_items(service_env["TABLE_NAME"]))


def test_update_disables_changes_and_merges_metadata(service_env: dict) -> None:
    endpoint = create(CREATE + "&metadata[a]=1&metadata[b]=2&description=old")

    status, updated = call(
        "POST",
        f"{BASE}/{endpoint['id']}",
        "disabled=true&url=https://other.example.com/h&enabled_events[0]=*&metadata[a]=&metadata[c]=3&description=",
    )

    assert status == 200 and "secret" not in updated
    assert updated["status"] == "disabled" and updated["url"] == "https://other.example.com/h"
    assert updated["enabled_events"] == ["*"]
    assert updated["metadata"] == {"b": "2", "c": "3"} and updated["description"] is None
    _, enabled = call("POST", f"{BASE}/{endpoint['id']}", "disabled=false")
    assert enabled["status"] == "enabled"


def test_delete_answers_stripes_deleted_object_and_the_endpoint_is_gone(service_env: dict) -> None:
    endpoint = create()

    status, deleted = call("DELETE", f"{BASE}/{endpoint['id']}")

    assert status == 200
    assert deleted == {**FIXTURES["deleted_webhook_endpoint"], "id": endpoint["id"]}
    assert call("GET", f"{BASE}/{endpoint['id']}")[0] == 404
    status, again = call("DELETE", f"{BASE}/{endpoint['id']}")
    assert status == 404 and again["error"]["code"] == "resource_missing"


def test_list_pages_newest_first(service_env: dict) -> None:
    made = [create() for _ in range(5)]
    ids = [endpoint["id"] for endpoint in made]

    _, first = call("GET", f"{BASE}?limit=2")
    _, second = call("GET", f"{BASE}?limit=2&starting_after={first['data'][-1]['id']}")
    _, rest = call("GET", f"{BASE}?limit=10&starting_after={second['data'][-1]['id']}")
    _, back = call("GET", f"{BASE}?limit=2&ending_before={rest['data'][0]['id']}")

    listed = [endpoint["id"] for page in (first, second, rest) for endpoint in page["data"]]
    assert sorted(listed) == sorted(ids) and len(listed) == 5
    assert first["has_more"] is True and rest["has_more"] is False
    assert first["object"] == "list" and first["url"] == BASE
    assert [endpoint["id"] for endpoint in back["data"]] == [endpoint["id"] for endpoint in second["data"]]
    assert all("secret" not in endpoint for page in (first, second, rest) for endpoint in page["data"])


def test_test_and_live_endpoints_are_separate_worlds(service_env: dict) -> None:
    test_endpoint = create()
    live_endpoint = create(key=LIVE_KEY)

    assert live_endpoint["livemode"] is True
    assert call("GET", f"{BASE}/{test_endpoint['id']}", key=LIVE_KEY)[0] == 404
    assert call("DELETE", f"{BASE}/{live_endpoint['id']}")[0] == 404
    assert call("POST", f"{BASE}/{live_endpoint['id']}", "disabled=true")[0] == 404
    _, live_list = call("GET", BASE, key=LIVE_KEY)
    assert [endpoint["id"] for endpoint in live_list["data"]] == [live_endpoint["id"]]


@pytest.mark.parametrize(
    ("body", "key", "param", "code"),
    [
        ("enabled_events[0]=*", TEST_KEY, "url", "parameter_missing"),
        ("url=https://h.example.com", TEST_KEY, "enabled_events", "parameter_missing"),
        ("url=https://h.example.com&enabled_events[0]=charge.failed", TEST_KEY, "enabled_events[0]",
         "parameter_invalid"),
        ("url=http://h.example.com&enabled_events[0]=*", LIVE_KEY, "url", "url_invalid"),
        ("url=https://127.0.0.1/h&enabled_events[0]=*", TEST_KEY, "url", "url_invalid"),
        ("url=https://169.254.169.254/&enabled_events[0]=*", TEST_KEY, "url", "url_invalid"),
        ("url=http://127.0.0.1:3000/h&enabled_events[0]=*", TEST_KEY, "url", "url_invalid"),  # no local switch
        ("url=https://h.example.com&enabled_events[0]=*&colour=red", TEST_KEY, "colour", "parameter_unknown"),
    ],
)  # fmt: skip
def test_bad_input_is_a_stripe_error_and_writes_nothing(
    service_env: dict, body: str, key: str, param: str, code: str
) -> None:
    status, error = call("POST", BASE, body, key)

    assert status == 400
    assert (error["error"]["param"], error["error"]["code"]) == (param, code)
    items = all_items(service_env["TABLE_NAME"])
    assert not [item for item in items if item["pk"]["S"].startswith("webhook_endpoint#")]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_id_too_long_for_a_key_names_no_endpoint(service_env: dict, method: str) -> None:
    # 2,000 four-byte letters: past DynamoDB's 2,048-byte partition key (never to be asked of the store)
    status, error = call(method, f"{BASE}/{'𠀀' * 2000}", "disabled=true" if method == "POST" else "")

    assert status == 404
    assert error["error"]["code"] == "resource_missing"


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_a_list_cursor_too_long_for_a_key_is_refused(service_env: dict, cursor: str) -> None:
    status, error = call("GET", f"{BASE}?{cursor}={'a' * 3000}")

    assert status == 400
    assert error["error"]["param"] == cursor


def test_a_mode_holds_at_most_sixteen_endpoints_and_the_other_mode_is_counted_apart(service_env: dict) -> None:
    # Given sixteen test mode endpoints
    for _endpoint in range(16):
        create()

    # When a seventeenth is made
    status, body = call("POST", "/v1/webhook_endpoints", CREATE)

    # Then it is refused as Stripe refuses a request, and nothing was stored; live mode still has its sixteen
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "webhook_endpoint_limit_reached"
    assert "maximum of 16 test mode webhook endpoints" in body["error"]["message"]
    assert len(call("GET", "/v1/webhook_endpoints?limit=100")[1]["data"]) == 16
    assert create(key=LIVE_KEY)["livemode"] is True
    # and once one is deleted, there is room again
    first = call("GET", "/v1/webhook_endpoints?limit=1")[1]["data"][0]
    assert call("DELETE", f"/v1/webhook_endpoints/{first['id']}")[0] == 200
    assert create()["status"] == "enabled"


def test_a_request_logs_nothing_of_the_request_before_it(service_env: dict, caplog: pytest.LogCaptureFixture) -> None:
    # Given an endpoint created (its id among the log keys) in a process that serves other requests next (a warm
    # function, or `make run`, which serves every function in one process)
    caplog.handler.setFormatter(logger.registered_formatter)
    endpoint = create()
    call("GET", BASE)

    # When endpoints are listed, then a session is created
    create_session_handler.lambda_handler(
        http_event(
            "POST",
            "/v1/billing_portal/sessions",
            headers={"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"},
            body="customer=cus_1&return_url=https://example.com",
        ),
        FakeContext(),
    )

    # Then each request's line holds only its own keys
    lines = [json.loads(line) for line in caplog.text.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["message"] == "request"]
    assert [line.get("webhook_endpoint_id") for line in requests] == [endpoint["id"], None, None]
    assert requests[-1]["session_id"].startswith("bps_")
    assert requests[-1]["stripe_request_id"] not in {line["stripe_request_id"] for line in requests[:-1]}


def test_a_rotated_sealing_key_seals_new_secrets_and_still_opens_the_old_ones(service_env: dict) -> None:
    # Given an endpoint made under the sealing key the stack started with
    before = create()
    secret_id = service_env["WEBHOOK_SECRETS_KEY_ID"]
    started_with = aws_client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]

    # When the key is rotated as docs/api.md says: a keyring with a new sealing key, the first kept as `initial`
    rotated = {"sealing_kid": "2026-12", "initial": started_with, "2026-12": "n" * 64}
    aws_client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=json.dumps(rotated))
    clear_provider_cache()  # as the functions' cache of the secret lapses (5 minutes)
    after = create()

    # Then both endpoints' secrets open to what their creates showed, the new one under the new key alone
    table = WebhookEndpointStore(service_env["TABLE_NAME"])
    sealed = {endpoint["id"]: table.get(endpoint["id"]).sealed_secret for endpoint in (before, after)}  # type: ignore[union-attr]
    secrets = endpoint_secrets(secret_id)
    assert secrets.open(before["id"], sealed[before["id"]]) == before["secret"]
    assert secrets.open(after["id"], sealed[after["id"]]) == after["secret"]
    assert sealed[after["id"]].startswith("2026-12:")
    new_key_only = EndpointSecrets(json.dumps({"sealing_kid": "2026-12", "2026-12": "n" * 64}))
    assert new_key_only.open(after["id"], sealed[after["id"]]) == after["secret"]
    # And the endpoints still answer as before
    assert call("GET", f"{BASE}/{before['id']}")[0] == 200
