"""Each webhook endpoint's recent delivery attempts, as an operator lists them (`python -m portal_admin webhooks
attempts`): written by every attempt, bounded, per mode, holding no secret; a record that cannot be written never
fails or repeats the delivery. On both engines, with a real receiver on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from portal_admin.__main__ import main
from portal_sessions.domain.webhooks import endpoint_secrets
from portal_sessions.outbound.webhook_delivery import (
    ATTEMPT_RECORDS_PER_ENDPOINT_SECOND,
    AttemptRecorder,
    RecordBudget,
    attempt,
)
from portal_sessions.runtime.settings import clear_settings_cache
from portal_sessions.store.webhook_attempts import (
    ATTEMPTS_KEPT,
    TRIM_SLACK,
    AttemptRecord,
    WebhookAttemptStore,
    attempts_key,
)
from portal_sessions.store.webhooks import EventStore, WebhookEndpointStore
from tests.integration.test_webhook_deliveries import (
    RecordingQueue,
    attempt_at,
    create_session,
    deliver,
    first_delivery,
    register,
)
from tests.support.aws import aws_client, one_request_at_a_time
from tests.support.webhook_receiver import stalling_receiver, webhook_receiver


@pytest.fixture
def local_env(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The local runner's switch: endpoints on loopback (the test's receivers) are allowed."""
    monkeypatch.setenv("WEBHOOK_LOCAL_RECEIVERS", "true")
    clear_settings_cache()
    yield service_env
    clear_settings_cache()


FIELDS = {"at", "event_id", "event_type", "attempt", "status", "failure", "duration_ms", "next_retry_at"}


def listed(capsys: pytest.CaptureFixture[str], table: str, endpoint_id: str, *options: str) -> Any:
    """What the admin command prints for an endpoint's attempts (parsed, with --json)."""
    capsys.readouterr()
    assert main(["--table", table, "webhooks", "attempts", endpoint_id, *options]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in options else out


def closed_port_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/webhook"


def test_a_receiver_failing_then_answering_lists_both_attempts_newest_first(
    local_env: dict[str, str],
    published_events: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = local_env["TABLE_NAME"]
    with webhook_receiver(statuses=[503, 200]) as receiver:
        endpoint = register(receiver.url, ["*"])
        delivery, queue, clock = first_delivery(local_env, published_events), RecordingQueue(), int(time.time())
        assert attempt_at(delivery, clock, local_env, queue) == "retrying"
        second, _delay = queue.sent[-1]
        assert attempt_at(second, second.due_at, local_env, queue) == "delivered"

    newest, oldest = listed(capsys, table, endpoint["id"], "--mode", "test", "--json")
    assert oldest == {
        "at": clock, "event_id": delivery.event_id, "event_type": "billing_portal.session.created", "attempt": 1,
        "status": 503, "failure": "http_status", "duration_ms": oldest["duration_ms"], "next_retry_at": clock + 60,
    }  # fmt: skip
    assert newest == {**oldest, "at": clock + 60, "attempt": 2, "status": 200, "failure": None,
                      "duration_ms": newest["duration_ms"], "next_retry_at": None}  # fmt: skip
    assert all(0 <= attempt["duration_ms"] < 10_000 for attempt in (newest, oldest))
    # and readable, one line each, newest first
    lines = listed(capsys, table, endpoint["id"], "--mode", "test").splitlines()
    assert lines[0] == f"2 recent attempts at {endpoint['id']} in test mode, newest first:"
    assert "attempt 2  delivered (200)" in lines[1] and delivery.event_id in lines[1]
    retry_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock + 60))
    assert "attempt 1  failed (503)" in lines[2] and lines[2].endswith(f"next retry {retry_at}")
    # --limit keeps the newest
    assert [a["attempt"] for a in listed(capsys, table, endpoint["id"], "--mode", "test", "--limit", "1", "--json")
            ] == [2]  # fmt: skip


def test_a_failure_without_an_answer_is_named_and_the_last_attempt_has_no_next_retry(
    local_env: dict[str, str],
    published_events: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint = register(closed_port_url(), ["*"])
    delivery, queue, clock = first_delivery(local_env, published_events), RecordingQueue(), int(time.time())
    outcomes = []
    while True:  # test mode's whole schedule, each attempt refused
        outcomes.append(attempt_at(delivery, clock, local_env, queue))
        if not queue.sent:
            break
        delivery, _delay = queue.sent.pop()
        clock = delivery.due_at

    found = listed(capsys, local_env["TABLE_NAME"], endpoint["id"], "--mode", "test", "--json")
    assert [a["attempt"] for a in found] == list(range(len(outcomes), 0, -1))
    assert {(a["status"], a["failure"]) for a in found} == {(None, "connection_refused")}
    assert found[0]["next_retry_at"] is None and all(a["next_retry_at"] > a["at"] for a in found[1:])
    assert "failed (connection_refused)" in listed(capsys, local_env["TABLE_NAME"], endpoint["id"], "--mode", "test")


def test_a_receiver_that_never_answers_is_recorded_as_a_timeout_of_the_attempts_deadline(
    local_env: dict[str, str], published_events: Any
) -> None:
    with stalling_receiver("continue") as receiver:
        endpoint = register(receiver.url, ["*"])
        delivery, clock = first_delivery(local_env, published_events), int(time.time())
        table = local_env["TABLE_NAME"]
        outcome = attempt(delivery, now=clock, events=EventStore(table), endpoints=WebhookEndpointStore(table),
                          secrets=endpoint_secrets(local_env["WEBHOOK_SECRETS_KEY_ID"]), queue=RecordingQueue(),
                          local_receivers=True, deadline_seconds=1,
                          recorder=AttemptRecorder(WebhookAttemptStore(table), RecordBudget(1), Counter()))  # fmt: skip

    assert outcome == "retrying"
    (recorded,) = WebhookAttemptStore(table).recent(endpoint["id"], False, now=clock, limit=1)
    assert (recorded.status, recorded.failure, recorded.next_retry_at) == (None, "timeout", clock + 60)
    assert 1000 <= recorded.duration_ms < 2000  # its deadline (+1 s)


def test_the_delivery_function_records_what_it_attempts(
    local_env: dict[str, str],
    published_events: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with webhook_receiver() as receiver:
        endpoint = register(receiver.url, ["billing_portal.session.created"])
        session = create_session()
        published_events()
        assert deliver(local_env)["batchItemFailures"] == []
        assert len(receiver.received) == 1

    (recorded,) = listed(capsys, local_env["TABLE_NAME"], endpoint["id"], "--mode", "test", "--json")
    assert (recorded["status"], recorded["failure"], recorded["attempt"]) == (200, None, 1)
    assert json.loads(receiver.received[0].body)["id"] == recorded["event_id"]
    assert json.loads(receiver.received[0].body)["data"]["object"]["id"] == session["id"]


def test_a_test_endpoints_attempts_are_not_listed_as_live_ones(
    local_env: dict[str, str],
    published_events: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with webhook_receiver() as receiver:
        endpoint = register(receiver.url, ["*"])
        create_session()
        published_events()
        deliver(local_env)

    table = local_env["TABLE_NAME"]
    (tested,) = listed(capsys, table, endpoint["id"], "--mode", "test", "--json")
    assert listed(capsys, table, endpoint["id"], "--mode", "live", "--json") == []
    assert (
        listed(capsys, table, endpoint["id"], "--mode", "live")
        == f"no recent attempts at {endpoint['id']} in live mode\n"
    )
    # and a live record under the same id stays in its own item
    store = WebhookAttemptStore(table)
    live = AttemptRecord(int(time.time()), "evt_Live", "billing_portal.session.created", 1, 200, None, 5, None)
    store.record(endpoint["id"], True, live)
    assert store.recent(endpoint["id"], True, now=live.at, limit=20) == [live]
    assert [a.event_id for a in store.recent(endpoint["id"], False, now=live.at, limit=20)] == [tested["event_id"]]


def test_the_record_is_bounded_keeps_the_newest_and_expires(local_env: dict[str, str]) -> None:
    table, start = local_env["TABLE_NAME"], int(time.time())
    store = WebhookAttemptStore(table)
    held = []
    for number in range(1, 3 * ATTEMPTS_KEPT + 1):
        store.record("we_Busy", False, AttemptRecord(start + number, f"evt_{number}", "t", 1, 500, "http_status",
                                                     10, None))  # fmt: skip
        item = aws_client("dynamodb").get_item(TableName=table, Key=attempts_key("we_Busy", False))["Item"]
        held.append(len(item["attempts"]["L"]))

    assert max(held) < ATTEMPTS_KEPT + TRIM_SLACK  # never more than this in the item
    assert int(item["purge_at"]["N"]) == start + 3 * ATTEMPTS_KEPT + 30 * 86400  # the table's TTL, from the last
    newest = store.recent("we_Busy", False, now=start, limit=ATTEMPTS_KEPT)
    assert [a.event_id for a in newest] == [f"evt_{n}" for n in range(3 * ATTEMPTS_KEPT, 2 * ATTEMPTS_KEPT, -1)]
    # reads drop what is past its retention, since TTL deletion lags
    later = store.recent("we_Busy", False, now=start + 30 * 86400 + 2 * ATTEMPTS_KEPT + 5, limit=ATTEMPTS_KEPT)
    assert [a.event_id for a in later] == [f"evt_{n}" for n in range(3 * ATTEMPTS_KEPT, 2 * ATTEMPTS_KEPT + 5, -1)]


@pytest.mark.parametrize("kept", [100, ATTEMPTS_KEPT], ids=["untrimmed", "trimmed"])
def test_attempts_recorded_at_once_at_one_endpoint_all_land_and_stay_bounded(
    local_env: dict[str, str], kept: int, engine: str
) -> None:
    store, start = WebhookAttemptStore(local_env["TABLE_NAME"], kept=kept), int(time.time())

    def record_some(worker: int) -> None:
        for number in range(5):
            store.record("we_Shared", True, AttemptRecord(start, f"evt_{worker}_{number}", "t", 1, 200, None, 3, None))

    serialised = one_request_at_a_time(store.client) if engine == "moto" else contextlib.nullcontext()
    with serialised, ThreadPoolExecutor(max_workers=6) as workers:
        list(workers.map(record_some, range(6)))

    item = aws_client("dynamodb").get_item(TableName=local_env["TABLE_NAME"], Key=attempts_key("we_Shared", True))
    entries = [AttemptRecord.from_json(entry["S"]) for entry in item["Item"]["attempts"]["L"]]
    if kept == 100:  # no trim: every one of the 30 is there, none lost to another's write
        assert len(entries) == 30
    else:
        assert ATTEMPTS_KEPT <= len(entries) < ATTEMPTS_KEPT + TRIM_SLACK
    assert len({entry.event_id for entry in entries}) == len(entries)
    # each worker's own attempts keep their order (each prepends after its previous one)
    for worker in range(6):
        mine = [int(e.event_id.rsplit("_", 1)[1]) for e in entries if e.event_id.startswith(f"evt_{worker}_")]
        assert mine == sorted(mine, reverse=True)


def test_the_record_holds_no_secret_url_payload_or_signature(
    local_env: dict[str, str],
    published_events: Any,
) -> None:
    with webhook_receiver(statuses=[500]) as receiver:
        endpoint = register(receiver.url + "?token=query-secret", ["*"])
        delivery = first_delivery(local_env, published_events)
        attempt_at(delivery, int(time.time()), local_env, RecordingQueue())
        (sent,) = receiver.received

    item = aws_client("dynamodb").get_item(TableName=local_env["TABLE_NAME"],
                                           Key=attempts_key(endpoint["id"], False))["Item"]  # fmt: skip
    assert set(item) == {"pk", "attempts", "purge_at"}
    stored = json.dumps(item)
    signature = sent.headers["stripe-signature"]
    for secret in (endpoint["secret"], "whsec_", "query-secret", "127.0.0.1", signature.split("v1=")[1], "cus_1",
                   json.loads(sent.body)["data"]["object"]["id"]):  # fmt: skip
        assert secret not in stored
    (entry,) = WebhookAttemptStore(local_env["TABLE_NAME"]).recent(endpoint["id"], False, now=int(time.time()),
                                                                   limit=1)  # fmt: skip
    assert set(vars(entry)) == FIELDS


class BrokenAttempts:
    """The attempts' store on a table that does not exist: every record fails as DynamoDB fails it."""

    def __init__(self) -> None:
        self.store = WebhookAttemptStore("no-such-table")

    def record(self, endpoint_id: str, livemode: bool, attempt: AttemptRecord) -> None:
        self.store.record(endpoint_id, livemode, attempt)

    def recent(self, endpoint_id: str, livemode: bool, *, now: int, limit: int) -> list[AttemptRecord]:
        return self.store.recent(endpoint_id, livemode, now=now, limit=limit)


@pytest.mark.parametrize("statuses", [[200], [500]], ids=["delivered", "retrying"])
def test_a_record_that_cannot_be_written_neither_fails_nor_repeats_the_delivery(
    local_env: dict[str, str],
    published_events: Any,
    caplog: pytest.LogCaptureFixture,
    statuses: list[int],
) -> None:
    with webhook_receiver(statuses=statuses) as receiver:
        register(receiver.url, ["*"])
        delivery, queue, counts = first_delivery(local_env, published_events), RecordingQueue(), Counter[str]()
        outcome = attempt_at(delivery, int(time.time()), local_env, queue, counts=counts, attempts=BrokenAttempts())
        assert len(receiver.received) == 1

    assert outcome == ("delivered" if statuses == [200] else "retrying")
    assert [d.attempt for d, _delay in queue.sent] == ([] if statuses == [200] else [2])  # the next one only
    assert counts == Counter({"WebhookAttemptsNotRecorded": 1})
    assert "webhook attempt not recorded" in caplog.text


def test_an_endpoint_takes_a_bounded_number_of_records_a_second_from_each_environment() -> None:
    budget = RecordBudget(max_environments=20)
    per_second = ATTEMPT_RECORDS_PER_ENDPOINT_SECOND // 20

    assert [budget.take("we_A", 100) for _ in range(per_second + 1)] == [True] * per_second + [False]
    assert budget.take("we_B", 100)  # each endpoint its own
    assert budget.take("we_A", 101)  # and each second anew
    assert RecordBudget(max_environments=1000).per_second == 1


@pytest.mark.parametrize("limit", ["0", str(ATTEMPTS_KEPT + 1), "many"])
def test_the_command_refuses_a_limit_past_what_is_kept(
    service_env: dict[str, str], capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--table", service_env["TABLE_NAME"], "webhooks", "attempts", "we_X", "--mode", "live", "--limit", limit])

    assert exited.value.code == 2
    assert "--limit" in capsys.readouterr().err
