"""DynamoDB storage of portal configurations: one item per configuration keyed by its id, listed newest first
through the list index (keys and the `active`/`is_default` filters), read back by key. A new session's transaction
checks its configuration's item (see sessions.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .idempotency import RecordCompletion, put_new_item
from .items import (
    configuration_from_item,
    configuration_item,
    configuration_key,
    configuration_list_key,
    configuration_list_sort,
    item_version,
)
from .table import Table


@dataclass(frozen=True)
class ConfigurationRequirement:
    """What a new session needs of its configuration, checked in the same transaction that stores it."""

    configuration_id: str
    livemode: bool
    feature: str | None  # a feature the session's flow needs enabled


@dataclass(frozen=True)
class StoredConfiguration:
    configuration: dict[str, Any]
    version: int

    @property
    def list_sort(self) -> str:
        return configuration_list_sort(self.configuration)


class ConfigurationStore(Table):
    # (table, livemode) of the default configurations this execution environment has seen exist. That holds for good:
    # a default configuration is never deleted or deactivated (update refuses `active=false` for it), so a create
    # that needs nothing else from it stores its session with a PutItem, not a transaction that checks it.
    _defaults_seen: ClassVar[set[tuple[str, bool]]] = set()

    def default_known(self, livemode: bool) -> bool:
        """Whether the mode's default configuration is known to exist."""
        return (self.table_name, livemode) in self._defaults_seen

    def remember_default(self, livemode: bool) -> None:
        self._defaults_seen.add((self.table_name, livemode))

    @classmethod
    def forget_defaults(cls) -> None:
        """For a table made anew under the same name (tests): its default configurations exist no more."""
        cls._defaults_seen.clear()

    def get(self, configuration_id: str) -> StoredConfiguration | None:
        response = self.call("get_item", Key=configuration_key(configuration_id), ConsistentRead=True)
        item = response.get("Item")
        return StoredConfiguration(configuration_from_item(item), item_version(item)) if item else None

    def put_new(self, configuration: dict[str, Any], completion: RecordCompletion | None = None) -> None:
        """Store a new configuration, completing its create's idempotency record in the same write if given;
        ConditionFailedError if its id exists, ClaimLostError if the record's claim was lost (see put_new_item)."""
        put_new_item(self, configuration_item(configuration, version=1), completion, configuration["id"])

    def replace(self, configuration: dict[str, Any], expected_version: int) -> None:
        """Write an updated configuration if nobody else did since it was read (else ConditionFailedError)."""
        self.call(
            "put_item",
            Item=configuration_item(configuration, version=expected_version + 1),
            ConditionExpression="attribute_exists(pk) AND version = :expected",
            ExpressionAttributeValues={":expected": {"N": str(expected_version)}},
        )

    def list_page(
        self,
        livemode: bool,
        *,
        limit: int,
        after: str | None = None,
        before: str | None = None,
        active: bool | None = None,
        is_default: bool | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first: `limit` configurations older than `after` or newer than `before`, and whether more exist."""
        items, has_more = self.list_items(
            configuration_list_key(livemode),
            limit=limit,
            after=after,
            before=before,
            active=active,
            is_default=is_default,
        )
        return [configuration_from_item(item) for item in items], has_more
