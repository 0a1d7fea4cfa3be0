"""The delivery side's reads of webhook endpoints, kept for a moment in each execution environment.

Every event reads its mode's endpoints and every attempt reads its endpoint: at full load (20,000 events a second)
one endpoint's item would be read tens of thousands of times a second, and DynamoDB serves one item at most 3,000
read units a second. Kept for `max_age` seconds per environment, the reads fall to one per environment per
`max_age`. The price: a change to an endpoint (its URL, events, secret, status, or a new or deleted endpoint)
reaches deliveries up to `max_age` seconds later. The writes an attempt makes go through at once, and what is kept
of that endpoint is corrected (a failing mark) or dropped (a disabling), so an environment never repeats them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from .webhooks import StoredEndpoint, WebhookEndpointStore


class CachedEndpointReads:
    """What dispatch and an attempt ask of the endpoints, read at most once per `max_age` seconds (0: never kept)."""

    def __init__(
        self, store: WebhookEndpointStore, *, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()  # the delivery handler's threads share one instance
        self._modes: dict[bool, tuple[float, list[dict[str, Any]]]] = {}
        self._endpoints: dict[str, tuple[float, StoredEndpoint | None]] = {}

    def all_of_mode(self, livemode: bool) -> list[dict[str, Any]]:
        with self._lock:
            kept = self._modes.get(livemode)
        if kept is not None and self._clock() - kept[0] < self._max_age:
            return kept[1]
        read_at = self._clock()
        endpoints = self._store.all_of_mode(livemode)
        with self._lock:
            self._modes[livemode] = (read_at, endpoints)
        return endpoints

    def get(self, endpoint_id: str) -> StoredEndpoint | None:
        with self._lock:
            kept = self._endpoints.get(endpoint_id)
        if kept is not None and self._clock() - kept[0] < self._max_age:
            return kept[1]
        read_at = self._clock()
        stored = self._store.get(endpoint_id)
        with self._lock:
            self._endpoints[endpoint_id] = (read_at, stored)
        return stored

    def mark_failing(self, endpoint_id: str, since: int) -> None:
        self._store.mark_failing(endpoint_id, since)
        self._correct(endpoint_id, since)

    def clear_failing(self, endpoint_id: str) -> None:
        self._store.clear_failing(endpoint_id)
        self._correct(endpoint_id, None)

    def disable(self, stored: StoredEndpoint) -> None:
        try:
            self._store.disable(stored)
        finally:  # disabled, or changed by someone else: either way what is kept is stale
            with self._lock:
                self._endpoints.pop(stored.endpoint["id"], None)

    def _correct(self, endpoint_id: str, failing_since: int | None) -> None:
        with self._lock:
            kept = self._endpoints.get(endpoint_id)
            if kept is not None and kept[1] is not None:
                self._endpoints[endpoint_id] = (kept[0], dataclasses.replace(kept[1], failing_since=failing_since))
