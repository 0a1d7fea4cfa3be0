"""No secret ever reaches the logs: a whole run of `python -m local_gateway run`, all of its output captured.

A server of its own (not the shared one) is started with a fresh API key, its stdout and stderr both written to one
file, and driven through everything: creates with Bearer and Basic auth and a managed restricted key, wrong and
missing keys, idempotent retries and conflicts, validation errors, configurations, the session extensions, visits with
their hand-offs, an expired link, a recovery through the login page, the demo portal. It is then stopped and the file
is searched for every secret the run handled: the API keys (the wrong ones too), every session URL token, every
hand-off and recovery JWT, and both modes' hand-off signing keys (read from the run's own Secrets Manager: the keys
themselves, not the JSON keyring that holds them, which no log line would ever show whole).

The start-up banner prints the configured test key on purpose (`make run` shows the developer the key to use); it is
the one place the key may appear. The capture is proven to work by what it must contain: the request lines and the ids
of the sessions created; and the search, by finding each secret in the log once a line that logs it is appended.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from local_gateway.backend import HANDOFF_SECRET_NAME, TEST_HANDOFF_SECRET_NAME
from local_gateway.dynamodb_local import free_port, port_answers
from portal_sessions.domain.auth import ManagedKey, key_hash, mask_key
from portal_sessions.domain.handoff import parse_keyring
from portal_sessions.domain.tokens import url_token_hash
from portal_sessions.store.api_keys import ApiKeyStore
from tests.support.local_service import (
    BANNER_END,
    ROOT,
    START_TIMEOUT_SECONDS,
    child_environment,
    stop_process,
)

TIMEOUT_SECONDS = 30
SESSIONS = "/v1/billing_portal/sessions"
CONFIGURATIONS = "/v1/billing_portal/configurations"
RETURN_URL = "https://example.com/account"
_DYNAMODB_LINE = re.compile(r"DynamoDB: embedded \((?P<endpoint>http://[^)\s]+)\), table (?P<table>\S+)")


@dataclass
class Run:
    """What the run handled, and everything it wrote."""

    base_url: str = ""
    endpoint: str = ""
    table: str = ""
    api_key: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # what must never be logged, by a name for the report
    session_ids: list[str] = field(default_factory=list)
    statuses: list[tuple[str, int]] = field(default_factory=list)
    log: str = ""

    @property
    def banner(self) -> str:
        return self.log[: self.log.index(BANNER_END) + len(BANNER_END)]

    @property
    def after_banner(self) -> str:
        return self.log[len(self.banner) :]

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="e2e",
            aws_secret_access_key="e2e",
        )


# The server


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Start a server with a fresh key, drive it through everything, stop it; its whole output is `run.log`."""
    log_path = tmp_path_factory.mktemp("no_secrets") / "local_gateway.log"
    record = Run(api_key="sk_test_" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y"))
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_gateway", "run", "--port", str(port)],
            cwd=ROOT,
            env=child_environment(PORTAL_API_KEY=record.api_key),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,  # one file: everything the process writes, in order
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while BANNER_END not in log_path.read_text(errors="replace") or not port_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.1)  # bounded by the deadline
        found = _DYNAMODB_LINE.search(log_path.read_text(errors="replace"))
        assert found, log_path.read_text(errors="replace")
        record.base_url, record.endpoint, record.table = f"http://127.0.0.1:{port}", found["endpoint"], found["table"]
        drive(record)
    finally:
        stop_process(process)
    record.log = log_path.read_text(errors="replace")
    yield record


# Driving the run


def drive(run: Run) -> None:
    with requests.Session() as http:
        http.trust_env = False  # 127.0.0.1 only, whatever proxy the environment names

        def call(method: str, path: str, expected: int, **kwargs: Any) -> requests.Response:
            response = http.request(method, run.base_url + path, timeout=TIMEOUT_SECONDS, **kwargs)
            run.statuses.append((f"{method} {path}", response.status_code))
            assert response.status_code == expected, (method, path, response.status_code, response.text[:500])
            return response

        bearer = {"Authorization": f"Bearer {run.api_key}"}
        session_form = {"customer": "cus_logs_a", "return_url": RETURN_URL, "locale": "fr"}

        def created(response: requests.Response, name: str) -> dict[str, Any]:
            session: dict[str, Any] = response.json()
            run.session_ids.append(session["id"])
            run.secrets[f"URL token of session {name}"] = session["url"].rsplit("/", 1)[1]
            return session

        # Creates: Bearer with an Idempotency-Key, its replay and a conflicting reuse
        a = created(call("POST", SESSIONS, 200, data=session_form, headers=bearer | {"Idempotency-Key": "logs-a"}), "A")
        replay = call("POST", SESSIONS, 200, data=session_form, headers=bearer | {"Idempotency-Key": "logs-a"})
        assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["id"] == a["id"]
        call(
            "POST", SESSIONS, 400, data={**session_form, "locale": "de"}, headers=bearer | {"Idempotency-Key": "logs-a"}
        )

        # Basic auth (curl -u KEY:), and JSON with a recoverable session
        basic = base64.b64encode(f"{run.api_key}:".encode()).decode()
        run.secrets["Basic credentials of the key"] = basic
        b = created(call("POST", SESSIONS, 200, data=session_form, headers={"Authorization": f"Basic {basic}"}), "B")
        recoverable = {
            "customer": "cus_logs_c",
            "return_url": RETURN_URL,
            "after_expiration": {"type": "customer_login"},
        }
        c = created(call("POST", SESSIONS, 200, json=recoverable, headers=bearer), "C")

        # A managed restricted key: it may create sessions, and nothing else
        restricted = "rk_test_" + secrets.token_hex(20)
        run.secrets["restricted key"] = restricted
        managed = ManagedKey("key_logs", "logs test", False, True, int(time.time()), mask_key(restricted))
        ApiKeyStore(run.table, client=run.aws("dynamodb")).put_new(managed, key_hash(restricted))
        as_restricted = {"Authorization": f"Bearer {restricted}"}
        created(
            call("POST", SESSIONS, 200, data={**session_form, "customer": "cus_logs_d"}, headers=as_restricted), "D"
        )
        call("GET", CONFIGURATIONS, 403, headers=as_restricted)

        # Wrong, missing and malformed keys
        for label, wrong in (
            ("wrong test key", "sk_test_"),
            ("wrong live key", "sk_live_"),
            ("wrong rk key", "rk_test_"),
        ):
            run.secrets[label] = wrong + secrets.token_hex(16)
            call("POST", SESSIONS, 401, data=session_form, headers={"Authorization": f"Bearer {run.secrets[label]}"})
        wrong_basic = base64.b64encode(f"{run.secrets['wrong test key']}:".encode()).decode()
        call("POST", SESSIONS, 401, data=session_form, headers={"Authorization": f"Basic {wrong_basic}"})
        call("POST", SESSIONS, 401, data=session_form)
        run.secrets["key sent without a scheme"] = "sk_test_" + secrets.token_hex(16)
        call(
            "POST",
            SESSIONS,
            401,
            data=session_form,
            headers={"Authorization": run.secrets["key sent without a scheme"]},
        )

        # Validation errors
        call("POST", SESSIONS, 400, data={**session_form, "colour": "blue"}, headers=bearer)
        call("POST", SESSIONS, 400, data={**session_form, "locale": "xx"}, headers=bearer)
        call("POST", SESSIONS, 400, data={**session_form, "return_url": "javascript:alert(1)"}, headers=bearer)
        call("POST", SESSIONS, 400, data=session_form, headers=bearer | {"Stripe-Version": "not-a-version"})
        call("POST", SESSIONS, 400, data=session_form, headers=bearer | {"Stripe-Account": "acct_1"})
        call("POST", SESSIONS, 400, data="%ff", headers=bearer | {"Content-Type": "application/x-www-form-urlencoded"})

        # Configurations
        configuration = call(
            "POST",
            CONFIGURATIONS,
            200,
            data={"features[invoice_history][enabled]": "true", "name": "logs", "default_return_url": RETURN_URL},
            headers=bearer | {"Idempotency-Key": "logs-configuration"},
        ).json()
        call("GET", CONFIGURATIONS, 200, params={"limit": 3}, headers=bearer)
        call("GET", f"{CONFIGURATIONS}/{configuration['id']}", 200, headers=bearer)
        call("POST", f"{CONFIGURATIONS}/{configuration['id']}", 200, data={"name": "logs 2"}, headers=bearer)
        call("GET", f"{CONFIGURATIONS}/bpc_missing", 404, headers=bearer)

        # The session extensions
        call("GET", f"{SESSIONS}/{a['id']}", 200, headers=bearer)
        call("GET", SESSIONS, 200, params={"customer": "cus_logs_a"}, headers=bearer)
        call("POST", f"{SESSIONS}/{b['id']}/expire", 200, headers=bearer | {"Idempotency-Key": "logs-expire"})
        call("POST", f"{SESSIONS}/{b['id']}/expire", 200, headers=bearer | {"Idempotency-Key": "logs-expire"})

        # Visits: a hand-off, a revisit, a link check, the demo portal, an expired and an unknown link
        for visit in ("first", "second"):
            location = call("GET", urlsplit(a["url"]).path, 302, allow_redirects=False).headers["Location"]
            run.secrets[f"hand-off JWT of the {visit} visit"] = parse_qs(urlsplit(location).query)["handoff"][0]
        call("HEAD", urlsplit(a["url"]).path, 200)
        portal = urlsplit(location)
        call("GET", portal.path, 200, params={"handoff": run.secrets["hand-off JWT of the first visit"]})
        call("GET", urlsplit(b["url"]).path, 410, allow_redirects=False)
        call("GET", "/p/session/" + secrets.token_urlsafe(32), 404, allow_redirects=False)

        # A recovery: session C's link expired (moved back in the table), within its recovery time
        c_token = c["url"].rsplit("/", 1)[1]
        run.aws("dynamodb").update_item(
            TableName=run.table,
            Key={"pk": {"S": "token#" + url_token_hash(c_token)}},
            UpdateExpression="SET expires_at = :past",
            ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 60)}},
        )
        location = call("GET", urlsplit(c["url"]).path, 302, allow_redirects=False).headers["Location"]
        run.secrets["recovery JWT"] = parse_qs(urlsplit(location).query)["recovery"][0]
        call("GET", urlsplit(location).path, 200, params={"recovery": run.secrets["recovery JWT"]})

        # An unknown route
        call("GET", "/v1/nothing/here", 404, headers=bearer)

    for mode, secret_id in (("live", HANDOFF_SECRET_NAME), ("test", TEST_HANDOFF_SECRET_NAME)):
        keyring = parse_keyring(run.aws("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
        run.secrets[f"{mode} hand-off signing key"] = keyring.signing_key


# The log


SECRETS = (
    "Basic credentials of the key",
    "restricted key",
    "wrong test key",
    "wrong live key",
    "wrong rk key",
    "key sent without a scheme",
    "URL token of session A",
    "URL token of session B",
    "URL token of session C",
    "URL token of session D",
    "hand-off JWT of the first visit",
    "hand-off JWT of the second visit",
    "recovery JWT",
    "live hand-off signing key",
    "test hand-off signing key",  # the one that signed the run's hand-offs (its key is a test key)
)


def jwt_signature(token: str) -> str:
    return token.rsplit(".", 1)[1]


def leaks(log: str, name: str, value: str) -> list[str]:
    """Where the log shows the secret `name`: whole, or, for a JWT, by its signature."""
    found = [f"the {name} is in the log"] if value in log else []
    if "JWT" in name and jwt_signature(value) in log:
        found.append(f"the signature of the {name} is in the log")
    return found


def test_the_capture_holds_the_whole_run(run: Run) -> None:
    # Given the run's captured output / Then it is there: the banner, a line per request, the functions' own logs
    assert run.banner.startswith("Starting: ") and "\nPortal session service on " in run.banner
    assert f"API key (test mode): {run.api_key}" in run.banner
    after = run.after_banner
    assert "POST /v1/billing_portal/sessions -> 200" in after
    assert "POST /v1/billing_portal/sessions -> 401" in after
    assert "GET /p/session/{token} -> 302" in after
    assert "GET /v1/billing_portal/configurations/{configuration} -> 404" in after
    for session_id in run.session_ids:
        assert session_id in after, f"{session_id} is not in the log: the capture misses the functions' logs"
    # And the run went through every kind of step (each step asserted its own status)
    assert {status for _step, status in run.statuses} == {200, 302, 400, 401, 403, 404, 410}


def test_the_api_keys_appear_only_in_the_banner_that_hands_out_the_test_key(run: Run) -> None:
    # Given the configured key, which the banner shows on purpose
    key = run.api_key

    # Then nothing else ever prints it
    assert run.log.count(key) == run.banner.count(key) > 0
    assert key not in run.after_banner


def test_every_secret_of_the_run_is_searched_for(run: Run) -> None:
    # Given what the run recorded as secret / Then the tests below search the log for each of them
    assert sorted(run.secrets) == sorted(SECRETS)


@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_of_the_run_is_ever_logged(run: Run, secret: str) -> None:
    # Given a secret the run handled
    value = run.secrets[secret]
    assert len(value) >= 16

    # Then it is nowhere in the output (JWTs not even by their signature)
    assert leaks(run.log, secret, value) == []


@pytest.mark.parametrize("secret", SECRETS)
def test_the_secret_search_finds_a_secret_that_is_logged(run: Run, secret: str) -> None:
    # Given the log with a line appended that shows the secret, as a careless log statement would write it, and
    # for a JWT one that shows only its signature
    value = run.secrets[secret]
    logged = run.log + json.dumps({"level": "INFO", "message": "visit", "value": value}) + "\n"

    # Then the search of the test above reports it (so its passing means something)
    assert leaks(logged, secret, value) != []
    if "JWT" in secret:
        signed = run.log + json.dumps({"level": "INFO", "message": "visit", "signature": jwt_signature(value)}) + "\n"
        assert leaks(signed, secret, value) == [f"the signature of the {secret} is in the log"]


def test_the_run_logged_no_unexpected_error(run: Run) -> None:
    # Then every refusal of the run was a handled one: no stack trace, no "unexpected error"
    assert "Traceback" not in run.log
    assert "unexpected error" not in run.log
