"""DynamoDB storage of sessions and configurations: the only module that talks to boto3.

Sessions: one item per session keyed by the SHA-256 of its URL token, so the redirect needs one UpdateItem; the
session's id is that hash in base62, so retrieve and expire find the item by its key too, without an index.
`purge_at` (the table's TTL attribute) is fixed at create: the latest the session or its recovery can live, plus the
retention window. No later write moves it, so a visit writes the table alone, never an index.
`purge_shard` (the hour of `purge_at` and a shard drawn from the token's hash) keys the sparse, keys-only purge index:
each hour's creates spread over `purge_shards` index keys, and cleanup reads only due items, shard by shard.
Sessions are listed per customer and per customer account through two keys-only indexes, then read by key.
Configurations: one item per configuration keyed by its id, listed newest first through the `ByList` index.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .auth import ManagedKey
from .errors import InvalidRequestError, RateLimitError, ServiceUnavailableError
from .session import PortalSession, RequestRef
from .tokens import token_hash_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

PURGE_INDEX = "ByPurgeShard"
LIST_INDEX = "ByList"
CUSTOMER_LIST_INDEX = "SessionsByCustomer"
ACCOUNT_LIST_INDEX = "SessionsByAccount"
BUCKET_SECONDS = 3600
MAX_ITEMS_READ = 500  # items one list request may read, whatever its filters match
FILTERED_PAGE_ITEMS = 100  # items read per query when a filter may drop most of them
DEFAULT_PURGE_SHARDS = 32  # 10,000 creates/s spread at about 310 writes/s per index key (see README, "Scale")
BATCH_GET_LIMIT = 100  # BatchGetItem's maximum
_TOKEN_PREFIX = "token#"
_CONFIGURATION_PREFIX = "configuration#"
_WATERMARK_KEY = "meta#cleanup-watermark"
_CLEANUP_PROGRESS_PREFIX = "meta#cleanup-bucket#"
_PROGRESS_KEPT_SECONDS = 30 * 86400
DELETE_CONCURRENCY = 10  # botocore's default connection pool size
THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})


class ConditionFailedError(Exception):
    """A conditional write found the item otherwise than required; `item` is the item as it was, if any."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


class ConfigurationCheckFailedError(Exception):
    """The configuration a session names is missing, inactive, of the other mode, or has the flow's feature off.

    (Raised for the first item of a cancelled transaction; `item` is that item as it was, if returned.)"""

    def __init__(self, item: dict[str, Any] | None = None) -> None:
        super().__init__("configuration check failed")
        self.item = item


@dataclass(frozen=True)
class ConfigurationRequirement:
    """What a new session needs of its configuration, checked in the same transaction that stores it."""

    configuration_id: str
    livemode: bool
    feature: str | None  # a feature the session's flow needs enabled


@dataclass(frozen=True)
class VisitResult:
    session: PortalSession | None
    first_visit: bool = False
    expired: bool = False


def _refused_visit(item: dict[str, Any] | None, now: int) -> VisitResult | None:
    """What a first visit's failed condition means, from the item DynamoDB returned: an unknown or purged token, a
    revisit, an expired session; None when the item could still take a first visit (its purge time refused it)."""
    if not item:
        return VisitResult(session=None)
    session = session_from_item(item)
    if session.is_purged(now):  # TTL's deletion lags: a purged session is gone, whatever is left of it
        return VisitResult(session=None)
    if session.visited_at is None and not session.is_expired(now):
        return None
    return VisitResult(session=session, expired=session.is_expired(now))


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


def purge_bucket(purge_at: int) -> int:
    return purge_at // BUCKET_SECONDS


def purge_shard_of(token_hash: str, shards: int) -> int:
    """The shard of a session's purge index key: from its token's hash, so a retry writes the same key."""
    return int(token_hash[:15], 16) % shards


def purge_shard_key(bucket: int, shard: int) -> str:
    return f"{bucket}#{shard}"


class _Table:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        return self._client if self._client is not None else dynamodb_client()

    def _call(self, operation: str, **arguments: Any) -> Any:
        """One DynamoDB call on this table (see _request)."""
        return self._request(operation, TableName=self.table_name, **arguments)

    def _request(self, operation: str, **arguments: Any) -> Any:
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
                failed = [i for i, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]
                if failed and failed[0] == 0:
                    raise ConfigurationCheckFailedError(reasons[0].get("Item")) from None  # type: ignore[arg-type]
                if failed:
                    raise ConditionFailedError(reasons[failed[0]].get("Item")) from None  # type: ignore[arg-type]
            if code in THROTTLING_CODES:
                raise RateLimitError(
                    "Too many requests hit the API too quickly. Please retry with exponential backoff."
                ) from None
            if code == "ValidationException":  # this request can never be stored: a retry would fail the same way
                raise InvalidRequestError("This request has a value the session store cannot hold.") from None
            raise ServiceUnavailableError("The session store is unavailable right now. Please retry shortly.") from None

    def _list_page(
        self, list_key: str, *, limit: int, after: str | None, before: str | None, **equals: bool | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Items of one list of the ByList index, newest first, after or before a cursor; and whether more exist."""
        values: dict[str, Any] = {":list": {"S": list_key}}
        condition = "list_key = :list"
        if after is not None:
            condition += " AND list_sort < :cursor"
            values[":cursor"] = {"S": after}
        elif before is not None:
            condition += " AND list_sort > :cursor"
            values[":cursor"] = {"S": before}
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
            response = self._call("query", **query)
            read += response.get("ScannedCount", query["Limit"])
            found.extend(response.get("Items", []))
            more = "LastEvaluatedKey" in response
            if not more:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        page = found[:limit]
        return (page[::-1] if before is not None else page), len(found) > limit or more


@dataclass(frozen=True)
class StoredSession:
    session: PortalSession
    key: dict[str, Any]  # the item's key (the token's hash), to act on a session found by id

    @property
    def list_sort(self) -> str:
        return _list_sort(self.session.created, self.session.id)


class SessionStore(_Table):
    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, *, purge_shards: int = DEFAULT_PURGE_SHARDS
    ) -> None:
        super().__init__(table_name, client)
        self.purge_shards = purge_shards

    def put_new(
        self,
        session: PortalSession,
        token_hash: str,
        requirement: ConfigurationRequirement | None = None,
        also: list[dict[str, Any]] | None = None,
        request: RequestRef | None = None,
    ) -> None:
        """Store a new session; ConditionFailedError if the key exists (never overwrite).

        The session's `purge_at` (set at create, never moved) decides its purge index key.
        With a `requirement`, one transaction also checks the configuration (ConfigurationCheckFailedError); `also`
        are more writes (TransactWriteItems items) made in that same transaction. `request` is kept on the item for
        the `created` event its stream record becomes.
        """
        put = {
            "TableName": self.table_name,
            "Item": _session_item(session, token_hash, self.purge_shards) | _request_attributes(request),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if requirement is None and not also:
            # The existing item comes back with the failure: a retry of a put that landed finds its own session.
            self._request("put_item", **put, ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return
        # As above: a retried transaction that had landed finds its own session (AWS would answer such a retry,
        # under botocore's ClientRequestToken, with success; moto does not).
        items: list[dict[str, Any]] = [{"Put": put | {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}, *(also or [])]
        if requirement is not None:
            items.insert(0, {"ConditionCheck": self._configuration_check(requirement)})
        try:
            # The token's hash names the transaction: botocore's retry of one whose answer was lost is answered
            # as it was, rather than failing on the session it stored itself.
            self._request("transact_write_items", TransactItems=items, ClientRequestToken=token_hash[:36])
        except ConfigurationCheckFailedError as failed:
            if requirement is None:  # the first item was the session's own put: its key exists
                raise ConditionFailedError(failed.item) from None
            raise

    def _configuration_check(self, requirement: ConfigurationRequirement) -> dict[str, Any]:
        condition = "attribute_exists(pk) AND active = :true AND livemode = :livemode"
        values: dict[str, Any] = {":true": {"BOOL": True}, ":livemode": {"BOOL": requirement.livemode}}
        if requirement.feature is not None:
            condition += " AND #feature = :true"
        check: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": _CONFIGURATION_PREFIX + requirement.configuration_id}},
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if requirement.feature is not None:
            check["ExpressionAttributeNames"] = {"#feature": f"feature_{requirement.feature}"}
        return check

    def find(self, token_hash: str) -> PortalSession | None:
        """The session stored under this token hash (purged or not: the caller decides with `is_purged`)."""
        response = self._call("get_item", Key={"pk": {"S": _TOKEN_PREFIX + token_hash}}, ConsistentRead=True)
        item = response.get("Item")
        return session_from_item(item) if item else None

    def record_visit(
        self,
        token_hash: str,
        now: int,
        session_ttl_seconds: int,
        retention_seconds: int,
        request: RequestRef | None = None,
    ) -> VisitResult:
        """Mark the first visit and extend the lifetime, in one conditional UpdateItem.

        When the condition fails DynamoDB returns the old item, which tells a revisit, an expired session
        and an unknown token apart without a second call. No index key or projected attribute changes: the
        visit writes the table's item alone. The session must end a retention window before its purge time
        (fixed at create); when the lifetime in force does not fit (raised since the session was made, or an
        item of the layout before, whose purge time was its link's expiry), a second UpdateItem fits the visit
        to the item seen.
        """
        expires_at = now + session_ttl_seconds
        fits = "(attribute_not_exists(purge_at) OR purge_at >= :latest)"
        try:
            return self._first_visit(
                token_hash, now, expires_at, request, fits, {":latest": {"N": str(expires_at + retention_seconds)}}
            )
        except ConditionFailedError as failed:
            refused = _refused_visit(failed.item, now)
            if refused is not None or failed.item is None:
                return refused or VisitResult(session=None)
            seen = failed.item  # unvisited and live: it failed on its purge time alone
        purge_at = None
        if "purge_shard" in seen:
            expires_at = session_from_item(seen).visit_expiry(now, session_ttl_seconds, retention_seconds)
        else:  # the layout before set the purge time at the link's expiry, and its visits moved it: so does this one
            purge_at = expires_at + retention_seconds
        try:
            return self._first_visit(
                token_hash, now, expires_at, request, "purge_at = :seen", {":seen": seen["purge_at"]}, purge_at
            )
        except ConditionFailedError as raced:  # another visit, or an erase, came between the two calls
            refused = _refused_visit(raced.item, now)
            if refused is None:
                raise ServiceUnavailableError(
                    "The session store is unavailable right now. Please retry shortly."
                ) from None
            return refused

    def _first_visit(
        self,
        token_hash: str,
        now: int,
        expires_at: int,
        request: RequestRef | None,
        condition: str,
        values: dict[str, Any],
        purge_at: int | None = None,
    ) -> VisitResult:
        update = "SET visited_at = :now, expires_at = :exp, request_id = :request"
        if purge_at is not None:
            update += ", purge_at = :purge"
            values = {**values, ":purge": {"N": str(purge_at)}}
        response = self._call(
            "update_item",
            Key={"pk": {"S": _TOKEN_PREFIX + token_hash}},
            UpdateExpression=update + " REMOVE idempotency_key",
            ConditionExpression=(
                f"attribute_exists(pk) AND attribute_not_exists(visited_at) AND expires_at > :now AND {condition}"
            ),
            ExpressionAttributeValues={
                ":now": {"N": str(now)},
                ":exp": {"N": str(expires_at)},
                ":request": _request_id_value(request),
                **values,
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return VisitResult(session=session_from_item(response["Attributes"]), first_visit=True)

    def get_by_id(self, session_id: str) -> StoredSession | None:
        """The session with this id, by its item's key (one GetItem); None for a string that is no session id."""
        token_hash = token_hash_of(session_id)
        if token_hash is None:
            return None
        key = {"pk": {"S": _TOKEN_PREFIX + token_hash}}
        item = self._call("get_item", Key=key, ConsistentRead=True).get("Item")
        return StoredSession(session_from_item(item), key) if item else None

    def list_for_owner(
        self,
        livemode: bool,
        *,
        customer: str | None = None,
        customer_account: str | None = None,
        limit: int,
        after: str | None = None,
        before: str | None = None,
    ) -> tuple[list[PortalSession], bool]:
        """One page of a customer's (or a customer account's) sessions, newest first, and whether more exist.

        The list indexes hold keys only (a visit then writes no index), so the page is read from the table after.
        """
        if customer is not None:
            index, name, owner = CUSTOMER_LIST_INDEX, "customer_list_key", _session_list_key(livemode, customer)
        elif customer_account is not None:
            index, name, owner = ACCOUNT_LIST_INDEX, "account_list_key", _account_list_key(livemode, customer_account)
        else:
            raise ValueError("a customer or a customer account is needed")
        values: dict[str, Any] = {":owner": {"S": owner}}
        condition = f"{name} = :owner"
        if after is not None:
            condition += " AND list_sort < :cursor"
            values[":cursor"] = {"S": after}
        elif before is not None:
            condition += " AND list_sort > :cursor"
            values[":cursor"] = {"S": before}
        response = self._call(
            "query",
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=before is not None,  # towards the cursor's far side
            Limit=limit + 1,  # one spare tells whether more exist
        )
        found = response.get("Items", [])
        page = found[:limit]
        if before is not None:
            page.reverse()
        items = self._items_by_key([{"pk": item["pk"]} for item in page])
        sessions = [session_from_item(items[item["pk"]["S"]]) for item in page if item["pk"]["S"] in items]
        return sessions, len(found) > limit

    def erase_owner(self, livemode: bool, *, customer: str | None = None, customer_account: str | None = None) -> int:
        """Delete every session of one customer (or customer account) now, whatever its state; how many went.

        For data-protection requests: the list index names every such session, and deleting the item removes it
        from both lists (a session with both a customer and a customer account included).
        """
        if customer is not None:
            index, name, owner = CUSTOMER_LIST_INDEX, "customer_list_key", _session_list_key(livemode, customer)
        elif customer_account is not None:
            index, name, owner = ACCOUNT_LIST_INDEX, "account_list_key", _account_list_key(livemode, customer_account)
        else:
            raise ValueError("a customer or a customer account is needed")
        query: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{name} = :owner",
            "ExpressionAttributeValues": {":owner": {"S": owner}},
        }
        erased = 0
        while True:
            response = self._call("query", **query)
            for item in response.get("Items", []):
                self._call("delete_item", Key={"pk": item["pk"]})
                erased += 1
            if "LastEvaluatedKey" not in response:
                return erased
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _items_by_key(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The table's items for these keys (at most 100), by pk; keys of items gone meanwhile are left out."""
        found: dict[str, dict[str, Any]] = {}
        wanted: dict[str, Any] = {"Keys": keys, "ConsistentRead": True}
        for attempt in range(5):
            if not wanted["Keys"]:
                break
            response = self._request("batch_get_item", RequestItems={self.table_name: wanted})
            found.update({item["pk"]["S"]: item for item in response.get("Responses", {}).get(self.table_name, [])})
            wanted = response.get("UnprocessedKeys", {}).get(self.table_name, {"Keys": []})
            if wanted["Keys"]:
                time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise ServiceUnavailableError("The session store is unavailable right now. Please retry shortly.")
        return found

    def expire(self, stored: StoredSession, now: int, request: RequestRef | None = None) -> PortalSession:
        """End a session now: its URL answers 410 from then on and it can no longer be recovered by logging in.

        A usable session ends now; a lapsed one that could still be recovered keeps its `expires_at` and loses its
        recovery. ConditionFailedError if neither (it is fully dead). `ended_at` marks the end as requested (not a
        lapse), which its stream record makes an `expired` event of. The purge time stays: the ended session is kept
        (410, shown `expired`) for the retention window.
        """
        values = {":now": {"N": str(now)}, ":request": _request_id_value(request)}
        if stored.session.is_expired(now):  # lapsed: the condition holds only while recovery is still possible
            update = "SET ended_at = :now, request_id = :request"
            condition = "attribute_exists(pk) AND expires_at <= :now AND recovery_until > :now"
        else:  # usable: the condition fails if it lapsed meanwhile (the caller reads it again)
            update = "SET expires_at = :now, ended_at = :now, request_id = :request"
            condition = "attribute_exists(pk) AND expires_at > :now"
        removed = "recovery_until"
        if request is not None and request.idempotency_key is not None:
            update += ", idempotency_key = :key"
            values[":key"] = {"S": request.idempotency_key}
        else:
            removed += ", idempotency_key"
        response = self._call(
            "update_item",
            Key=stored.key,
            UpdateExpression=f"{update} REMOVE {removed}",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return session_from_item(response["Attributes"])

    # Cleanup

    def due_keys(self, bucket: int, shard: int, now: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of keys of the items under one purge index key (bucket, shard) whose purge time has passed."""
        query: dict[str, Any] = {
            "IndexName": PURGE_INDEX,
            "KeyConditionExpression": "purge_shard = :key AND purge_at <= :now",
            "ExpressionAttributeValues": {":key": {"S": purge_shard_key(bucket, shard)}, ":now": {"N": str(now)}},
            "ProjectionExpression": "pk",
        }
        while True:
            response = self._call("query", **query)
            yield [{"pk": item["pk"]} for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_due(self, keys: list[dict[str, Any]], now: int) -> int:
        """Delete each item if it is still due (`purge_at <= now`), a few at a time; returns how many were deleted.

        The index is read eventually consistently, so the table decides: an item whose purge time moved, or that
        is gone already, is left alone. (BatchWriteItem takes no condition, hence one DeleteItem per item.)
        """

        def delete(key: dict[str, Any]) -> bool:
            try:
                self._call(
                    "delete_item",
                    Key=key,
                    ConditionExpression="purge_at <= :now",
                    ExpressionAttributeValues={":now": {"N": str(now)}},
                )
            except ConditionFailedError:
                return False
            return True

        if len(keys) <= 1:
            return sum(map(delete, keys))
        with ThreadPoolExecutor(max_workers=min(DELETE_CONCURRENCY, len(keys))) as pool:
            return sum(pool.map(delete, keys))

    def mark_shard_done(self, bucket: int, shard: int, now: int) -> None:
        """Record that one shard of a purge bucket holds nothing more (its bucket wholly in the past)."""
        self._call(
            "update_item",
            Key={"pk": {"S": _CLEANUP_PROGRESS_PREFIX + str(bucket)}},
            UpdateExpression="ADD done_shards :shard SET purge_at = :forget",
            ExpressionAttributeValues={
                ":shard": {"NS": [str(shard)]},
                ":forget": {"N": str(now + _PROGRESS_KEPT_SECONDS)},  # TTL: long after the watermark passed it
            },
        )

    def done_shards(self, buckets: list[int]) -> dict[int, set[int]]:
        """The shards recorded done, for each of these buckets that has any."""
        done: dict[int, set[int]] = {}
        for start in range(0, len(buckets), BATCH_GET_LIMIT):
            keys = [{"pk": {"S": _CLEANUP_PROGRESS_PREFIX + str(b)}} for b in buckets[start : start + BATCH_GET_LIMIT]]
            for pk, item in self._items_by_key(keys).items():
                bucket = int(pk.removeprefix(_CLEANUP_PROGRESS_PREFIX))
                done[bucket] = {int(shard) for shard in item.get("done_shards", {}).get("NS", [])}
        return done

    def cleanup_watermark(self) -> int | None:
        """The oldest purge bucket that may still hold items, as far as earlier cleanups know."""
        response = self._call("get_item", Key={"pk": {"S": _WATERMARK_KEY}}, ConsistentRead=True)
        item = response.get("Item")
        return int(item["bucket"]["N"]) if item else None

    def advance_cleanup_watermark(self, bucket: int) -> None:
        """Move the watermark forward only, so concurrent or late runs can never move it back."""
        try:
            self._call(
                "update_item",
                Key={"pk": {"S": _WATERMARK_KEY}},
                UpdateExpression="SET #bucket = :bucket",
                ConditionExpression="attribute_not_exists(#bucket) OR #bucket < :bucket",
                ExpressionAttributeNames={"#bucket": "bucket"},
                ExpressionAttributeValues={":bucket": {"N": str(bucket)}},
            )
        except ConditionFailedError:
            pass  # another run already moved it at least this far


@dataclass(frozen=True)
class StoredConfiguration:
    configuration: dict[str, Any]
    version: int

    @property
    def list_sort(self) -> str:
        return list_sort_key(self.configuration)


class ConfigurationStore(_Table):
    def get(self, configuration_id: str) -> StoredConfiguration | None:
        response = self._call(
            "get_item", Key={"pk": {"S": _CONFIGURATION_PREFIX + configuration_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return _configuration_from_item(item) if item else None

    def put_new(self, configuration: dict[str, Any]) -> None:
        """Store a new configuration; ConditionFailedError if its id exists."""
        item = _configuration_item(configuration, version=1)
        try:
            self._call(
                "put_item",
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailedError as taken:
            if taken.item != item:
                raise
            # botocore retried a put whose first attempt landed (its answer was lost): the item is this one

    def replace(self, configuration: dict[str, Any], expected_version: int) -> None:
        """Write an updated configuration if nobody else did since it was read (else ConditionFailedError)."""
        self._call(
            "put_item",
            Item=_configuration_item(configuration, version=expected_version + 1),
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
        items, has_more = self._list_page(
            _list_key(livemode), limit=limit, after=after, before=before, active=active, is_default=is_default
        )
        return [json.loads(item["body"]["S"]) for item in items], has_more


_API_KEY_PREFIX = "apikey#"
_API_KEYS_LIST = "apikeys"


class ApiKeyStore(_Table):
    """Keys made with the admin command, by the SHA-256 of the key: the table never holds a key itself."""

    def find(self, digest: str) -> ManagedKey | None:
        response = self._call("get_item", Key={"pk": {"S": _API_KEY_PREFIX + digest}}, ConsistentRead=True)
        item = response.get("Item")
        return _managed_key_from_item(item) if item else None

    def put_new(self, key: ManagedKey, digest: str) -> None:
        item = {
            "pk": {"S": _API_KEY_PREFIX + digest},
            "list_key": {"S": _API_KEYS_LIST},
            "list_sort": {"S": _list_sort(key.created, key.key_id)},
            "body": {"S": json.dumps(asdict(key))},
        }
        self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")

    def all(self) -> list[tuple[str, ManagedKey]]:
        """Every managed key with its digest, newest first."""
        keys: list[tuple[str, ManagedKey]] = []
        after = None
        while True:
            items, has_more = self._list_page(_API_KEYS_LIST, limit=100, after=after, before=None)
            keys.extend((item["pk"]["S"].removeprefix(_API_KEY_PREFIX), _managed_key_from_item(item)) for item in items)
            if not has_more:
                return keys
            after = items[-1]["list_sort"]["S"]

    def revoke(self, digest: str, key: ManagedKey, now: int) -> None:
        """Mark the key revoked; ConditionFailedError if no key has this digest (an update never creates one)."""
        revoked = replace(key, revoked_at=now)
        self._call(
            "update_item",
            Key={"pk": {"S": _API_KEY_PREFIX + digest}},
            UpdateExpression="SET body = :body",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":body": {"S": json.dumps(asdict(revoked))}},
        )


def _managed_key_from_item(item: dict[str, Any]) -> ManagedKey:
    return ManagedKey(**json.loads(item["body"]["S"]))


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def _list_key(livemode: bool) -> str:
    return "configurations#" + _mode(livemode)


def _session_list_key(livemode: bool, customer: str) -> str:
    # A digest, not the id: customer ids may be 5000 characters, index keys at most 2048 bytes.
    return f"sessions#{_mode(livemode)}#" + hashlib.sha256(customer.encode("utf-8")).hexdigest()


def _account_list_key(livemode: bool, customer_account: str) -> str:
    return f"account-sessions#{_mode(livemode)}#" + hashlib.sha256(customer_account.encode("utf-8")).hexdigest()


def _list_sort(created: int, object_id: str) -> str:
    return f"{created:012d}#{object_id}"


def list_sort_key(configuration: dict[str, Any]) -> str:
    return _list_sort(configuration["created"], configuration["id"])


def _configuration_item(configuration: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "pk": {"S": _CONFIGURATION_PREFIX + configuration["id"]},
        "list_key": {"S": _list_key(configuration["livemode"])},
        "list_sort": {"S": list_sort_key(configuration)},
        "active": {"BOOL": configuration["active"]},
        "is_default": {"BOOL": configuration["is_default"]},
        "livemode": {"BOOL": configuration["livemode"]},
        # what a new session's transaction checks, without reading the configuration
        **{f"feature_{name}": {"BOOL": feature["enabled"]} for name, feature in configuration["features"].items()},
        "version": {"N": str(version)},
        "body": {"S": json.dumps(configuration, separators=(",", ":"))},
    }


def _configuration_from_item(item: dict[str, Any]) -> StoredConfiguration:
    return StoredConfiguration(
        configuration=json.loads(item["body"]["S"]),
        version=int(item["version"]["N"]),
    )


def _session_item(session: PortalSession, token_hash: str, purge_shards: int) -> dict[str, Any]:
    if session.purge_at is None:
        raise ValueError("a stored session needs its purge time")
    bucket = purge_bucket(session.purge_at)
    item: dict[str, Any] = {
        "pk": {"S": _TOKEN_PREFIX + token_hash},
        "session_id": {"S": session.id},
        "livemode": {"BOOL": session.livemode},
        "configuration": {"S": session.configuration},
        "created": {"N": str(session.created)},
        "expires_at": {"N": str(session.expires_at)},
        "purge_at": {"N": str(session.purge_at)},
        "purge_shard": {"S": purge_shard_key(bucket, purge_shard_of(token_hash, purge_shards))},
    }
    # Listed per customer and per customer account, apart (a session with both is in both lists), newest first.
    if session.customer is not None:
        item["customer_list_key"] = {"S": _session_list_key(session.livemode, session.customer)}
    if session.customer_account is not None:
        item["account_list_key"] = {"S": _account_list_key(session.livemode, session.customer_account)}
    if session.customer is not None or session.customer_account is not None:
        item["list_sort"] = {"S": _list_sort(session.created, session.id)}
    if session.recovery_until is not None:
        item["recovery_until"] = {"N": str(session.recovery_until)}
    optional = {
        "customer": session.customer,
        "customer_account": session.customer_account,
        "locale": session.locale,
        "on_behalf_of": session.on_behalf_of,
        "return_url": session.return_url,
        "flow": None if session.flow is None else json.dumps(session.flow, separators=(",", ":")),
        "after_expiration": None
        if session.after_expiration is None
        else json.dumps(session.after_expiration, separators=(",", ":")),
    }
    item.update({name: {"S": value} for name, value in optional.items() if value is not None})
    if session.visited_at is not None:
        item["visited_at"] = {"N": str(session.visited_at)}
    return item


def _request_attributes(request: RequestRef | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if request is not None and request.id is not None:
        attributes["request_id"] = {"S": request.id}
    if request is not None and request.idempotency_key is not None:
        attributes["idempotency_key"] = {"S": request.idempotency_key}
    return attributes


def _request_id_value(request: RequestRef | None) -> dict[str, Any]:
    return {"NULL": True} if request is None or request.id is None else {"S": request.id}


def request_from_item(item: dict[str, Any]) -> RequestRef:
    """The request that last changed a session, from its item (or stream image)."""
    request_id = item.get("request_id", {}).get("S")
    return RequestRef(request_id, item.get("idempotency_key", {}).get("S"))


def is_session_item(item: dict[str, Any]) -> bool:
    return item.get("pk", {}).get("S", "").startswith(_TOKEN_PREFIX) and "session_id" in item


def session_from_item(item: dict[str, Any]) -> PortalSession:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    flow, after_expiration = text("flow"), text("after_expiration")
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
        after_expiration=None if after_expiration is None else json.loads(after_expiration),
        recovery_until=int(item["recovery_until"]["N"]) if "recovery_until" in item else None,
        purge_at=int(item["purge_at"]["N"]) if "purge_at" in item else None,
    )
