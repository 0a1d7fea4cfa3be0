"""Stripe's `Idempotency-Key` semantics, wrapped once around a POST's use case.

The same key with the same parameters returns the stored response (marked replayed) and runs nothing; the same key
with other parameters, or on another endpoint, is an `idempotency_error`; a concurrent request with the key gets 409
and the SDK's retry then finds the stored response. Keys are scoped to the API key (so to its mode) and kept 24 hours.
Requests that fail validation never get here, so they are not stored; nor are requests whose operation fails.

A claim is one conditional PutItem. The use case gets the claim as data and may complete it in its own transaction
(every create does, with the object it makes: two DynamoDB calls in all, and no window in which the object exists
while its record could lapse and let a retry make a second); otherwise the record is completed after it, in an
UpdateItem. Powertools' idempotency utility does the rest of this but completes its records in an UpdateItem of its
own, and its public API cannot put that write in another transaction: so the service owns this small protocol, in
the utility's record layout. Stored responses hold session URLs: they are sealed under the caller's API key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain.auth import Caller
from ..domain.sealing import seal, unseal
from ..runtime.errors import (
    ClaimLostError,
    ConditionFailedError,
    IdempotencyError,
    IdempotencyKeyInUseError,
    InvalidRequestError,
    SealBrokenError,
    StripeError,
)
from ..runtime.observability import logger
from ..store.idempotency import KEY_PREFIX, Claim, IdempotencyRecordStore, RecordCompletion, content_hash

MAX_KEY_LENGTH = 255
_BOUND = "bound"  # a stored response sealed bound to its record's key and request hash
RETENTION_SECONDS = 24 * 3600
DEFAULT_IN_PROGRESS_MS = 15_000  # without a Lambda context: the API functions' timeout


@dataclass(frozen=True)
class IdempotentRequest:
    """A POST as its Idempotency-Key sees it: who sent it, to what, with which parameters."""

    key: str | None  # the header's value; None without one
    caller: Caller
    operation: str  # e.g. "POST /v1/billing_portal/sessions"
    params: dict[str, Any]


@dataclass(frozen=True)
class IdempotencyClaim:
    """A key claimed for one run of the operation: what the operation needs to complete its record."""

    claim: Claim
    sealing_key: bytes
    expires_at: int
    request_hash: str

    def completion(self, response: dict[str, Any]) -> RecordCompletion:
        """The record's completion with this response, sealed so a table dump shows no session URL, and bound to
        this record and request so it opens nowhere else."""
        bound_to = _record_binding(self.claim.record_key, self.request_hash)
        sealed = seal(json.dumps(response, separators=(",", ":")), self.sealing_key, bound_to=bound_to)
        return RecordCompletion(self.claim, {"sealed": sealed, _BOUND: True}, self.expires_at)


@dataclass(frozen=True)
class OperationResult:
    """What an operation answered, and whether it completed the claim's record in its own transaction."""

    body: dict[str, Any]
    record_completed: bool = False


@dataclass(frozen=True)
class IdempotentResult:
    body: dict[str, Any]
    replayed: bool


def run_idempotently(
    request: IdempotentRequest,
    records: IdempotencyRecordStore,
    run: Callable[[IdempotencyClaim | None], OperationResult],
    *,
    now_ms: int,
    remaining_ms: int | None = None,
) -> IdempotentResult:
    """Run the operation once per (mode, API key, Idempotency-Key); without a key, just run it."""
    if request.key is None:
        return IdempotentResult(run(None).body, replayed=False)
    if not request.key or len(request.key) > MAX_KEY_LENGTH:
        raise InvalidRequestError(
            f"Invalid Idempotency-Key: it must be 1 to {MAX_KEY_LENGTH} characters long.", param="Idempotency-Key"
        )
    caller = request.caller
    mode = "live" if caller.livemode else "test"
    # Scoped to the API key (and so to its mode): the stored response is sealed under that key.
    record_key = KEY_PREFIX + content_hash(f"{mode}:{caller.key_fingerprint}:{request.key}")
    request_hash = content_hash({"operation": request.operation, "params": request.params})
    held_until_ms = now_ms + (remaining_ms if remaining_ms is not None else DEFAULT_IN_PROGRESS_MS)
    claim = IdempotencyClaim(
        Claim(record_key, held_until_ms),
        caller.sealing_key,
        expires_at=now_ms // 1000 + RETENTION_SECONDS,
        request_hash=request_hash,
    )
    held = records.claim(
        record_key, request_hash, expires_at=claim.expires_at, now_ms=now_ms, in_progress_until_ms=held_until_ms
    )
    if held is not None:
        if held.request_hash is not None and held.request_hash != request_hash:
            raise IdempotencyError(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                f"Try using a key other than '{request.key}' if you meant to execute a different request."
            )
        if not held.completed:  # in progress, or gone between the claim and its answer: a retry sees which
            raise _in_use(request.key)
        opened = _opened(held.response, caller, request.key, _record_binding(record_key, request_hash))
        return IdempotentResult(opened, replayed=True)
    try:
        result = run(claim)
    except ClaimLostError:  # it lapsed and another request holds the key now: this one wrote nothing
        raise _in_use(request.key) from None
    except BaseException:
        _release(records, claim.claim)
        raise
    if not result.record_completed:
        try:
            records.complete(claim.completion(result.body))
        except (StripeError, ConditionFailedError) as error:
            # The operation ran and wrote; only completing its record failed. Answering 503 would invite a retry
            # that runs it again once the claim's in-progress window ends, so answer with what it made.
            logger.warning("idempotency record not completed", extra={"error": type(error).__name__})
    return IdempotentResult(result.body, replayed=False)


def _in_use(key: str) -> IdempotencyKeyInUseError:
    return IdempotencyKeyInUseError(
        "There is currently another in-progress request using this Idempotent Key (that probably means you "
        f"submitted twice, and the other request is still going through): {key}. Please try again later."
    )


def _record_binding(record_key: str, request_hash: str) -> str:
    return f"{record_key}\n{request_hash}"


def _opened(stored: str | None, caller: Caller, key: str, binding: str) -> dict[str, Any]:
    try:
        data = json.loads(stored or "")
        # Records sealed before seals were bound (bound to nothing) open until they expire, 24 hours at most
        bound_to = binding if data.get(_BOUND) is True else None
        body: dict[str, Any] = json.loads(unseal(data["sealed"], caller.sealing_key, bound_to=bound_to))
        return body
    except (SealBrokenError, AttributeError, KeyError, TypeError, ValueError):
        # Sealed in an earlier format (records live 24 hours) or altered: the operation ran once, and running it
        # again would make a second object, so the key is spent.
        raise IdempotencyError(
            f"The response stored for the Idempotency-Key '{key}' can no longer be read. "
            "Check whether the first request succeeded before retrying with a new key."
        ) from None


def _release(records: IdempotencyRecordStore, claim: Claim) -> None:
    try:
        records.release(claim)
    except StripeError:  # the claim then lapses after its in-progress window
        logger.warning("idempotency claim not released")
