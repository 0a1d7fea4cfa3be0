"""In-memory repositories: each a small dict-backed class that keeps its Protocol's contract (store/ports.py).

Not a fake of boto3 or of DynamoDB's expressions: each method does what the DynamoDB repository's docstring promises,
including its conditions (a put never overwrites, a replace needs the version it read, an expire needs a session it
can still end), so a use case's unit test fails on the fakes as it would on the table. mypy checks each fake against
its Protocol (the `_CONTRACTS` assignments at the end).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from portal_sessions.domain.session import PortalSession, RequestRef
from portal_sessions.domain.tokens import token_hash_of
from portal_sessions.runtime.errors import ConditionFailedError, ConfigurationCheckFailedError
from portal_sessions.store.configurations import ConfigurationRequirement, StoredConfiguration
from portal_sessions.store.idempotency import RecordCompletion
from portal_sessions.store.items import (
    TOKEN_PREFIX,
    configuration_list_sort,
    list_sort_of,
    purge_bucket,
    purge_shard_key,
    purge_shard_of,
    session_item,
    session_key,
)
from portal_sessions.store.ports import (
    ConfigurationRepository,
    EventRepository,
    PurgeRepository,
    SessionRepository,
    WebhookEndpointRepository,
)
from portal_sessions.store.sessions import NewSession, StoredSession, VisitResult
from portal_sessions.store.webhooks import EVENT_RETENTION_SECONDS, EventQuery, StoredEndpoint, event_sort_key


def newest_first_page[T](
    objects: list[T], sort_of: Callable[[T], str], *, limit: int, after: str | None, before: str | None
) -> tuple[list[T], bool]:
    """A page of a list, newest first, as the list index gives it: `limit` objects older than `after` (or newer
    than `before`, the ones nearest to it), and whether more exist beyond the page."""
    if before is not None:
        newer = sorted((o for o in objects if sort_of(o) > before), key=sort_of)
        return newer[:limit][::-1], len(newer) > limit
    older = sorted((o for o in objects if after is None or sort_of(o) < after), key=sort_of, reverse=True)
    return older[:limit], len(older) > limit


class FakeConfigurationStore:
    """Configurations by id, with the version each write gives them."""

    def __init__(self) -> None:
        self.configurations: dict[str, StoredConfiguration] = {}
        self.defaults_known: set[bool] = set()
        self.completions: list[RecordCompletion] = []  # idempotency records completed with new configurations

    def default_known(self, livemode: bool) -> bool:
        return livemode in self.defaults_known

    def remember_default(self, livemode: bool) -> None:
        self.defaults_known.add(livemode)

    def get(self, configuration_id: str) -> StoredConfiguration | None:
        stored = self.configurations.get(configuration_id)
        return None if stored is None else copy.deepcopy(stored)

    def put_new(self, configuration: dict[str, Any], completion: RecordCompletion | None = None) -> None:
        if configuration["id"] in self.configurations:
            raise ConditionFailedError(None)
        self.configurations[configuration["id"]] = StoredConfiguration(copy.deepcopy(configuration), version=1)
        if completion is not None:
            self.completions.append(completion)

    def replace(self, configuration: dict[str, Any], expected_version: int) -> None:
        stored = self.configurations.get(configuration["id"])
        if stored is None or stored.version != expected_version:
            raise ConditionFailedError(None)
        self.configurations[configuration["id"]] = StoredConfiguration(
            copy.deepcopy(configuration), expected_version + 1
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
        matching = [
            copy.deepcopy(stored.configuration)
            for stored in self.configurations.values()
            if stored.configuration["livemode"] == livemode
            and active in (None, stored.configuration["active"])
            and is_default in (None, stored.configuration["is_default"])
        ]
        return newest_first_page(matching, configuration_list_sort, limit=limit, after=after, before=before)

    def meets(self, requirement: ConfigurationRequirement) -> bool:
        """What a new session's transaction checks of its configuration: it exists, is active, of the session's
        mode, and has the flow's feature on."""
        stored = self.configurations.get(requirement.configuration_id)
        if stored is None:
            return False
        configuration = stored.configuration
        if not configuration["active"] or configuration["livemode"] != requirement.livemode:
            return False
        return requirement.feature is None or bool(configuration["features"][requirement.feature]["enabled"])


class FakeSessionStore:
    """Sessions by their URL token's hash. A `requirement` is checked against `configurations` (a session store
    given none refuses every requirement, as a table without configurations would)."""

    def __init__(self, configurations: FakeConfigurationStore | None = None) -> None:
        self.configurations = configurations
        self.sessions: dict[str, PortalSession] = {}
        self.requests: dict[str, RequestRef | None] = {}  # the request that last changed each session
        self.writes_with_requirement = 0  # creates that checked their configuration in the same write
        self.completions: list[RecordCompletion] = []  # idempotency records completed with new sessions

    def put_new(self, new: NewSession) -> None:
        session, token_hash, requirement = new.session, new.token_hash, new.requirement
        if session.purge_at is None:
            raise ValueError("a stored session needs its purge time")
        if requirement is not None:
            self.writes_with_requirement += 1
            if self.configurations is None or not self.configurations.meets(requirement):
                raise ConfigurationCheckFailedError()
        existing = self.sessions.get(token_hash)
        if existing is not None:  # never overwrite; the item as it was comes back with the failure
            raise ConditionFailedError(session_item(existing, token_hash, 1))
        self.sessions[token_hash] = session
        self.requests[token_hash] = new.request
        if new.completion is not None:
            self.completions.append(new.completion)

    def find(self, token_hash: str) -> PortalSession | None:
        return self.sessions.get(token_hash)

    def record_visit(
        self,
        token_hash: str,
        now: int,
        session_ttl_seconds: int,
        retention_seconds: int,
        request: RequestRef | None = None,
    ) -> VisitResult:
        session = self.sessions.get(token_hash)
        if session is None or session.is_purged(now):
            return VisitResult(session=None)
        if session.visited_at is not None or session.is_expired(now):
            return VisitResult(session=session, expired=session.is_expired(now))
        visited = replace(
            session,
            visited_at=now,
            expires_at=session.visit_expiry(now, session_ttl_seconds, retention_seconds),
        )
        self.sessions[token_hash] = visited
        self.requests[token_hash] = None if request is None else RequestRef(request.id)
        return VisitResult(session=visited, first_visit=True)

    def get_by_id(self, session_id: str) -> StoredSession | None:
        token_hash = token_hash_of(session_id)
        session = None if token_hash is None else self.sessions.get(token_hash)
        return None if token_hash is None or session is None else StoredSession(session, session_key(token_hash))

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
        if customer is None and customer_account is None:
            raise ValueError("a customer or a customer account is needed")
        owned = [
            session
            for session in self.sessions.values()
            if session.livemode == livemode
            and (session.customer == customer if customer is not None else session.customer_account == customer_account)
        ]
        return newest_first_page(
            owned, lambda session: list_sort_of(session.created, session.id), limit=limit, after=after, before=before
        )

    def expire(self, stored: StoredSession, now: int, request: RequestRef | None = None) -> PortalSession:
        token_hash = stored.key["pk"]["S"].removeprefix(TOKEN_PREFIX)
        current = self.sessions.get(token_hash)
        if current is None:
            raise ConditionFailedError(None)
        if stored.session.is_expired(now):  # lapsed: it can only lose its recovery, while it still has one
            if not (current.expires_at <= now and current.can_be_recovered(now)):
                raise ConditionFailedError(None)
            ended = replace(current, recovery_until=None)
        else:
            if current.is_expired(now):
                raise ConditionFailedError(None)
            ended = replace(current, expires_at=now, recovery_until=None)
        self.sessions[token_hash] = ended
        self.requests[token_hash] = request
        return ended


class FakePurgeStore:
    """Due sessions by purge index key, and the cleanup's watermark and finished shards."""

    def __init__(self, purge_shards: int = 32, page_size: int = 100) -> None:
        self.purge_shards = purge_shards
        self.page_size = page_size
        self.purge_times: dict[str, int] = {}  # a session's pk → its purge time
        self.watermark: int | None = None
        self.done: dict[int, set[int]] = {}

    def add(self, token_hash: str, purge_at: int) -> None:
        """A stored session, as the purge index sees it."""
        self.purge_times[token_hash] = purge_at

    def cleanup_watermark(self) -> int | None:
        return self.watermark

    def advance_cleanup_watermark(self, bucket: int) -> None:
        if self.watermark is None or self.watermark < bucket:  # forward only
            self.watermark = bucket

    def done_shards(self, buckets: list[int]) -> dict[int, set[int]]:
        return {bucket: set(self.done[bucket]) for bucket in buckets if bucket in self.done}

    def due_keys(self, bucket: int, shard: int, now: int) -> Iterator[list[dict[str, Any]]]:
        wanted = purge_shard_key(bucket, shard)
        due = [
            session_key(token_hash)
            for token_hash, purge_at in sorted(self.purge_times.items(), key=lambda entry: entry[1])
            if purge_at <= now
            and purge_shard_key(purge_bucket(purge_at), purge_shard_of(token_hash, self.purge_shards)) == wanted
        ]
        for start in range(0, len(due), self.page_size):
            yield due[start : start + self.page_size]
        if not due:
            yield []

    def delete_due(self, keys: list[dict[str, Any]], now: int) -> int:
        deleted = 0
        for key in keys:
            token_hash = key["pk"]["S"].removeprefix(TOKEN_PREFIX)
            purge_at = self.purge_times.get(token_hash)
            if purge_at is not None and purge_at <= now:  # still due: the table decides, not the index
                del self.purge_times[token_hash]
                deleted += 1
        return deleted

    def mark_shard_done(self, bucket: int, shard: int, now: int) -> None:
        self.done.setdefault(bucket, set()).add(shard)


class FakeWebhookEndpointStore:
    """Webhook endpoints by id, with their sealed secrets and versions."""

    def __init__(self) -> None:
        self.endpoints: dict[str, StoredEndpoint] = {}
        self.completions: list[RecordCompletion] = []  # idempotency records completed with new endpoints

    def get(self, endpoint_id: str) -> StoredEndpoint | None:
        stored = self.endpoints.get(endpoint_id)
        return None if stored is None else copy.deepcopy(stored)

    def put_new(self, endpoint: dict[str, Any], sealed_secret: str, completion: RecordCompletion | None = None) -> None:
        if endpoint["id"] in self.endpoints:
            raise ConditionFailedError(None)
        self.endpoints[endpoint["id"]] = StoredEndpoint(copy.deepcopy(endpoint), sealed_secret, version=1)
        if completion is not None:
            self.completions.append(completion)

    def replace(self, stored: StoredEndpoint, endpoint: dict[str, Any]) -> None:
        current = self.endpoints.get(endpoint["id"])
        if current is None or current.version != stored.version:
            raise ConditionFailedError(None)
        self.endpoints[endpoint["id"]] = StoredEndpoint(
            copy.deepcopy(endpoint), stored.sealed_secret, stored.version + 1
        )

    def delete(self, endpoint_id: str) -> None:
        if self.endpoints.pop(endpoint_id, None) is None:
            raise ConditionFailedError(None)

    def list_page(
        self, livemode: bool, *, limit: int, after: str | None = None, before: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        matching = [copy.deepcopy(s.endpoint) for s in self.endpoints.values() if s.endpoint["livemode"] == livemode]
        return newest_first_page(
            matching,
            lambda endpoint: list_sort_of(endpoint["created"], endpoint["id"]),
            limit=limit,
            after=after,
            before=before,
        )

    def all_of_mode(self, livemode: bool) -> list[dict[str, Any]]:
        return [copy.deepcopy(s.endpoint) for s in self.endpoints.values() if s.endpoint["livemode"] == livemode]

    def mark_failing(self, endpoint_id: str, since: int) -> None:
        stored = self.endpoints.get(endpoint_id)
        if stored is not None and stored.failing_since is None:
            self.endpoints[endpoint_id] = replace(stored, failing_since=since)

    def clear_failing(self, endpoint_id: str) -> None:
        stored = self.endpoints.get(endpoint_id)
        if stored is not None:
            self.endpoints[endpoint_id] = replace(stored, failing_since=None)

    def disable(self, stored: StoredEndpoint) -> None:
        current = self.endpoints.get(stored.endpoint["id"])
        if current is None or current.version != stored.version:
            raise ConditionFailedError(None)
        disabled = {**current.endpoint, "status": "disabled"}
        self.endpoints[stored.endpoint["id"]] = replace(current, endpoint=disabled, version=current.version + 1)


class FakeEventStore:
    """Events by id, each with its pending webhooks; read only within the retention period."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, set[str]] = {}

    def put_new(self, event: dict[str, Any], pending_webhooks: int = 0) -> bool:
        if event["id"] in self.events:
            return False
        self.events[event["id"]] = {**copy.deepcopy(event), "pending_webhooks": pending_webhooks}
        return True

    def steps_done(self, event_id: str) -> frozenset[str]:
        return frozenset(self.steps.get(event_id, ()))

    def mark_done(self, event_id: str, steps: list[str], *, purge_at: int) -> None:
        self.steps.setdefault(event_id, set()).update(steps)

    def set_pending_webhooks(self, event_id: str, count: int) -> None:
        if event_id in self.events:
            self.events[event_id]["pending_webhooks"] = count

    def get(self, event_id: str, *, now: int) -> dict[str, Any] | None:
        event = self.events.get(event_id)
        if event is None or event["created"] <= now - EVENT_RETENTION_SECONDS:
            return None
        return copy.deepcopy(event)

    def webhook_settled(self, event_id: str) -> None:
        event = self.events.get(event_id)
        if event is not None and event["pending_webhooks"] > 0:
            event["pending_webhooks"] -= 1

    def list_page(
        self,
        livemode: bool,
        query: EventQuery,
        *,
        now: int,
        limit: int,
        after: str | None = None,
        before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        matching = [
            copy.deepcopy(event)
            for event in self.events.values()
            if event["livemode"] == livemode
            and event["created"] > now - EVENT_RETENTION_SECONDS
            and (query.types is None or event["type"] in query.types)
            and (query.created_from is None or event["created"] >= query.created_from)
            and (query.created_to is None or event["created"] <= query.created_to)
        ]
        return newest_first_page(matching, event_sort_key, limit=limit, after=after, before=before)


# mypy holds each fake to its Protocol here (tests/support is in [tool.mypy] packages).
_CONTRACTS: tuple[
    SessionRepository, PurgeRepository, ConfigurationRepository, WebhookEndpointRepository, EventRepository
] = (FakeSessionStore(), FakePurgeStore(), FakeConfigurationStore(), FakeWebhookEndpointStore(), FakeEventStore())
