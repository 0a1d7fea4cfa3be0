"""Fixtures of the IAM policy tests (test_permissions.py, test_webhook_permissions.py): each DynamoDB call a
function makes, recorded at botocore's before-parameter-build hook as (action, resource, leading key)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from portal_sessions.auth import ManagedKey, key_hash
from portal_sessions.store import ApiKeyStore, dynamodb_client

TABLE = "table"
TRANSACTION_ITEM_ACTIONS = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem",
                            "Delete": "DeleteItem"}  # fmt: skip


@dataclass(frozen=True)
class Call:
    action: str
    resource: str  # "table", or "table/index/<name>"
    leading_key: str | None  # the item's pk; None for a Query (read through an index)


def _key_of(request: dict[str, Any]) -> str:
    return str((request.get("Key") or request.get("Item"))["pk"]["S"])


@pytest.fixture
def calls(service_env: dict) -> Iterator[set[Call]]:
    made: set[Call] = set()

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                for kind, request in item.items():
                    made.add(Call(TRANSACTION_ITEM_ACTIONS[kind], TABLE, _key_of(request)))
        elif model.name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    for inner in request.values():
                        made.add(Call("BatchWriteItem", TABLE, _key_of(inner)))
        elif model.name == "Query":
            index = params.get("IndexName")
            made.add(Call("Query", f"{TABLE}/index/{index}" if index else TABLE, None))
        else:
            made.add(Call(model.name, TABLE, _key_of(params)))

    dynamodb_client().meta.events.register("before-parameter-build.dynamodb.*", record)
    yield made
    dynamodb_client().meta.events.unregister("before-parameter-build.dynamodb.*", record)


@pytest.fixture
def managed_key(service_env: dict) -> str:
    """A key made by the admin command: authenticating it reads its apikey# item."""
    secret = "sk_test_ManagedPermissionsKey0000000001"
    key = ManagedKey(key_id="key_perm", name="perm", livemode=False, restricted=False, created=1, masked="sk_test_…")
    ApiKeyStore(service_env["TABLE_NAME"], boto3.client("dynamodb")).put_new(key, key_hash(secret))  # not recorded
    return secret
