"""The DynamoDB client and what every repository of the package shares: one table, its calls' failures turned into
domain errors, and the newest-first paging of the list index.

The list index (`ListKeys`) holds keys and the few attributes list filters test, never an item's body: a function
that may query it learns which items exist, and reads back by key only the kinds its role lets it read. A stack still
upgrading to it reads the index before it (`ByList`, whole items projected), named by `LIST_INDEX`."""

from __future__ import annotations

import os
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..runtime.errors import (
    ConditionFailedError,
    ConfigurationError,
    InvalidRequestError,
    RateLimitError,
    ServiceUnavailableError,
    TransactionConditionFailedError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

LIST_INDEX = "ListKeys"
LEGACY_LIST_INDEX = "ByList"  # upgrade steps 1-5 (README, "Upgrading the table's indexes")
BATCH_GET_LIMIT = 100  # BatchGetItem's maximum
MAX_ITEMS_READ = 500  # items one list request may read, whatever its filters match
FILTERED_PAGE_ITEMS = 100  # items read per query when a filter may drop most of them
THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# A cancelled transaction's reason codes, as the error code a single call would have had.
_CANCELLATION_CODES = {
    "ValidationError": "ValidationException",
    "ThrottlingError": "ThrottlingException",
    "ProvisionedThroughputExceeded": "ProvisionedThroughputExceededException",
    "RequestLimitExceeded": "RequestLimitExceeded",
}


@cache
def dynamodb_client() -> DynamoDBClient:
    """One client per execution environment; endpoint and region come from the standard AWS settings."""
    import boto3  # deferred: the cleanup and redirect paths import this module before they need a client

    # At most 3 attempts of at most 3 s each: a failing DynamoDB is reported before the function's 15 s timeout.
    # No client-side parameter validation: every request is built here, not from input, DynamoDB checks it anyway,
    # and validating costs a warm request about a tenth of its time.
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=1,
        read_timeout=2,
        parameter_validation=False,
    )
    return boto3.client("dynamodb", config=config)


def clear_client_cache() -> None:
    """Forget the cached client: the next `dynamodb_client()` is built from the settings in force then (tests: a new
    mock of AWS, or another engine's endpoint)."""
    dynamodb_client.cache_clear()


class Table:
    """One DynamoDB table; `client` is the shared cached client unless one is given (tests, tools)."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client
        self.list_index = list_index_in_use()

    @property
    def client(self) -> DynamoDBClient:
        return self._client if self._client is not None else dynamodb_client()

    def call(self, operation: str, **arguments: Any) -> Any:
        """One DynamoDB call on this table (see `request`)."""
        return self.request(operation, TableName=self.table_name, **arguments)

    def request(self, operation: str, **arguments: Any) -> Any:
        """One DynamoDB call, its failures turned into domain errors (after botocore's own retries)."""
        try:
            return getattr(self.client, operation)(**arguments)
        except BotoCoreError:
            raise ServiceUnavailableError("The session store is unavailable right now. Please retry shortly.") from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailedError(exc.response.get("Item")) from None  # type: ignore[arg-type]
            if code == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                failed = {
                    position: reason.get("Item")
                    for position, reason in enumerate(reasons)
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if failed:
                    raise TransactionConditionFailedError(failed) from None  # type: ignore[arg-type]
                # An item's reason says what a single call would have answered
                code = next(
                    (_CANCELLATION_CODES[r["Code"]] for r in reasons if r.get("Code") in _CANCELLATION_CODES), code
                )
            if code in THROTTLING_CODES:
                raise RateLimitError(
                    "Too many requests hit the API too quickly. Please retry with exponential backoff."
                ) from None
            if code == "ValidationException":  # this request can never be stored: a retry would fail the same way
                raise InvalidRequestError("This request has a value the session store cannot hold.") from None
            raise ServiceUnavailableError("The session store is unavailable right now. Please retry shortly.") from None

    def list_items(
        self, list_key: str, *, limit: int, after: str | None, before: str | None, **equals: bool | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Items of one list, newest first, after or before a cursor; and whether more exist.

        The list index gives the page's keys; the items are read from the table by key after."""
        condition, values = newest_first_condition("list_key", list_key, after=after, before=before)
        filters = []
        for name, wanted in equals.items():
            if wanted is not None:
                filters.append(f"{name} = :{name}")
                values[f":{name}"] = {"BOOL": wanted}
        query: dict[str, Any] = {
            "IndexName": self.list_index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": before is not None,  # towards the cursor's far side
            "ProjectionExpression": "pk",
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        found: list[dict[str, Any]] = []
        read = 0
        more = False
        # Filters apply after DynamoDB's Limit (items read, not items matched): read on until one spare match, but
        # never more than MAX_ITEMS_READ items in one request. Past that the page is short, and has_more says so.
        while len(found) <= limit and read < MAX_ITEMS_READ:
            missing = limit + 1 - len(found)
            query["Limit"] = min(max(missing, FILTERED_PAGE_ITEMS) if filters else missing, MAX_ITEMS_READ - read)
            response = self.call("query", **query)
            read += response.get("ScannedCount", query["Limit"])
            found.extend(response.get("Items", []))
            more = "LastEvaluatedKey" in response
            if not more:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        page = found[:limit]
        if before is not None:
            page.reverse()
        return self.items_in_order([item["pk"] for item in page]), len(found) > limit or more

    def items_in_order(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The table's items for these partition keys, in their order; an item gone meanwhile is left out."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            found |= self.items_by_key([{"pk": key} for key in keys[start : start + BATCH_GET_LIMIT]])
        return [found[key["S"]] for key in keys if key["S"] in found]

    def items_by_key(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The table's items for these keys (at most 100), by pk; keys of items gone meanwhile are left out."""
        found: dict[str, dict[str, Any]] = {}
        wanted: dict[str, Any] = {"Keys": keys, "ConsistentRead": True}
        for attempt in range(5):
            if not wanted["Keys"]:
                break
            response = self.request("batch_get_item", RequestItems={self.table_name: wanted})
            found.update({item["pk"]["S"]: item for item in response.get("Responses", {}).get(self.table_name, [])})
            wanted = response.get("UnprocessedKeys", {}).get(self.table_name, {"Keys": []})
            if wanted["Keys"]:
                time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise ServiceUnavailableError("The session store is unavailable right now. Please retry shortly.")
        return found


def list_index_in_use() -> str:
    """The list index this stack's table has: `LIST_INDEX` (the template sets it by upgrade step), the final one
    when unset (a new stack, tests, the local runner)."""
    name = os.environ.get("LIST_INDEX", LIST_INDEX)
    if name not in (LIST_INDEX, LEGACY_LIST_INDEX):
        raise ConfigurationError(f"LIST_INDEX must be {LIST_INDEX} or {LEGACY_LIST_INDEX}, not {name!r}")
    return name


def newest_first_condition(
    key_name: str, key: str, *, after: str | None, before: str | None
) -> tuple[str, dict[str, Any]]:
    """A list index's key condition: one list, past a cursor on its `list_sort` (older after, newer before)."""
    values: dict[str, Any] = {":list": {"S": key}}
    condition = f"{key_name} = :list"
    if after is not None:
        condition += " AND list_sort < :cursor"
        values[":cursor"] = {"S": after}
    elif before is not None:
        condition += " AND list_sort > :cursor"
        values[":cursor"] = {"S": before}
    return condition, values
