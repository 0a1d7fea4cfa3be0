"""The DynamoDB client and what every repository of the package shares: one table, its calls' failures turned into
domain errors, and the newest-first paging of the `ByList` index."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..runtime.errors import (
    ConditionFailedError,
    InvalidRequestError,
    RateLimitError,
    ServiceUnavailableError,
    TransactionConditionFailedError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

LIST_INDEX = "ByList"
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
        """Items of one list of the ByList index, newest first, after or before a cursor; and whether more exist."""
        condition, values = newest_first_condition("list_key", list_key, after=after, before=before)
        filters = []
        for name, wanted in equals.items():
            if wanted is not None:
                filters.append(f"{name} = :{name}")
                values[f":{name}"] = {"BOOL": wanted}
        query: dict[str, Any] = {
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": before is not None,  # towards the cursor's far side
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
        return (page[::-1] if before is not None else page), len(found) > limit or more


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
