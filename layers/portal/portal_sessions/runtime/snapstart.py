"""Lambda SnapStart: with it on (template.yaml, SnapStart), Lambda runs a function's init once per published version,
snapshots the execution environment, and starts each new environment by restoring a copy of that snapshot.

What that asks of the code, after AWS's guidance for Python (runtime hooks, uniqueness, network connections):
- Priming: what a first request would otherwise pay for (imports, built models, clients, first runs of its code
  paths) runs in a before-snapshot hook, so only where a snapshot is taken: without SnapStart, init is part of a cold
  start and stays as small as it was. Priming makes no AWS call (no table write, which would emit events and
  webhooks; no SSM or Secrets Manager read) and leaves the logger and metrics as it found them. It ends with a
  garbage collection, and freezes what survives (`gc.freeze`), so no first request pays a full collection.
- Uniqueness: nothing unique or secret is made at init or while priming and kept. Ids, URL tokens, hand-off `jti`s
  and AES-GCM nonces are drawn per request from the operating system (`secrets`), which Lambda reseeds on restore;
  priming's keys are random and thrown away. The `random` module (botocore's retry jitter) is reseeded after a
  restore, so copies do not retry in step.
- Connections: priming opens none. A boto3 client made before the snapshot survives it: botocore opens a new
  connection when a pooled one turns out closed, and retries the call.
- Cached parameters and secrets: any value cached before the snapshot is forgotten after a restore, so each restored
  copy reads the API keys' hashes and the signing keys afresh and then refreshes them on their own schedule. That
  first read is made by an after-restore hook (`read_after_restore`), before the copy's first request, into the same
  Powertools cache with the same max age a request's read uses: nothing secret is read before the snapshot, and a
  read that fails or is slow at restore leaves the first request to read, as it would without SnapStart.
- Cold starts: Powertools counts a restored copy's first invocation in its `ColdStart` metric (it skips it only when
  AWS_LAMBDA_INITIALIZATION_TYPE is `provisioned-concurrency`, and a snapshot's init runs as `snap-start`); priming
  never invokes a handler, so the snapshot still holds the cold-start flag.

`snapshot_restore_py` ships with Lambda's Python runtimes only. Without it (the local runner, tests) nothing is ever
snapshotted, and no hook is registered.
"""

from __future__ import annotations

import gc
import random
import threading
from collections.abc import Callable

from .observability import logger, metrics
from .parameter_providers import forget_cached_values


def before_snapshot(hook: Callable[[], None]) -> None:
    """Run `hook` before Lambda takes this function's snapshot (hooks run in the reverse order of registration)."""
    try:
        from snapshot_restore_py import register_before_snapshot
    except ImportError:  # outside Lambda's runtime: no snapshot is ever taken
        return
    register_before_snapshot(hook)


def after_restore(hook: Callable[[], None]) -> None:
    """Run `hook` when an environment starts from the snapshot, before its first request (in registration order)."""
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return
    register_after_restore(hook)


def prime_before_snapshot(prime: Callable[[], None]) -> None:
    """Register the function's priming. A failing priming costs the first request its warm-up, never the deploy."""

    def primed() -> None:
        try:
            prime()
        except Exception:
            logger.exception("priming before the snapshot failed")
        finally:  # whatever priming added must not reach the first request's log line or metrics
            metrics.clear_metrics()
            logger.clear_state()
        # Init and priming leave a heap of long-lived objects (modules, models, botocore's service models) whose
        # allocations would trigger a full collection during the first requests: collect now, and freeze what is
        # left out of later collections, so the snapshot holds a heap the collector need not walk again.
        gc.collect()
        gc.freeze()

    before_snapshot(primed)


# Lambda gives the runtime's load and every after-restore hook 10 s in all (SnapStartTimeoutException beyond): a read
# at restore gives up waiting well before, so an unreachable store delays a restore, never fails it.
RESTORE_READ_SECONDS = 4.0


def read_after_restore(read: Callable[[], object]) -> None:
    """Have each restored copy run `read` (a first fill of a cache its requests use) before its first request."""
    after_restore(restore_read_hook(read))


def restore_read_hook(read: Callable[[], object]) -> Callable[[], None]:
    """The after-restore hook that runs `read`. A read that fails is logged (its error's type only) and left to the
    first request; one still waiting after RESTORE_READ_SECONDS goes on alone, and the first request reads if it has
    not filled the cache by then."""

    def read_logging_failure() -> None:
        try:
            read()
        except Exception as error:
            logger.warning("reading after the restore failed", extra={"error": type(error).__name__})

    def read_at_restore() -> None:
        reader = threading.Thread(target=read_logging_failure, name="read-after-restore", daemon=True)
        reader.start()
        reader.join(RESTORE_READ_SECONDS)
        if reader.is_alive():
            logger.warning("reading after the restore still waits: the first request reads what it lacks")

    return read_at_restore


def _reseed_random() -> None:
    random.seed()  # from the operating system's randomness, which differs in every restored copy


# Registered when this module is first imported, so before any function's `read_after_restore`: a restored copy's
# cache is emptied before its keys are read into it.
after_restore(_reseed_random)
after_restore(forget_cached_values)
