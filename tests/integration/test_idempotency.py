"""Idempotency-Key on POSTs, against moto: replays, mismatches, scope, concurrency, and sealed storage."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

import create_session_handler
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal_sessions.domain.auth import authenticate, key_hash
from portal_sessions.domain.configuration import default_configuration
from portal_sessions.domain.tokens import new_url_token, session_id_for, url_token_hash
from portal_sessions.runtime.errors import (
    ClaimLostError,
    ConditionFailedError,
    IdempotencyError,
    IdempotencyKeyInUseError,
)
from portal_sessions.store.configurations import ConfigurationStore
from portal_sessions.store.idempotency import Claim, IdempotencyRecordStore, RecordCompletion
from portal_sessions.store.sessions import NewSession, SessionStore
from portal_sessions.use_cases.idempotency import IdempotencyClaim, IdempotentRequest, OperationResult, run_idempotently
from tests.support.aws import aws_client
from tests.support.contract import schema_errors
from tests.support.events import FakeContext, http_event, json_body
from tests.support.factories import a_session
from tests.support.settings import LIVE_KEY, TEST_KEY
from tests.support.table import all_items, session_items

PATH = "/v1/billing_portal/sessions"
BODY = "customer=cus_1&return_url=https://example.com"


def create(body: str = BODY, *, key: str = TEST_KEY, idempotency_key: str | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {key}"}
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    return create_session_handler.lambda_handler(http_event("POST", PATH, headers=headers, body=body), FakeContext())


def test_a_retry_with_the_same_key_replays_the_first_response(service_env: dict) -> None:
    # Given a session created with an Idempotency-Key
    first = create(idempotency_key="retry-1")
    assert first["statusCode"] == 200

    # When the same request is sent again with the same key
    again = create(idempotency_key="retry-1")

    # Then the first response comes back, marked as replayed, and nothing new is created
    assert again["statusCode"] == 200
    assert json_body(again) == json_body(first)
    assert again["headers"]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first["headers"]
    assert again["headers"]["Idempotency-Key"] == "retry-1"
    assert len(session_items(service_env["TABLE_NAME"])) == 1
    assert schema_errors("billing_portal.session", json_body(again)) == []


def test_a_retry_with_its_parameters_in_another_order_is_the_same_request(service_env: dict) -> None:
    # Given a session created with an Idempotency-Key
    first = create("customer=cus_1&return_url=https://example.com&locale=fr", idempotency_key="order-1")
    assert first["statusCode"] == 200

    # When it is retried with the same parameters, sent in another order
    again = create("locale=fr&return_url=https://example.com&customer=cus_1", idempotency_key="order-1")

    # Then it is the same request: the first response is replayed
    assert again["statusCode"] == 200, again["body"]
    assert again["headers"]["Idempotent-Replayed"] == "true"
    assert json_body(again) == json_body(first)


def test_the_same_key_with_other_parameters_is_an_idempotency_error(service_env: dict) -> None:
    # Given
    create(idempotency_key="retry-2")

    # When the key is reused for a different request
    response = create("customer=cus_2&return_url=https://example.com", idempotency_key="retry-2")

    # Then Stripe's idempotency_error, and no second session
    assert response["statusCode"] == 400
    error = json_body(response)["error"]
    assert error["type"] == "idempotency_error"
    assert error["message"] == (
        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
        "Try using a key other than 'retry-2' if you meant to execute a different request."
    )
    assert len(session_items(service_env["TABLE_NAME"])) == 1


def test_keys_are_scoped_to_the_mode(service_env: dict) -> None:
    # Given a key used in test mode
    test_mode = json_body(create(idempotency_key="shared"))

    # When a live key sends the same key and parameters
    live_mode = json_body(create(key=LIVE_KEY, idempotency_key="shared"))

    # Then it is a separate request, in live mode
    assert live_mode["id"] != test_mode["id"]
    assert live_mode["livemode"] is True


def test_requests_that_fail_validation_are_not_stored(service_env: dict) -> None:
    # Given a first request that fails validation
    assert create("customer=cus_1&return_url=https://example.com&colour=red", idempotency_key="k3")["statusCode"] == 400

    # When it is corrected and sent with the same key
    response = create(idempotency_key="k3")

    # Then it runs (the failure was not kept as the key's response)
    assert response["statusCode"] == 200
    assert "Idempotent-Replayed" not in response["headers"]


def test_without_a_key_every_request_creates_a_session(service_env: dict) -> None:
    first, second = create(), create()

    assert len(session_items(service_env["TABLE_NAME"])) == 2
    assert "Idempotent-Replayed" not in first["headers"] | second["headers"]


def test_an_overlong_key_is_refused(service_env: dict) -> None:
    response = create(idempotency_key="k" * 256)

    assert response["statusCode"] == 400
    assert json_body(response)["error"]["param"] == "Idempotency-Key"
    assert session_items(service_env["TABLE_NAME"]) == []
    assert create(idempotency_key="k" * 255)["statusCode"] == 200  # Stripe's longest


def test_a_claim_is_held_in_progress_for_the_time_the_function_has_left(service_env: dict) -> None:
    # Given a request with a key, run by a function with 2.5 s left (its Lambda context's remaining time)
    caller = authenticate(f"Bearer {TEST_KEY}", {key_hash(TEST_KEY)})
    now_ms = int(time.time() * 1000)
    held: list[dict[str, Any]] = []

    def operation(_claim: IdempotencyClaim | None) -> OperationResult:
        held.extend(item for item in all_items(service_env["TABLE_NAME"]) if item["pk"]["S"].startswith("idempotency#"))
        return OperationResult({"id": "obj_1"})

    request = IdempotentRequest("held-for-the-rest", caller, "POST /x", {"a": "1"})
    run_idempotently(request, records_of(service_env), operation, now_ms=now_ms, remaining_ms=2500)

    # Then while it runs, its claim lapses when the function's time does (a retry may take the key over after that)
    [record] = held
    assert record["in_progress_expiration"] == {"N": str(now_ms + 2500)}


def test_stored_responses_reveal_no_session_url(service_env: dict) -> None:
    # Given a session created with a key (its response, with the URL, is kept for replays)
    session = json_body(create(idempotency_key="sealed-1"))
    token = session["url"].rsplit("/", 1)[1]

    # When the whole table is read, as a dump would be
    dump = json.dumps(all_items(service_env["TABLE_NAME"]))

    # Then neither the URL's token nor the API key is in it; the record expires through the table's TTL
    assert token not in dump
    assert TEST_KEY not in dump
    [record] = [item for item in all_items(service_env["TABLE_NAME"]) if item["pk"]["S"].startswith("idempotency#")]
    assert int(record["purge_at"]["N"]) > 0


def test_stored_responses_are_sealed_with_aes_gcm_under_a_key_derived_from_the_api_key(service_env: dict) -> None:
    # Given a session created with a key
    session = json_body(create(idempotency_key="sealed-aead"))
    [record] = [item for item in all_items(service_env["TABLE_NAME"]) if item["pk"]["S"].startswith("idempotency#")]
    sealed = base64.b64decode(json.loads(record["data"]["S"])["sealed"])

    # When it is opened independently: AES-256-GCM, 96-bit nonce first, the key HMAC-SHA256(API key, purpose), bound
    # (as associated data) to its record's key and its request's hash
    key = hmac.new(TEST_KEY.encode(), b"idempotent-responses", hashlib.sha256).digest()
    bound = f"portal-sessions sealed v3\n{record['pk']['S']}\n{record['validation']['S']}".encode()
    opened = AESGCM(key).decrypt(sealed[:12], sealed[12:], bound)

    # Then it is the response that was returned; and one flipped bit anywhere is refused, as is another key, and
    # another record's binding
    assert json.loads(opened) == session
    for position in (0, 12, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[position] ^= 1
        with pytest.raises(InvalidTag):
            AESGCM(key).decrypt(bytes(tampered[:12]), bytes(tampered[12:]), bound)
    other = hmac.new(LIVE_KEY.encode(), b"idempotent-responses", hashlib.sha256).digest()
    with pytest.raises(InvalidTag):
        AESGCM(other).decrypt(sealed[:12], sealed[12:], bound)
    with pytest.raises(InvalidTag):
        AESGCM(key).decrypt(sealed[:12], sealed[12:], bound.replace(b"idempotency#", b"idempotency#0"))


def test_a_response_sealed_before_seals_were_bound_to_their_record_still_replays(service_env: dict) -> None:
    # Given a record completed the way records were before (sealed bound to nothing): it lives 24 hours at most
    session = json_body(create(idempotency_key="sealed-unbound"))
    [record] = [item for item in all_items(service_env["TABLE_NAME"]) if item["pk"]["S"].startswith("idempotency#")]
    key = hmac.new(TEST_KEY.encode(), b"idempotent-responses", hashlib.sha256).digest()
    nonce = secrets.token_bytes(12)
    unbound = nonce + AESGCM(key).encrypt(nonce, json.dumps(session).encode(), b"portal-sessions sealed response v2")
    aws_client("dynamodb").update_item(
        TableName=service_env["TABLE_NAME"],
        Key={"pk": record["pk"]},
        UpdateExpression="SET #data = :data",
        ExpressionAttributeNames={"#data": "data"},
        ExpressionAttributeValues={":data": {"S": json.dumps({"sealed": base64.b64encode(unbound).decode()})}},
    )

    # When the request is retried, then it is that record's replay: no retry in flight runs twice
    replay = create(idempotency_key="sealed-unbound")
    assert replay["headers"].get("Idempotent-Replayed") == "true"
    assert json_body(replay) == session
    assert len(session_items(service_env["TABLE_NAME"])) == 1


def test_a_record_that_cannot_be_opened_is_a_non_retryable_idempotency_error(service_env: dict) -> None:
    # Given a stored response sealed in another format (as records sealed before the AES-GCM change are)
    first = json_body(create(idempotency_key="old-format"))
    table = aws_client("dynamodb")
    [record] = [item for item in all_items(service_env["TABLE_NAME"]) if item["pk"]["S"].startswith("idempotency#")]
    old_format = base64.b64encode(secrets.token_bytes(16) + b"x" * 300 + secrets.token_bytes(16)).decode()
    table.update_item(
        TableName=service_env["TABLE_NAME"],
        Key={"pk": record["pk"]},
        UpdateExpression="SET #data = :data",
        ExpressionAttributeNames={"#data": "data"},
        ExpressionAttributeValues={":data": {"S": json.dumps({"sealed": old_format})}},
    )

    # When the request is retried with its key
    response = create(idempotency_key="old-format")

    # Then a 400 idempotency_error (no retry can open it), not a 5xx; and no second session
    assert response["statusCode"] == 400, response["body"]
    error = json_body(response)["error"]
    assert error["type"] == "idempotency_error"
    assert first["url"] not in response["body"]
    assert len(session_items(service_env["TABLE_NAME"])) == 1


@pytest.mark.parametrize("second_body", [BODY, "customer=cus_2&return_url=https://example.com/other"])
def test_a_sealed_response_moved_onto_another_record_of_the_caller_does_not_open(
    service_env: dict, second_body: str
) -> None:
    # Given two sessions created by one caller under two keys
    first = json_body(create(idempotency_key="moved-from"))
    second = json_body(create(second_body, idempotency_key="moved-to"))
    records = {
        json.loads(item["data"]["S"])["sealed"]: item
        for item in all_items(service_env["TABLE_NAME"])
        if item["pk"]["S"].startswith("idempotency#")
    }
    assert len(records) == 2

    # When someone who can write the table moves one record's sealed response onto the other's (both of this caller,
    # so the same key seals them)
    source, target = sorted(records.values(), key=lambda item: item["pk"]["S"] == key_of("moved-to"))
    aws_client("dynamodb").update_item(
        TableName=service_env["TABLE_NAME"],
        Key={"pk": target["pk"]},
        UpdateExpression="SET #data = :data",
        ExpressionAttributeNames={"#data": "data"},
        ExpressionAttributeValues={":data": source["data"]},
    )
    replay = create(second_body, idempotency_key="moved-to")

    # Then it does not open there: the key's own request gets a 400, never the other session's URL
    assert replay["statusCode"] == 400, replay["body"]
    assert json_body(replay)["error"]["type"] == "idempotency_error"
    assert first["url"] not in replay["body"] and second["url"] not in replay["body"]


def key_of(idempotency_key: str) -> str:
    """The record key of a test-mode idempotency key of TEST_KEY's."""
    caller = authenticate(f"Bearer {TEST_KEY}", {key_hash(TEST_KEY)})
    scope = f"test:{caller.key_fingerprint}:{idempotency_key}"
    return "idempotency#" + hashlib.sha256(json.dumps(scope, sort_keys=True).encode()).hexdigest()


def test_a_concurrent_request_with_the_key_gets_409_and_one_operation_runs(service_env: dict) -> None:
    # Given an operation that is still running when a second request with the same key arrives
    caller = authenticate(f"Bearer {TEST_KEY}", {key_hash(TEST_KEY)})
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def slow_operation(_claim: IdempotencyClaim | None) -> OperationResult:
        runs.append(1)
        started.set()
        release.wait(timeout=10)
        return OperationResult({"id": "obj_1"})

    def request() -> Any:
        return run_idempotently(
            IdempotentRequest("same-key", caller, "POST /x", {"a": "1"}),
            IdempotencyRecordStore(service_env["TABLE_NAME"]),
            slow_operation,
            now_ms=int(time.time() * 1000),
        )

    thread = threading.Thread(target=request)
    thread.start()
    assert started.wait(timeout=10)

    # When the second request comes in meanwhile
    try:
        with pytest.raises(IdempotencyKeyInUseError) as raised:
            request()
    finally:
        release.set()
        thread.join()

    # Then it is told to retry (409), and the operation ran once; the retry then gets the replay
    assert raised.value.http_status == 409
    assert runs == [1]
    replay = request()
    assert replay.replayed is True and replay.body == {"id": "obj_1"}
    assert runs == [1]


def test_a_record_written_by_powertools_idempotency_utility_is_replayed(service_env: dict) -> None:
    # Given a create whose record was written by Powertools' idempotency utility (as the service did before it owned
    # its records), through the utility's public API, with the scope, payload and sealing the service used
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer

    from portal_sessions.domain.sealing import seal

    caller = authenticate(f"Bearer {TEST_KEY}", {key_hash(TEST_KEY)})
    params = {"customer": "cus_1", "return_url": "https://example.com"}
    stored_body = {"id": "bps_Before", "object": "billing_portal.session"}

    class Sealed(BaseIdempotencySerializer):
        def to_dict(self, data: Any) -> dict[str, Any]:
            return {"sealed": seal(json.dumps(data, separators=(",", ":")), caller.sealing_key)}

        def from_dict(self, data: dict[str, Any]) -> Any:
            raise AssertionError("not read here")

    @idempotent_function(
        data_keyword_argument="record",
        persistence_store=DynamoDBPersistenceLayer(
            table_name=service_env["TABLE_NAME"], key_attr="pk", expiry_attr="purge_at"
        ),
        config=IdempotencyConfig(
            event_key_jmespath="scope", payload_validation_jmespath="request", hash_function="sha256"
        ),
        output_serializer=Sealed(),
        key_prefix="idempotency",
    )
    def before(record: dict[str, Any]) -> dict[str, Any]:
        return stored_body

    with pytest.warns(UserWarning):  # no Lambda context to bound the in-progress window with
        before(
            record={
                "scope": f"test:{caller.key_fingerprint}:old-key",
                "request": {"operation": "POST " + PATH, "params": params},
            }
        )

    # When the same request is retried with the key
    def must_not_run(_claim: IdempotencyClaim | None) -> OperationResult:
        raise AssertionError("the stored response should have been replayed")

    request = IdempotentRequest("old-key", caller, "POST " + PATH, params)
    records = IdempotencyRecordStore(service_env["TABLE_NAME"])
    replay = run_idempotently(request, records, must_not_run, now_ms=int(time.time() * 1000))

    # Then it is replayed from that record; and other parameters under the key are refused as before
    assert replay.replayed is True and replay.body == stored_body
    other = IdempotentRequest("old-key", caller, "POST " + PATH, params | {"locale": "fr"})
    with pytest.raises(IdempotencyError):
        run_idempotently(other, records, must_not_run, now_ms=int(time.time() * 1000))


def records_of(service_env: dict) -> IdempotencyRecordStore:
    return IdempotencyRecordStore(service_env["TABLE_NAME"])


def claim_of(records: IdempotencyRecordStore, key: str, *, at_ms: int, held_ms: int = 10_000) -> Claim | None:
    until = at_ms + held_ms
    held = records.claim(key, "hash", expires_at=at_ms // 1000 + 86400, now_ms=at_ms, in_progress_until_ms=until)
    return Claim(key, until) if held is None else None


def test_a_lapsed_claim_can_neither_complete_nor_release_the_claim_that_took_the_key_over(service_env: dict) -> None:
    # Given A's claim lapsed (its Lambda ran out of time, as far as the record can tell) and B took the key over
    records = records_of(service_env)
    now_ms = int(time.time() * 1000)
    first = claim_of(records, "idempotency#lapsed", at_ms=now_ms, held_ms=1)
    second = claim_of(records, "idempotency#lapsed", at_ms=now_ms + 5)
    assert first is not None and second is not None

    # When A completes late, or fails late and releases
    with pytest.raises(ConditionFailedError):
        records.complete(RecordCompletion(first, {"sealed": "A's"}, now_ms // 1000 + 86400))
    records.release(first)

    # Then the record is still B's claim, in progress, and B completes it
    table = service_env["TABLE_NAME"]
    [record] = [item for item in all_items(table) if item["pk"]["S"] == "idempotency#lapsed"]
    assert (record["status"]["S"], record["in_progress_expiration"]["N"]) == (
        "INPROGRESS",
        str(second.in_progress_until_ms),
    )
    records.complete(RecordCompletion(second, {"sealed": "B's"}, now_ms // 1000 + 86400))


def test_a_completed_record_is_not_released_by_its_own_late_failure(service_env: dict) -> None:
    # Given a claim whose operation's write landed (the record completed) though its answer was lost
    records = records_of(service_env)
    now_ms = int(time.time() * 1000)
    claim = claim_of(records, "idempotency#landed", at_ms=now_ms)
    assert claim is not None
    records.complete(RecordCompletion(claim, {"sealed": "stored"}, now_ms // 1000 + 86400))

    # When the failure is handled by releasing the claim
    records.release(claim)

    # Then the completed record stays, for the retry to replay
    held = records.claim("idempotency#landed", "hash", expires_at=0, now_ms=now_ms, in_progress_until_ms=now_ms)
    assert held is not None and held.completed and held.response == '{"sealed": "stored"}'


def test_a_session_whose_claim_was_taken_over_is_not_stored(service_env: dict) -> None:
    # Given a create's claim that lapsed and was taken over before its transaction ran
    records = records_of(service_env)
    now_ms = int(time.time() * 1000)
    lapsed = claim_of(records, "idempotency#create", at_ms=now_ms, held_ms=1)
    assert lapsed is not None and claim_of(records, "idempotency#create", at_ms=now_ms + 5) is not None
    token = new_url_token()
    session = a_session(id=session_id_for(url_token_hash(token)), purge_at=now_ms // 1000 + 86400)
    completion = RecordCompletion(lapsed, {"sealed": "late"}, now_ms // 1000 + 86400)

    # When it stores its session with the record's completion
    with pytest.raises(ClaimLostError):
        SessionStore(service_env["TABLE_NAME"]).put_new(
            NewSession(session, url_token_hash(token), completion=completion)
        )

    # Then nothing was written: no session, and the key's record is the other claim's
    assert session_items(service_env["TABLE_NAME"]) == []


def test_a_key_whose_operation_failed_is_given_back_and_its_retry_runs_the_operation(service_env: dict) -> None:
    # Given a request whose operation fails (nothing was made)
    caller = authenticate(f"Bearer {TEST_KEY}", {key_hash(TEST_KEY)})
    runs: list[int] = []

    def operation(_claim: IdempotencyClaim | None) -> OperationResult:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("the operation failed")
        return OperationResult({"id": "obj_1"})

    def request() -> Any:
        return run_idempotently(
            IdempotentRequest("failed-once", caller, "POST /x", {"a": "1"}),
            records_of(service_env),
            operation,
            now_ms=int(time.time() * 1000),
        )

    with pytest.raises(RuntimeError):
        request()

    # When it is retried at once (well within the first claim's in-progress window)
    retried = request()

    # Then the retry runs the operation (not a 409 until the claim lapses), and is what is stored
    assert runs == [1, 1] and retried.replayed is False and retried.body == {"id": "obj_1"}
    assert request().replayed is True and runs == [1, 1]


def test_a_claim_never_completed_still_expires_through_the_tables_ttl(service_env: dict) -> None:
    # Given a claim whose function stopped mid-operation: its record is neither completed nor given back
    records = records_of(service_env)
    now_ms = int(time.time() * 1000)
    assert claim_of(records, "idempotency#stranded", at_ms=now_ms) is not None

    # Then it carries its expiry, a day on, in the attribute the table's TTL deletes by
    ttl = aws_client("dynamodb").describe_time_to_live(TableName=service_env["TABLE_NAME"])["TimeToLiveDescription"]
    [record] = [item for item in all_items(service_env["TABLE_NAME"]) if item["pk"]["S"] == "idempotency#stranded"]
    assert record[ttl["AttributeName"]] == {"N": str(now_ms // 1000 + 86400)}


def test_a_record_is_kept_through_its_expiry_second_and_taken_over_after_it(service_env: dict) -> None:
    # Given a completed record whose expiry has come (TTL's deletion lags: the item may still be there)
    records = records_of(service_env)
    expiry = int(time.time()) - 60
    claimed = records.claim("idempotency#lapsing", "hash", expires_at=expiry, now_ms=expiry * 1000 - 1000,
                            in_progress_until_ms=expiry * 1000 - 999)  # fmt: skip
    assert claimed is None
    records.complete(RecordCompletion(Claim("idempotency#lapsing", expiry * 1000 - 999), {"sealed": "old"}, expiry))

    # When a request claims its key during that second, and then once the second has passed
    def claim_at(now_ms: int) -> Any:
        return records.claim("idempotency#lapsing", "hash", expires_at=expiry + 86400, now_ms=now_ms,
                             in_progress_until_ms=now_ms + 10_000)  # fmt: skip

    during, after = claim_at(expiry * 1000 + 999), claim_at(expiry * 1000 + 1000)

    # Then the record holds its key through its expiry second, and is taken over after it (as by a new key)
    assert during is not None and during.completed and during.response == '{"sealed": "old"}'
    assert after is None


def test_an_object_written_with_its_record_on_a_taken_id_fails_with_the_item_found(service_env: dict) -> None:
    # Given a configuration, and a create with a key whose new object would have the same id (another object)
    table = service_env["TABLE_NAME"]
    now_ms = int(time.time() * 1000)
    configurations = ConfigurationStore(table)
    first = default_configuration(False, now_ms // 1000) | {"id": "bpc_Taken", "is_default": False}
    configurations.put_new(first)
    claim = claim_of(records_of(service_env), "idempotency#taken", at_ms=now_ms)
    assert claim is not None

    # When it is written with its record's completion, in one transaction
    completion = RecordCompletion(claim, {"sealed": "x"}, now_ms // 1000 + 86400)
    with pytest.raises(ConditionFailedError) as failed:
        configurations.put_new(first | {"metadata": {"other": "1"}}, completion)

    # Then it fails on the object found (not as a lost claim), and neither it nor the record was written
    assert failed.value.item is not None and json.loads(failed.value.item["body"]["S"]) == first
    [record] = [item for item in all_items(table) if item["pk"]["S"] == "idempotency#taken"]
    assert record["status"]["S"] == "INPROGRESS"
