"""Deleting expired sessions that DynamoDB's TTL has not removed yet, without scanning the table."""

from __future__ import annotations

from .store import SessionStore, purge_bucket


def cleanup_expired_sessions(store: SessionStore, *, now: int, lookback_hours: int) -> int:
    """Delete sessions whose purge time has passed, bucket by bucket; returns the deletions sent.

    Buckets before the current hour can only hold expired items (a visit moves an item to a later bucket),
    so once they are emptied the watermark moves past them and later runs never read them again.
    """
    current = purge_bucket(now)
    start = store.cleanup_watermark()
    if start is None:
        start = current - lookback_hours
    deleted = 0
    for bucket in range(start, current + 1):
        for keys in store.expired_keys(bucket, now):
            deleted += store.delete_keys(keys)
    if current > start:
        store.advance_cleanup_watermark(current)
    return deleted
