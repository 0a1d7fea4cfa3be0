"""DynamoDB storage of sessions: the only module that talks to boto3.

One item per session, keyed by the SHA-256 of its URL token, so the redirect needs one UpdateItem.
`purge_at` is the table's TTL attribute; `purge_bucket` (the hour of `purge_at`) feeds a sparse index
that lets cleanup read only expired items instead of scanning the table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import RateLimitError, ServiceUnavailableError
from .session import PortalSession

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

PURGE_INDEX = "ByPurgeBucket"
BUCKET_SECONDS = 3600
BATCH_LIMIT = 25  # BatchWriteItem's maximum
_TOKEN_PREFIX = "token#"
_WATERMARK_KEY = "meta#cleanup-watermark"
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


class SessionConflictError(Exception):
    """An item with this key already exists (a token collision: practically impossible, never overwritten)."""


@dataclass(frozen=True)
class VisitResult:
    session: PortalSession | None
    first_visit: bool = False
    expired: bool = False


@cache
def dynamodb_client() -> DynamoDBClient:
    """One client per execution environment; endpoint and region come from the standard AWS settings."""
    import boto3  # deferred: the cleanup and redirect paths import this module before they need a client

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
    return boto3.client("dynamodb", config=config)


def purge_bucket(purge_at: int) -> int:
    return purge_at // BUCKET_SECONDS


def _dependency_error(exc: Exception) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if code in _THROTTLED:
        return RateLimitError("Too many requests hit the API too quickly. Please retry with exponential backoff.")
    return ServiceUnavailableError("The session store is unavailable right now. Please retry shortly.")


class SessionStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        return self._client if self._client is not None else dynamodb_client()

    def put_new(self, session: PortalSession, token_hash: str) -> None:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_to_item(session, token_hash),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise SessionConflictError from None
            raise _dependency_error(exc) from None
        except BotoCoreError as exc:
            raise _dependency_error(exc) from None

    def find(self, token_hash: str) -> PortalSession | None:
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key={"pk": {"S": _TOKEN_PREFIX + token_hash}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise _dependency_error(exc) from None
        item = response.get("Item")
        return _from_item(item) if item else None

    def record_visit(self, token_hash: str, now: int, session_ttl_seconds: int) -> VisitResult:
        """Mark the first visit and extend the lifetime, in one conditional UpdateItem.

        When the condition fails DynamoDB returns the old item, which tells a revisit, an expired session
        and an unknown token apart without a second call.
        """
        expires_at = now + session_ttl_seconds
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": _TOKEN_PREFIX + token_hash}},
                UpdateExpression="SET visited_at = :now, expires_at = :exp, purge_at = :exp, purge_bucket = :bucket",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(visited_at) AND expires_at > :now",
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":exp": {"N": str(expires_at)},
                    ":bucket": {"N": str(purge_bucket(expires_at))},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _dependency_error(exc) from None
            old_item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            if not old_item:
                return VisitResult(session=None)
            session = _from_item(old_item)
            return VisitResult(session=session, expired=session.is_expired(now))
        except BotoCoreError as exc:
            raise _dependency_error(exc) from None
        return VisitResult(session=_from_item(response["Attributes"]), first_visit=True)

    # Cleanup

    def expired_keys(self, bucket: int, now: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of keys of the items in one purge bucket whose purge time has passed."""
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": PURGE_INDEX,
            "KeyConditionExpression": "purge_bucket = :bucket AND purge_at <= :now",
            "ExpressionAttributeValues": {":bucket": {"N": str(bucket)}, ":now": {"N": str(now)}},
            "ProjectionExpression": "pk",
        }
        while True:
            try:
                response = self.client.query(**query)
            except (ClientError, BotoCoreError) as exc:
                raise _dependency_error(exc) from None
            yield [{"pk": item["pk"]} for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_keys(self, keys: list[dict[str, Any]], max_attempts: int = 5) -> int:
        """Delete in batches of 25, retrying unprocessed items with backoff; returns how many were sent."""
        for start in range(0, len(keys), BATCH_LIMIT):
            requests: list[Any] = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_LIMIT]]
            for attempt in range(max_attempts):
                try:
                    response = self.client.batch_write_item(RequestItems={self.table_name: requests})
                except (ClientError, BotoCoreError) as exc:
                    raise _dependency_error(exc) from None
                requests = response.get("UnprocessedItems", {}).get(self.table_name, [])
                if not requests:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise ServiceUnavailableError(
                    f"{len(requests)} deletions stayed unprocessed after {max_attempts} tries"
                )
        return len(keys)

    def cleanup_watermark(self) -> int | None:
        """The oldest purge bucket that may still hold items, as far as earlier cleanups know."""
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key={"pk": {"S": _WATERMARK_KEY}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise _dependency_error(exc) from None
        item = response.get("Item")
        return int(item["bucket"]["N"]) if item else None

    def advance_cleanup_watermark(self, bucket: int) -> None:
        """Move the watermark forward only, so concurrent or late runs can never move it back."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": _WATERMARK_KEY}},
                UpdateExpression="SET #bucket = :bucket",
                ConditionExpression="attribute_not_exists(#bucket) OR #bucket < :bucket",
                ExpressionAttributeNames={"#bucket": "bucket"},
                ExpressionAttributeValues={":bucket": {"N": str(bucket)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise _dependency_error(exc) from None
        except BotoCoreError as exc:
            raise _dependency_error(exc) from None


def _to_item(session: PortalSession, token_hash: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": _TOKEN_PREFIX + token_hash},
        "session_id": {"S": session.id},
        "livemode": {"BOOL": session.livemode},
        "configuration": {"S": session.configuration},
        "created": {"N": str(session.created)},
        "expires_at": {"N": str(session.expires_at)},
        "purge_at": {"N": str(session.expires_at)},
        "purge_bucket": {"N": str(purge_bucket(session.expires_at))},
    }
    optional = {
        "customer": session.customer,
        "customer_account": session.customer_account,
        "locale": session.locale,
        "on_behalf_of": session.on_behalf_of,
        "return_url": session.return_url,
        "flow": None if session.flow is None else json.dumps(session.flow, separators=(",", ":")),
    }
    item.update({name: {"S": value} for name, value in optional.items() if value is not None})
    if session.visited_at is not None:
        item["visited_at"] = {"N": str(session.visited_at)}
    return item


def _from_item(item: dict[str, Any]) -> PortalSession:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    flow = text("flow")
    return PortalSession(
        id=item["session_id"]["S"],
        livemode=item["livemode"]["BOOL"],
        customer=text("customer"),
        customer_account=text("customer_account"),
        configuration=item["configuration"]["S"],
        flow=None if flow is None else json.loads(flow),
        locale=text("locale"),
        on_behalf_of=text("on_behalf_of"),
        return_url=text("return_url"),
        created=int(item["created"]["N"]),
        expires_at=int(item["expires_at"]["N"]),
        visited_at=int(item["visited_at"]["N"]) if "visited_at" in item else None,
    )
