"""The table's items and their keys: sessions and configurations to and from DynamoDB's attribute maps.

Pure functions, no client: the stream's records (eventbus.py), the benchmarks and the tests read and build items
with the same codecs the repositories write them with.
Purge index keys: a session's `purge_at` (fixed at create) falls in an hourly bucket, and its token's hash picks one
of `purge_shards` shards of that bucket; `purge_shard` ("bucket#shard") keys the sparse, keys-only purge index.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..domain.session import PortalSession, RequestRef

BUCKET_SECONDS = 3600
TOKEN_PREFIX = "token#"
CONFIGURATION_PREFIX = "configuration#"
ERASED = "erased"  # set on a session just before an erasure deletes it, so the deletion makes no event


# Keys


def purge_bucket(purge_at: int) -> int:
    return purge_at // BUCKET_SECONDS


def purge_shard_of(token_hash: str, shards: int) -> int:
    """The shard of a session's purge index key: from its token's hash, so a retry writes the same key."""
    return int(token_hash[:15], 16) % shards


def purge_shard_key(bucket: int, shard: int) -> str:
    return f"{bucket}#{shard}"


def session_key(token_hash: str) -> dict[str, Any]:
    """The key of the session whose URL token has this hash."""
    return {"pk": {"S": TOKEN_PREFIX + token_hash}}


def configuration_key(configuration_id: str) -> dict[str, Any]:
    return {"pk": {"S": CONFIGURATION_PREFIX + configuration_id}}


def mode_name(livemode: bool) -> str:
    return "live" if livemode else "test"


def configuration_list_key(livemode: bool) -> str:
    return "configurations#" + mode_name(livemode)


def customer_list_key(livemode: bool, customer: str) -> str:
    # A digest, not the id: customer ids may be 5000 characters, index keys at most 2048 bytes.
    return f"sessions#{mode_name(livemode)}#" + hashlib.sha256(customer.encode("utf-8")).hexdigest()


def account_list_key(livemode: bool, customer_account: str) -> str:
    return f"account-sessions#{mode_name(livemode)}#" + hashlib.sha256(customer_account.encode("utf-8")).hexdigest()


def list_sort_of(created: int, object_id: str) -> str:
    """The sort key of an object in its list: by creation time, then id."""
    return f"{created:012d}#{object_id}"


def configuration_list_sort(configuration: dict[str, Any]) -> str:
    return list_sort_of(configuration["created"], configuration["id"])


# Configurations


def configuration_item(configuration: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "pk": {"S": CONFIGURATION_PREFIX + configuration["id"]},
        "list_key": {"S": configuration_list_key(configuration["livemode"])},
        "list_sort": {"S": configuration_list_sort(configuration)},
        "active": {"BOOL": configuration["active"]},
        "is_default": {"BOOL": configuration["is_default"]},
        "livemode": {"BOOL": configuration["livemode"]},
        # what a new session's transaction checks, without reading the configuration
        **{f"feature_{name}": {"BOOL": feature["enabled"]} for name, feature in configuration["features"].items()},
        "version": {"N": str(version)},
        "body": {"S": json.dumps(configuration, separators=(",", ":"))},
    }


def configuration_from_item(item: dict[str, Any]) -> dict[str, Any]:
    """The configuration an item holds, as the API shows it."""
    configuration: dict[str, Any] = json.loads(item["body"]["S"])
    return configuration


def item_version(item: dict[str, Any]) -> int:
    """The version of an item written under optimistic locking (a configuration's)."""
    return int(item["version"]["N"])


# Sessions


def session_item(session: PortalSession, token_hash: str, purge_shards: int) -> dict[str, Any]:
    """A new session's item, under its token's hash, with its list and purge index keys."""
    if session.purge_at is None:
        raise ValueError("a stored session needs its purge time")
    bucket = purge_bucket(session.purge_at)
    item: dict[str, Any] = {
        "pk": {"S": TOKEN_PREFIX + token_hash},
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
        item["customer_list_key"] = {"S": customer_list_key(session.livemode, session.customer)}
    if session.customer_account is not None:
        item["account_list_key"] = {"S": account_list_key(session.livemode, session.customer_account)}
    if session.customer is not None or session.customer_account is not None:
        item["list_sort"] = {"S": list_sort_of(session.created, session.id)}
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


def request_attributes(request: RequestRef | None) -> dict[str, Any]:
    """The attributes that name the request that made or last changed a session (for its stream's event)."""
    attributes: dict[str, Any] = {}
    if request is not None and request.id is not None:
        attributes["request_id"] = {"S": request.id}
    if request is not None and request.idempotency_key is not None:
        attributes["idempotency_key"] = {"S": request.idempotency_key}
    return attributes


def request_id_value(request: RequestRef | None) -> dict[str, Any]:
    return {"NULL": True} if request is None or request.id is None else {"S": request.id}


def request_from_item(item: dict[str, Any]) -> RequestRef:
    """The request that last changed a session, from its item (or stream image)."""
    request_id = item.get("request_id", {}).get("S")
    return RequestRef(request_id, item.get("idempotency_key", {}).get("S"))


def is_session_item(item: dict[str, Any]) -> bool:
    """Whether an item (or stream image) is a session's, not a configuration's or the cleanup's bookkeeping."""
    return item.get("pk", {}).get("S", "").startswith(TOKEN_PREFIX) and "session_id" in item


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
