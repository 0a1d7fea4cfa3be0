"""DynamoDB calls per request, counted with botocore's event hooks: exact numbers, so they are asserted."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import configurations_handler
import create_session_handler
import pytest
import redirect_handler
import sessions_handler

from portal_sessions.domain.configuration import default_configuration
from portal_sessions.runtime.parameter_providers import clear_provider_cache, ssm_parameters
from portal_sessions.store.configurations import ConfigurationStore
from portal_sessions.store.table import FILTERED_PAGE_ITEMS, MAX_ITEMS_READ, dynamodb_client
from tests.support.events import FakeContext, http_event, json_body
from tests.support.settings import TEST_KEY

FORM = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Bearer {TEST_KEY}"}
BODY = "customer=cus_1&return_url=https://example.com"


@pytest.fixture
def calls(service_env: dict) -> Iterator[Counter[str]]:
    counted: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counted[model.name] += 1

    dynamodb_client().meta.events.register("before-call.dynamodb.*", count)
    yield counted
    dynamodb_client().meta.events.unregister("before-call.dynamodb.*", count)


def create(body_extra: str = "", **headers: str) -> dict[str, Any]:
    event = http_event("POST", "/v1/billing_portal/sessions", headers={**FORM, **headers}, body=BODY + body_extra)
    return json_body(create_session_handler.lambda_handler(event, FakeContext()))


def test_create_is_one_write(calls: Counter[str]) -> None:
    # Given the mode's default configuration exists (it is made on first need)
    create()
    calls.clear()

    # When a session is created
    create()

    # Then one call stored it: a default configuration, once seen, is known to stay (it cannot be deactivated)
    assert calls == Counter({"PutItem": 1})


def test_create_with_a_configuration_or_a_flow_is_one_transactional_write(calls: Counter[str]) -> None:
    create()
    configuration = json_body(
        configurations_handler.lambda_handler(
            http_event("POST", "/v1/billing_portal/configurations", headers=FORM,
                       body="features[payment_method_update][enabled]=true"),
            FakeContext(),
        )
    )  # fmt: skip
    calls.clear()

    create(body_extra=f"&configuration={configuration['id']}")
    create(body_extra="&flow_data[type]=payment_method_update")

    # Then each call both checked the configuration (active, the flow's feature on) and stored the session
    assert calls == Counter({"TransactWriteItems": 2})


def test_create_with_an_idempotency_key_is_two_calls(calls: Counter[str]) -> None:
    create()
    calls.clear()

    created = create(**{"idempotency-key": "round-trips"})

    # The idempotency claim (a conditional PutItem), then one transaction that checks the configuration,
    # stores the session and completes the record
    assert calls == Counter({"PutItem": 1, "TransactWriteItems": 1})
    calls.clear()
    assert create(**{"idempotency-key": "round-trips"}) == created  # the record was completed with the response
    assert calls == Counter({"PutItem": 1})


def test_create_with_an_idempotency_key_and_an_expanded_configuration_is_three_calls(calls: Counter[str]) -> None:
    create()
    calls.clear()

    create(**{"idempotency-key": "expanded"}, body_extra="&expand[]=configuration")

    # The configuration is read to be shown; the session and the record's completion are still one transaction
    assert calls == Counter({"PutItem": 1, "GetItem": 1, "TransactWriteItems": 1})


def test_an_expiry_with_an_idempotency_key_is_completed_by_powertools(calls: Counter[str]) -> None:
    session = create()
    calls.clear()

    event = http_event(
        "POST", f"/v1/billing_portal/sessions/{session['id']}/expire",
        headers={**FORM, "idempotency-key": "expire-once"}, body="",
    )  # fmt: skip
    assert sessions_handler.lambda_handler(event, FakeContext())["statusCode"] == 200

    # The in-progress record, the session found by id and expired, and the record's completion (UpdateItem)
    assert calls["PutItem"] == 1 and calls["UpdateItem"] == 2


def test_a_replay_is_one_call(calls: Counter[str]) -> None:
    create(**{"idempotency-key": "replayed"})
    calls.clear()

    create(**{"idempotency-key": "replayed"})

    # The conditional PutItem fails and returns the stored record with it
    assert calls == Counter({"PutItem": 1})


def test_a_visit_is_one_update(calls: Counter[str]) -> None:
    url = create()["url"]
    calls.clear()

    response = redirect_handler.lambda_handler(http_event("GET", urlsplit(url).path), FakeContext())

    assert response["statusCode"] == 302
    assert calls == Counter({"UpdateItem": 1})


def a_configuration_with_a_business_profile() -> str:
    body = "business_profile[headline]=Acme&features[invoice_history][enabled]=true"
    event = http_event("POST", "/v1/billing_portal/configurations", headers=FORM, body=body)
    configuration_id: str = json_body(configurations_handler.lambda_handler(event, FakeContext()))["id"]
    return configuration_id


def an_expired_session_path(configuration: str) -> str:
    session = create(body_extra=f"&configuration={configuration}&locale=fr")
    event = http_event("POST", f"/v1/billing_portal/sessions/{session['id']}/expire", headers=FORM, body="")
    assert sessions_handler.lambda_handler(event, FakeContext())["statusCode"] == 200
    return urlsplit(session["url"]).path


def test_a_visit_on_a_configuration_with_a_business_profile_is_still_one_update(calls: Counter[str]) -> None:
    url = create(body_extra=f"&configuration={a_configuration_with_a_business_profile()}")["url"]
    calls.clear()

    response = redirect_handler.lambda_handler(http_event("GET", urlsplit(url).path), FakeContext())

    assert response["statusCode"] == 302
    assert calls == Counter({"UpdateItem": 1})  # the business profile is read for the expired page only


def test_an_expired_visit_is_the_update_and_one_read_of_the_configuration(calls: Counter[str]) -> None:
    path = an_expired_session_path(a_configuration_with_a_business_profile())
    calls.clear()

    response = redirect_handler.lambda_handler(http_event("GET", path), FakeContext())

    assert response["statusCode"] == 410 and "Acme" in response["body"]
    assert calls == Counter({"UpdateItem": 1, "GetItem": 1})


def test_a_head_of_an_expired_link_reads_no_configuration(calls: Counter[str]) -> None:
    path = an_expired_session_path(a_configuration_with_a_business_profile())
    calls.clear()

    response = redirect_handler.lambda_handler(http_event("HEAD", path), FakeContext())

    assert response["statusCode"] == 410
    assert calls == Counter({"GetItem": 1})  # the session's own, by its key


def test_retrieving_a_session_is_one_get_by_its_key(calls: Counter[str]) -> None:
    session_id = create()["id"]
    calls.clear()

    event = http_event("GET", f"/v1/billing_portal/sessions/{session_id}", headers=FORM)
    assert sessions_handler.lambda_handler(event, FakeContext())["statusCode"] == 200

    assert calls == Counter({"GetItem": 1})  # the id is the key's hash in base62: no index


def test_listing_sessions_is_a_keys_only_query_then_one_batch_read(calls: Counter[str]) -> None:
    create()
    create()
    calls.clear()

    event = http_event("GET", "/v1/billing_portal/sessions", headers=FORM)
    event["rawQueryString"] = "customer=cus_1"
    response = sessions_handler.lambda_handler(event, FakeContext())

    assert response["statusCode"] == 200 and len(json.loads(response["body"])["data"]) == 2
    assert calls == Counter({"Query": 1, "BatchGetItem": 1})  # a visit writes no list index: it holds keys only


def test_listing_configurations_is_a_query_of_keys_then_one_batch_read(calls: Counter[str]) -> None:
    create()  # the mode's default configuration
    calls.clear()

    event = http_event("GET", "/v1/billing_portal/configurations", headers=FORM)
    response = configurations_handler.lambda_handler(event, FakeContext())

    assert response["statusCode"] == 200 and len(json.loads(response["body"])["data"]) == 1
    # the list index shows keys only: the page's items are read by key, in one call
    assert (calls["Query"], calls["BatchGetItem"]) == (1, 1)


def test_retrieving_a_configuration_is_one_read(calls: Counter[str]) -> None:
    create()
    calls.clear()

    event = http_event("GET", "/v1/billing_portal/configurations/bpc_DefaultTestConfiguration", headers=FORM)
    assert configurations_handler.lambda_handler(event, FakeContext())["statusCode"] == 200

    assert calls == Counter({"GetItem": 1})


def test_a_filtered_configuration_list_reads_a_bounded_number_of_items(service_env: dict) -> None:
    # Given many configurations, none of which the filter matches (all active)
    store = ConfigurationStore(service_env["TABLE_NAME"])
    now = int(time.time())
    planted = MAX_ITEMS_READ + 200
    for index in range(planted):
        configuration = default_configuration(False, now - index) | {
            "id": f"bpc_Planted{index:05d}",
            "is_default": False,
        }
        store.put_new(configuration)
    read: list[int] = []

    def count(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        read.append(parsed.get("ScannedCount", 0))

    dynamodb_client().meta.events.register("after-call.dynamodb.Query", count)
    try:
        # When the inactive ones are listed, one at a time
        event = http_event("GET", "/v1/billing_portal/configurations", headers=FORM)
        event["rawQueryString"] = "active=false&limit=1"
        page = json_body(configurations_handler.lambda_handler(event, FakeContext()))
    finally:
        dynamodb_client().meta.events.unregister("after-call.dynamodb.Query", count)

    # Then the request stops after a bounded read (in a few queries), and says there may be more
    assert sum(read) <= MAX_ITEMS_READ < planted
    assert len(read) <= MAX_ITEMS_READ // FILTERED_PAGE_ITEMS
    assert page["data"] == [] and page["has_more"] is True


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("pk_test_51HxAmPlEkEy0123456789Aso0", id="publishable-prefix"),
        pytest.param("whatever-random-string-1234", id="no-prefix"),
        pytest.param("sk_test_has spaces 0123456789", id="spaces"),
        pytest.param("sk_test_ab$cd%ef0123456789", id="not-alphanumeric"),
        pytest.param("sk_test_" + "a" * 300, id="too-long"),
        pytest.param("sk_live_short", id="too-short"),
    ],
)
def test_a_malformed_api_key_is_refused_before_any_read(
    calls: Counter[str], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    # Given a flood of requests whose keys cannot be any key (and a cold cache of the operator's key digests)
    parameter_reads = count_parameter_reads(monkeypatch)

    # When one is sent
    response = create_session_handler.lambda_handler(
        http_event(
            "POST", "/v1/billing_portal/sessions", headers={**FORM, "authorization": f"Bearer {key}"}, body=BODY
        ),
        FakeContext(),
    )

    # Then it is refused as Stripe refuses a wrong key, and costs neither an SSM nor a DynamoDB read
    assert response["statusCode"] == 401
    assert json_body(response)["error"]["message"].startswith("Invalid API Key provided: ")
    assert parameter_reads == [] and calls == Counter()


def test_a_well_formed_unknown_key_is_checked_against_the_digests_and_the_managed_keys(
    calls: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parameter_reads = count_parameter_reads(monkeypatch)

    response = create_session_handler.lambda_handler(
        http_event("POST", "/v1/billing_portal/sessions", body=BODY,
                   headers={**FORM, "authorization": "Bearer sk_test_WellFormedButUnknown000001"}),
        FakeContext(),
    )  # fmt: skip

    assert response["statusCode"] == 401
    assert len(parameter_reads) == 1 and calls == Counter({"GetItem": 1})  # the operator's digests, a managed key


def count_parameter_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each read of the key digests' SSM parameter through Powertools (cached or not), from a cold cache."""
    clear_provider_cache()
    provider = ssm_parameters()
    reads: list[str] = []
    read = provider.get

    def counted(name: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(name)
        return read(name, *args, **kwargs)

    monkeypatch.setattr(provider, "get", counted)
    return reads
