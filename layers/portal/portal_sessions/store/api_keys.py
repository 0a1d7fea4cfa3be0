"""DynamoDB storage of the API keys made with the admin command (portal_admin): by the SHA-256 of the key, listed
newest first through the list index, read back by key; the table never holds a key itself."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

from ..domain.auth import ManagedKey
from .items import list_sort_of
from .table import Table

_API_KEY_PREFIX = "apikey#"
_API_KEYS_LIST = "apikeys"


class ApiKeyStore(Table):
    """Keys made with the admin command, by the SHA-256 of the key (its digest)."""

    def find(self, digest: str) -> ManagedKey | None:
        response = self.call("get_item", Key={"pk": {"S": _API_KEY_PREFIX + digest}}, ConsistentRead=True)
        item = response.get("Item")
        return _managed_key_from_item(item) if item else None

    def put_new(self, key: ManagedKey, digest: str) -> None:
        item = {
            "pk": {"S": _API_KEY_PREFIX + digest},
            "list_key": {"S": _API_KEYS_LIST},
            "list_sort": {"S": list_sort_of(key.created, key.key_id)},
            "body": {"S": json.dumps(asdict(key))},
        }
        self.call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")

    def all(self) -> list[tuple[str, ManagedKey]]:
        """Every managed key with its digest, newest first."""
        keys: list[tuple[str, ManagedKey]] = []
        after = None
        while True:
            items, has_more = self.list_items(_API_KEYS_LIST, limit=100, after=after, before=None)
            keys.extend((item["pk"]["S"].removeprefix(_API_KEY_PREFIX), _managed_key_from_item(item)) for item in items)
            if not has_more:
                return keys
            after = items[-1]["list_sort"]["S"]

    def revoke(self, digest: str, key: ManagedKey, now: int) -> None:
        """Mark the key revoked; ConditionFailedError if no key has this digest (an update never creates one)."""
        revoked = replace(key, revoked_at=now)
        self.call(
            "update_item",
            Key={"pk": {"S": _API_KEY_PREFIX + digest}},
            UpdateExpression="SET body = :body",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":body": {"S": json.dumps(asdict(revoked))}},
        )


def _managed_key_from_item(item: dict[str, Any]) -> ManagedKey:
    return ManagedKey(**json.loads(item["body"]["S"]))
