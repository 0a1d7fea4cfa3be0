"""DynamoDB storage of sessions: the repository of the API and the redirect, and the cleanup's queries.

One item per session keyed by the SHA-256 of its URL token, so the redirect needs one UpdateItem; the session's id is
that hash in base62, so retrieve and expire find the item by its key too, without an index.
`purge_at` (the table's TTL attribute) is fixed at create: the latest the session or its recovery can live, plus the
retention window. No later write moves it, so a visit writes the table alone, never an index.
`purge_shard` (the hour of `purge_at` and a shard drawn from the token's hash, see items.py) keys the sparse,
keys-only purge index: each hour's creates spread over `purge_shards` index keys, and cleanup reads only due items,
shard by shard.
Sessions are listed per customer and per customer account through two keys-only indexes, then read by key.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..domain.session import PortalSession, RequestRef
from ..domain.tokens import session_id_for, token_hash_of
from ..runtime.errors import (
    ClaimLostError,
    ConditionFailedError,
    ConfigurationCheckFailedError,
    ServiceUnavailableError,
    TransactionConditionFailedError,
)
from .configurations import ConfigurationRequirement
from .idempotency import RecordCompletion, completion_update
from .items import (
    ERASED,
    TOKEN_PREFIX,
    account_list_key,
    configuration_key,
    customer_list_key,
    list_sort_of,
    purge_shard_key,
    request_attributes,
    request_id_value,
    session_from_item,
    session_item,
    session_key,
)
from .table import BATCH_GET_LIMIT, Table, newest_first_condition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PURGE_INDEX = "ByPurgeShard"
CUSTOMER_LIST_INDEX = "SessionsByCustomer"
ACCOUNT_LIST_INDEX = "SessionsByAccount"
DEFAULT_PURGE_SHARDS = 32  # 10,000 creates/s spread at about 310 writes/s per index key (see README, "Scale")
DELETE_CONCURRENCY = 10  # botocore's default connection pool size
_WATERMARK_KEY = "meta#cleanup-watermark"
_CLEANUP_PROGRESS_PREFIX = "meta#cleanup-bucket#"
_PROGRESS_KEPT_SECONDS = 30 * 86400


@dataclass(frozen=True)
class NewSession:
    """A session to store under its token's hash, with what its write must check and complete."""

    session: PortalSession
    token_hash: str
    requirement: ConfigurationRequirement | None = None  # its configuration, checked in the same transaction
    completion: RecordCompletion | None = None  # its idempotency record's completion, in the same transaction
    request: RequestRef | None = None  # the request that made it, for its `created` event


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


@dataclass(frozen=True)
class StoredSession:
    session: PortalSession
    key: dict[str, Any]  # the item's key (the token's hash), to act on a session found by id

    @property
    def list_sort(self) -> str:
        return list_sort_of(self.session.created, self.session.id)


class SessionStore(Table):
    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, *, purge_shards: int = DEFAULT_PURGE_SHARDS
    ) -> None:
        super().__init__(table_name, client)
        self.purge_shards = purge_shards

    def put_new(self, new: NewSession) -> None:
        """Store a new session; ConditionFailedError if its key exists (never overwrite), with the item found.

        The session's `purge_at` (set at create, never moved) decides its purge index key. A `requirement` is checked
        on the configuration's item (ConfigurationCheckFailedError) and a `completion` completes an idempotency
        record, both in the same transaction. `request` is kept on the item for the `created` event its stream
        record becomes.
        """
        put = {
            "TableName": self.table_name,
            "Item": session_item(new.session, new.token_hash, self.purge_shards) | request_attributes(new.request),
            "ConditionExpression": "attribute_not_exists(pk)",
            # The existing item comes back with the failure: a retry of a put that landed finds its own session.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if new.requirement is None and new.completion is None:
            self.request("put_item", **put)
            return
        items: list[dict[str, Any]] = [{"Put": put}]
        if new.requirement is not None:
            items.append({"ConditionCheck": self._configuration_check(new.requirement)})
        if new.completion is not None:
            items.append(completion_update(self.table_name, new.completion))
        try:
            # The token's hash names the transaction: botocore's retry of one whose answer was lost is answered
            # as it was (AWS), or fails on the session it stored itself, which the caller then finds (moto).
            self.request("transact_write_items", TransactItems=items, ClientRequestToken=new.token_hash[:36])
        except TransactionConditionFailedError as failed:
            if 0 in failed.items:  # the session's own put: its key exists
                raise ConditionFailedError(failed.items[0]) from None
            if new.completion is not None and len(items) - 1 in failed.items:
                raise ClaimLostError() from None
            raise ConfigurationCheckFailedError() from None

    def _configuration_check(self, requirement: ConfigurationRequirement) -> dict[str, Any]:
        condition = "attribute_exists(pk) AND active = :true AND livemode = :livemode"
        values: dict[str, Any] = {":true": {"BOOL": True}, ":livemode": {"BOOL": requirement.livemode}}
        if requirement.feature is not None:
            condition += " AND #feature = :true"
        check: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": configuration_key(requirement.configuration_id),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if requirement.feature is not None:
            check["ExpressionAttributeNames"] = {"#feature": f"feature_{requirement.feature}"}
        return check

    def find(self, token_hash: str) -> PortalSession | None:
        """The session stored under this token hash (purged or not: the caller decides with `is_purged`)."""
        response = self.call("get_item", Key=session_key(token_hash), ConsistentRead=True)
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
        response = self.call(
            "update_item",
            Key=session_key(token_hash),
            UpdateExpression=update + " REMOVE idempotency_key",
            ConditionExpression=(
                f"attribute_exists(pk) AND attribute_not_exists(visited_at) AND expires_at > :now AND {condition}"
            ),
            ExpressionAttributeValues={
                ":now": {"N": str(now)},
                ":exp": {"N": str(expires_at)},
                ":request": request_id_value(request),
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
        key = session_key(token_hash)
        item = self.call("get_item", Key=key, ConsistentRead=True).get("Item")
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
        index, name, owner = _owner_list(livemode, customer, customer_account)
        condition, values = newest_first_condition(name, owner, after=after, before=before)
        response = self.call(
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
        items = self.items_by_key([{"pk": item["pk"]} for item in page])
        sessions = [session_from_item(items[item["pk"]["S"]]) for item in page if item["pk"]["S"] in items]
        return sessions, len(found) > limit

    def erase_owner(
        self, livemode: bool, *, customer: str | None = None, customer_account: str | None = None
    ) -> list[str]:
        """Delete every session of one customer (or customer account) now, whatever its state; the ids of those
        that went.

        For data-protection requests: the list index names every such session, and deleting the item removes it
        from both lists (a session with both a customer and a customer account included). Each is marked erased
        first, so that its deletion, which the stream carries, is no `expired` event (see eventbus).
        """
        index, name, owner = _owner_list(livemode, customer, customer_account)
        query: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{name} = :owner",
            "ExpressionAttributeValues": {":owner": {"S": owner}},
        }
        erased: list[str] = []
        while True:
            response = self.call("query", **query)
            for item in response.get("Items", []):
                try:
                    self.call("update_item", Key={"pk": item["pk"]}, UpdateExpression=f"SET {ERASED} = :true",
                              ConditionExpression="attribute_exists(pk)",
                              ExpressionAttributeValues={":true": {"BOOL": True}})  # fmt: skip
                except ConditionFailedError:
                    continue  # deleted meanwhile (TTL, the cleanup)
                self.call("delete_item", Key={"pk": item["pk"]})
                erased.append(session_id_for(item["pk"]["S"].removeprefix(TOKEN_PREFIX)))
            if "LastEvaluatedKey" not in response:
                return erased
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def expire(self, stored: StoredSession, now: int, request: RequestRef | None = None) -> PortalSession:
        """End a session now: its URL answers 410 from then on and it can no longer be recovered by logging in.

        A usable session ends now; a lapsed one that could still be recovered keeps its `expires_at` and loses its
        recovery. ConditionFailedError if neither (it is fully dead). `ended_at` marks the end as requested (not a
        lapse), which its stream record makes an `expired` event of. The purge time stays: the ended session is kept
        (410, shown `expired`) for the retention window.
        """
        values = {":now": {"N": str(now)}, ":request": request_id_value(request)}
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
        response = self.call(
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
            response = self.call("query", **query)
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
                self.call(
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
        self.call(
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
            for pk, item in self.items_by_key(keys).items():
                bucket = int(pk.removeprefix(_CLEANUP_PROGRESS_PREFIX))
                done[bucket] = {int(shard) for shard in item.get("done_shards", {}).get("NS", [])}
        return done

    def cleanup_watermark(self) -> int | None:
        """The oldest purge bucket that may still hold items, as far as earlier cleanups know."""
        response = self.call("get_item", Key={"pk": {"S": _WATERMARK_KEY}}, ConsistentRead=True)
        item = response.get("Item")
        return int(item["bucket"]["N"]) if item else None

    def advance_cleanup_watermark(self, bucket: int) -> None:
        """Move the watermark forward only, so concurrent or late runs can never move it back."""
        try:
            self.call(
                "update_item",
                Key={"pk": {"S": _WATERMARK_KEY}},
                UpdateExpression="SET #bucket = :bucket",
                ConditionExpression="attribute_not_exists(#bucket) OR #bucket < :bucket",
                ExpressionAttributeNames={"#bucket": "bucket"},
                ExpressionAttributeValues={":bucket": {"N": str(bucket)}},
            )
        except ConditionFailedError:
            pass  # another run already moved it at least this far


def _owner_list(livemode: bool, customer: str | None, customer_account: str | None) -> tuple[str, str, str]:
    """The index, its key attribute and the key of one customer's (or customer account's) sessions."""
    if customer is not None:
        return CUSTOMER_LIST_INDEX, "customer_list_key", customer_list_key(livemode, customer)
    if customer_account is not None:
        return ACCOUNT_LIST_INDEX, "account_list_key", account_list_key(livemode, customer_account)
    raise ValueError("a customer or a customer account is needed")
