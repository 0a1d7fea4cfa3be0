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
  copy reads the API keys' hashes and the signing keys afresh and then refreshes them on their own schedule.
- Cold starts: Powertools counts a restored copy's first invocation in its `ColdStart` metric (it skips it only when
  AWS_LAMBDA_INITIALIZATION_TYPE is `provisioned-concurrency`, and a snapshot's init runs as `snap-start`); priming
  never invokes a handler, so the snapshot still holds the cold-start flag.

`snapshot_restore_py` ships with Lambda's Python runtimes only. Without it (the local runner, tests) nothing is ever
snapshotted, and no hook is registered.
"""

from __future__ import annotations

import gc
import random
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


def _reseed_random() -> None:
    random.seed()  # from the operating system's randomness, which differs in every restored copy


after_restore(_reseed_random)
after_restore(forget_cached_values)
