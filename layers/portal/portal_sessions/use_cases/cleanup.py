"""Deleting purged sessions that DynamoDB's TTL has not removed yet, without scanning the table, scaled out.

The schedule plans: one unit of work per (purge bucket, shard) from the watermark to the current hour, queued for
workers. A worker deletes its unit's due items (each only if still due) and, once its bucket is wholly past and
empty, records its shard done. The watermark passes a bucket only when every shard of it is done. Purge times are
fixed at create and always lie ahead of it, so a bucket wholly past never receives another item.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..outbound.cleanup_queue import CleanupUnit
from ..store.items import BUCKET_SECONDS, purge_bucket

if TYPE_CHECKING:
    from ..store.ports import PurgeRepository

DELETES_PER_SECOND = 500.0  # per unit: half of what one index key takes
DELETE_CHUNK = 100


@dataclass(frozen=True)
class CleanupPlan:
    units: list[CleanupUnit]
    watermark: int  # the oldest bucket that may still hold items, after this plan's advance


@dataclass(frozen=True)
class UnitOutcome:
    deleted: int
    finished: bool  # False: stopped at its budget, to be continued by another invocation


def plan_cleanup(store: PurgeRepository, *, now: int, lookback_hours: int, shards: int) -> CleanupPlan:
    """Move the watermark over the buckets every shard of which is done; the units still to work on."""
    current = purge_bucket(now)
    start = store.cleanup_watermark()
    if start is None:
        start = current - lookback_hours
    past = list(range(start, current))
    done = store.done_shards(past)
    watermark = start
    every_shard = set(range(shards))
    for bucket in past:
        if not every_shard <= done.get(bucket, set()):  # a mark for a shard beyond the count stands for none
            break
        watermark = bucket + 1
    if watermark > start:
        store.advance_cleanup_watermark(watermark)
    units = [
        CleanupUnit(bucket, shard)
        for bucket in range(watermark, current + 1)
        for shard in range(shards)
        if shard not in done.get(bucket, ())
    ]
    return CleanupPlan(units, watermark)


def clean_unit(
    store: PurgeRepository,
    unit: CleanupUnit,
    *,
    now: int,
    max_deletes: int,
    out_of_time: Callable[[], bool],
    deletes_per_second: float = DELETES_PER_SECOND,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> UnitOutcome:
    """Delete the unit's due sessions, at most `max_deletes` (or until out of time); idempotent, and resumable by
    running it again: what was deleted is no longer read.

    Every delete also writes the unit's purge index key, which takes at most 1,000 writes/s: deletes are paced
    to `deletes_per_second`, leaving that key's other half to a duplicate delivery of the same unit. A shard
    outside the store's `purge_shards` is refused (ValueError).
    """
    if not 0 <= unit.shard < store.purge_shards:  # a forged or stale message: marking it done would skip an hour
        raise ValueError(f"cleanup unit refused: shard {unit.shard} is not one of 0..{store.purge_shards - 1}")
    deleted = 0
    started = monotonic()
    for keys in store.due_keys(unit.bucket, unit.shard, now):
        for start in range(0, len(keys), DELETE_CHUNK):
            deleted += store.delete_due(keys[start : start + DELETE_CHUNK], now)
            ahead = deleted / deletes_per_second - (monotonic() - started)
            if ahead > 0:
                sleep(ahead)
            if deleted >= max_deletes or out_of_time():
                return UnitOutcome(deleted, finished=False)
    if (unit.bucket + 1) * BUCKET_SECONDS <= now:  # the whole bucket was due, and this shard of it is empty
        store.mark_shard_done(unit.bucket, unit.shard, now)
    return UnitOutcome(deleted, finished=True)
