"""DynamoDB storage of sessions and configurations: the only module that talks to boto3.

Sessions: one item per session keyed by the SHA-256 of its URL token, so the redirect needs one UpdateItem.
`purge_at` is the table's TTL attribute; `purge_bucket` (the hour of `purge_at`) feeds a sparse index that
lets cleanup read only expired items instead of scanning the table.
Configurations: one item per configuration keyed by its id, listed newest first through the `ByList` index.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .auth import ManagedKey
from .errors import InvalidRequestError, RateLimitError, ServiceUnavailableError
from .session import PortalSession, RequestRef

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

PURGE_INDEX = "ByPurgeBucket"
LIST_INDEX = "ByList"
ID_INDEX = "BySessionId"
BUCKET_SECONDS = 3600
MAX_ITEMS_READ = 500  # items one list request may read, whatever its filters match
FILTERED_PAGE_ITEMS = 100  # items read per query when a filter may drop most of them
_TOKEN_PREFIX = "token#"
_CONFIGURATION_PREFIX = "configuration#"
_WATERMARK_KEY = "meta#cleanup-watermark"
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
    def put_new(
        self,
        session: PortalSession,
        token_hash: str,
        purge_hold: int | None = None,
        requirement: ConfigurationRequirement | None = None,
        also: list[dict[str, Any]] | None = None,
        request: RequestRef | None = None,
    ) -> None:
        """Store a new session; ConditionFailedError if the key exists (never overwrite).

        `purge_hold` keeps the item (for recovery after expiry) until then, whatever visits do to its expiry.
        With a `requirement`, one transaction also checks the configuration (ConfigurationCheckFailedError); `also`
        are more writes (TransactWriteItems items) made in that same transaction. `request` is kept on the item for
        the `created` event its stream record becomes.
        """
        put = {
            "TableName": self.table_name,
            "Item": _session_item(session, token_hash, purge_hold) | _request_attributes(request),
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
            self._request("transact_write_items", TransactItems=items)
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
        response = self._call("get_item", Key={"pk": {"S": _TOKEN_PREFIX + token_hash}}, ConsistentRead=True)
        item = response.get("Item")
        return session_from_item(item) if item else None

    def record_visit(
        self, token_hash: str, now: int, session_ttl_seconds: int, request: RequestRef | None = None
    ) -> VisitResult:
        """Mark the first visit and extend the lifetime, in one conditional UpdateItem.

        When the condition fails DynamoDB returns the old item, which tells a revisit, an expired session
        and an unknown token apart without a second call.
        """
        expires_at = now + session_ttl_seconds
        try:
            response = self._call(
                "update_item",
                Key={"pk": {"S": _TOKEN_PREFIX + token_hash}},
                UpdateExpression=(
                    "SET visited_at = :now, expires_at = :exp, purge_at = if_not_exists(purge_hold, :exp),"
                    " purge_bucket = if_not_exists(purge_hold_bucket, :bucket), request_id = :request"
                    " REMOVE idempotency_key"
                ),
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(visited_at) AND expires_at > :now",
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":exp": {"N": str(expires_at)},
                    ":bucket": {"N": str(purge_bucket(expires_at))},
                    ":request": _request_id_value(request),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailedError as failed:
            if not failed.item:
                return VisitResult(session=None)
            session = session_from_item(failed.item)
            return VisitResult(session=session, expired=session.is_expired(now))
        return VisitResult(session=session_from_item(response["Attributes"]), first_visit=True)

    def get_by_id(self, session_id: str) -> StoredSession | None:
        response = self._call(
            "query",
            IndexName=ID_INDEX,
            KeyConditionExpression="session_id = :id",
            ExpressionAttributeValues={":id": {"S": session_id}},
        )
        items = response.get("Items", [])
        return StoredSession(session_from_item(items[0]), {"pk": items[0]["pk"]}) if items else None

    def list_for_customer(
        self, livemode: bool, customer: str, *, limit: int, after: str | None = None, before: str | None = None
    ) -> tuple[list[PortalSession], bool]:
        items, has_more = self._list_page(
            _session_list_key(livemode, customer), limit=limit, after=after, before=before
        )
        return [session_from_item(item) for item in items], has_more

    def expire(self, stored: StoredSession, now: int, request: RequestRef | None = None) -> PortalSession:
        """End a session now: its URL answers 410 from then on and it can no longer be recovered by logging in.

        A usable session ends now; a lapsed one that could still be recovered keeps its `expires_at` and loses its
        recovery. ConditionFailedError if neither (it is fully dead). `ended_at` marks the end as requested (not a
        lapse), which its stream record makes an `expired` event of.
        """
        values = {
            ":now": {"N": str(now)},
            ":bucket": {"N": str(purge_bucket(now))},
            ":request": _request_id_value(request),
        }
        if stored.session.is_expired(now):  # lapsed: the condition holds only while recovery is still possible
            update = "SET purge_at = :now, purge_bucket = :bucket, ended_at = :now"
            condition = "attribute_exists(pk) AND expires_at <= :now AND recovery_until > :now"
        else:  # usable: the condition fails if it lapsed meanwhile (the caller reads it again)
            update = "SET expires_at = :now, purge_at = :now, purge_bucket = :bucket, ended_at = :now"
            condition = "attribute_exists(pk) AND expires_at > :now"
        update += ", request_id = :request"
        removed = "recovery_until, purge_hold, purge_hold_bucket"
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

    def expired_keys(self, bucket: int, now: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of keys of the items in one purge bucket whose purge time has passed."""
        query: dict[str, Any] = {
            "IndexName": PURGE_INDEX,
            "KeyConditionExpression": "purge_bucket = :bucket AND purge_at <= :now",
            "ExpressionAttributeValues": {":bucket": {"N": str(bucket)}, ":now": {"N": str(now)}},
            "ProjectionExpression": "pk",
        }
        while True:
            response = self._call("query", **query)
            yield [{"pk": item["pk"]} for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_keys(self, keys: list[dict[str, Any]]) -> int:
        """Delete one item per DeleteItem (the role may delete sessions and put nothing, which BatchWriteItem would
        allow); returns how many were sent. A deletion that fails after botocore's retries fails the run."""
        for key in keys:
            self._call("delete_item", Key=key)
        return len(keys)

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


def _session_item(session: PortalSession, token_hash: str, purge_hold: int | None) -> dict[str, Any]:
    purge_at = session.expires_at if purge_hold is None else max(purge_hold, session.expires_at)
    item: dict[str, Any] = {
        "pk": {"S": _TOKEN_PREFIX + token_hash},
        "session_id": {"S": session.id},
        "livemode": {"BOOL": session.livemode},
        "configuration": {"S": session.configuration},
        "created": {"N": str(session.created)},
        "expires_at": {"N": str(session.expires_at)},
        "purge_at": {"N": str(purge_at)},
        "purge_bucket": {"N": str(purge_bucket(purge_at))},
    }
    owner = session.customer or session.customer_account
    if owner is not None:  # listed per customer, newest first
        item["list_key"] = {"S": _session_list_key(session.livemode, owner)}
        item["list_sort"] = {"S": _list_sort(session.created, session.id)}
    if purge_hold is not None:
        item["purge_hold"] = {"N": str(purge_at)}
        item["purge_hold_bucket"] = {"N": str(purge_bucket(purge_at))}
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
    )
