"""What the use cases need of each repository: one Protocol per aggregate, holding only the methods they call.

The use cases (service.py, links.py, cleanup.py, webhook_service.py, webhook_delivery.py) take these, so they run on
the DynamoDB repositories of this package as on the in-memory fakes of the tests (tests/support/fakes.py), which
mypy holds to the same contracts. Each method's contract is its DynamoDB implementation's docstring.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..domain.session import PortalSession, RequestRef
    from .configurations import StoredConfiguration
    from .idempotency import RecordCompletion
    from .sessions import NewSession, StoredSession, VisitResult
    from .webhook_attempts import AttemptRecord
    from .webhooks import EventQuery, StoredEndpoint


class SessionRepository(Protocol):
    """Sessions, as the API's use cases and the redirect use them (see sessions.SessionStore)."""

    def put_new(self, new: NewSession) -> None:
        """Store a new session, never overwriting one (ConditionFailedError); with a `requirement`, only if its
        configuration meets it (ConfigurationCheckFailedError); with a `completion`, completing that idempotency
        record in the same write."""
        ...

    def find(self, token_hash: str) -> PortalSession | None: ...

    def record_visit(
        self,
        token_hash: str,
        now: int,
        session_ttl_seconds: int,
        retention_seconds: int,
        request: RequestRef | None = None,
    ) -> VisitResult: ...

    def get_by_id(self, session_id: str) -> StoredSession | None: ...

    def list_for_owner(
        self,
        livemode: bool,
        *,
        customer: str | None = None,
        customer_account: str | None = None,
        limit: int,
        after: str | None = None,
        before: str | None = None,
    ) -> tuple[list[PortalSession], bool]: ...

    def expire(self, stored: StoredSession, now: int, request: RequestRef | None = None) -> PortalSession:
        """End a session now; ConditionFailedError if it can no longer be ended."""
        ...


class PurgeRepository(Protocol):
    """The sessions' purge index and the cleanup's bookkeeping, as the cleanup uses them (see sessions.SessionStore)."""

    purge_shards: int  # each purge bucket's shards are 0..purge_shards-1

    def cleanup_watermark(self) -> int | None: ...

    def advance_cleanup_watermark(self, bucket: int) -> None: ...

    def done_shards(self, buckets: list[int]) -> dict[int, set[int]]: ...

    def due_keys(self, bucket: int, shard: int, now: int) -> Iterator[list[dict[str, Any]]]: ...

    def delete_due(self, keys: list[dict[str, Any]], now: int) -> int: ...

    def mark_shard_done(self, bucket: int, shard: int, now: int) -> None: ...


class ConfigurationRepository(Protocol):
    """Portal configurations (see configurations.ConfigurationStore)."""

    def default_known(self, livemode: bool) -> bool:
        """Whether the mode's default configuration is known to exist (it is never deleted nor deactivated)."""
        ...

    def remember_default(self, livemode: bool) -> None: ...

    def get(self, configuration_id: str) -> StoredConfiguration | None: ...

    def put_new(self, configuration: dict[str, Any], completion: RecordCompletion | None = None) -> None:
        """Store a new configuration, completing the idempotency record in the same write if given;
        ConditionFailedError if its id exists."""
        ...

    def replace(self, configuration: dict[str, Any], expected_version: int) -> None:
        """Write an updated configuration if its version is still `expected_version` (else ConditionFailedError)."""
        ...

    def list_page(
        self,
        livemode: bool,
        *,
        limit: int,
        after: str | None = None,
        before: str | None = None,
        active: bool | None = None,
        is_default: bool | None = None,
    ) -> tuple[list[dict[str, Any]], bool]: ...


# The steps an event goes through once each, marked done when done (see webhooks.EventStore).
QUEUED = "queued"
FANNED_OUT = "fanned_out"
PUBLISHED = "published"


class WebhookEndpointRepository(Protocol):
    """Webhook endpoints (see webhooks.WebhookEndpointStore)."""

    def get(self, endpoint_id: str) -> StoredEndpoint | None: ...

    def put_new(
        self, endpoint: dict[str, Any], sealed_secret: str, completion: RecordCompletion | None = None
    ) -> None: ...

    def replace(self, stored: StoredEndpoint, endpoint: dict[str, Any]) -> None:
        """Write an updated endpoint if nobody else did since it was read (else ConditionFailedError)."""
        ...

    def delete(self, endpoint_id: str) -> None:
        """Delete an endpoint; ConditionFailedError if there is none."""
        ...

    def list_page(
        self, livemode: bool, *, limit: int, after: str | None = None, before: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]: ...

    def all_of_mode(self, livemode: bool) -> list[dict[str, Any]]:
        """Every endpoint of a mode."""
        ...

    def mark_failing(self, endpoint_id: str, since: int) -> None: ...

    def clear_failing(self, endpoint_id: str) -> None: ...

    def disable(self, stored: StoredEndpoint) -> None:
        """Disable an endpoint if nobody changed it since it was read (else ConditionFailedError)."""
        ...


class DeliveryEndpoints(Protocol):
    """What dispatch and an attempt need of the endpoints (a WebhookEndpointStore, or the delivery side's
    CachedEndpointReads in front of one)."""

    def get(self, endpoint_id: str) -> StoredEndpoint | None: ...

    def all_of_mode(self, livemode: bool) -> list[dict[str, Any]]: ...

    def mark_failing(self, endpoint_id: str, since: int) -> None: ...

    def clear_failing(self, endpoint_id: str) -> None: ...

    def disable(self, stored: StoredEndpoint) -> None: ...


class EventRepository(Protocol):
    """Events, kept for their retention period (see webhooks.EventStore)."""

    def put_new(self, event: dict[str, Any], pending_webhooks: int = 0) -> bool:
        """Store an event once; False if it was stored before."""
        ...

    def steps_done(self, event_id: str) -> frozenset[str]: ...

    def mark_done(self, event_id: str, steps: list[str], *, purge_at: int) -> None: ...

    def set_pending_webhooks(self, event_id: str, count: int) -> None: ...

    def get(self, event_id: str, *, now: int) -> dict[str, Any] | None: ...

    def webhook_settled(self, event_id: str) -> None: ...

    def list_page(
        self,
        livemode: bool,
        query: EventQuery,
        *,
        now: int,
        limit: int,
        after: str | None = None,
        before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]: ...


class AttemptLog(Protocol):
    """Each endpoint's recent delivery attempts (see webhook_attempts.WebhookAttemptStore)."""

    def record(self, endpoint_id: str, livemode: bool, attempt: AttemptRecord) -> None: ...

    def recent(self, endpoint_id: str, livemode: bool, *, now: int, limit: int) -> list[AttemptRecord]: ...
