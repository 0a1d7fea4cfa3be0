"""Stripe's `Idempotency-Key` semantics on top of Powertools' idempotency utility.

The same key with the same parameters returns the stored response (marked replayed) and runs nothing; the same key
with other parameters, or on another endpoint, is an `idempotency_error`; a concurrent request with the key gets 409
and the SDK's retry then finds the stored response. Keys are scoped to the API key (so to its mode) and kept 24 hours
(the table's TTL).
Requests that fail validation never get here, so they are not stored; nor are requests whose operation fails.

An operation may write the record's completion in its own transaction (create does, with the session): then the
utility's separate UpdateItem is skipped, and an idempotent create costs two DynamoDB calls, not three.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from .auth import Caller
from .errors import (
    IdempotencyError,
    IdempotencyKeyInUseError,
    InvalidRequestError,
    RateLimitError,
    SealBrokenError,
    ServiceUnavailableError,
)
from .observability import logger, metrics
from .sealing import seal, unseal
from .store.table import THROTTLING_CODES, dynamodb_client
from .web import json_response

MAX_KEY_LENGTH = 255
RETENTION_SECONDS = 24 * 3600

# Given the response an operation is about to return, the writes that complete its idempotency record.
CompletionWrites = Callable[[dict[str, Any]], list[dict[str, Any]]]
# An operation run under a key: given CompletionWrites (None without an Idempotency-Key), its response.
Operation = Callable[[CompletionWrites | None], dict[str, Any]]


@dataclass(frozen=True)
class IdempotentResult:
    body: dict[str, Any]
    replayed: bool


@dataclass(frozen=True)
class _Replayed:
    body: dict[str, Any]


class _SealedSerializer(BaseIdempotencySerializer):
    """Stored responses hold session URLs: keep them sealed under the caller's key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def to_dict(self, data: Any) -> dict[str, Any]:
        return {"sealed": seal(json.dumps(data, separators=(",", ":")), self._key)}

    def from_dict(self, data: dict[str, Any]) -> Any:
        return json.loads(unseal(data["sealed"], self._key))


class _TransactionalPersistenceLayer(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer, whose completion an operation may write in its own transaction."""

    def __init__(self, table_name: str, client: Any) -> None:
        # The sessions table: records are keyed `idempotency#<hash>` and expire through its TTL attribute.
        super().__init__(table_name=table_name, key_attr="pk", expiry_attr="purge_at", boto3_client=client)
        self._completed_in_transaction: set[str] = set()

    def completion_update(self, data: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """The TransactWriteItems `Update` that save_success would make (the same attributes, as _update_record)."""
        key = self._get_hashed_idempotency_key(data=data)
        assert key is not None  # the scope is always present
        values: dict[str, Any] = {
            ":expiry": {"N": str(self._get_expiry_timestamp())},
            ":response_data": {"S": json.dumps(result, cls=Encoder, sort_keys=True)},
            ":status": {"S": STATUS_CONSTANTS["COMPLETED"]},
        }
        names = {"#expiry": self.expiry_attr, "#response_data": self.data_attr, "#status": self.status_attr}
        expression = "SET #response_data = :response_data, #expiry = :expiry, #status = :status"
        if self.payload_validation_enabled:
            expression += ", #validation_key = :validation_key"
            values[":validation_key"] = {"S": self._get_hashed_payload(data=data)}
            names["#validation_key"] = self.validation_key_attr
        update = {
            "TableName": self.table_name,
            "Key": self._get_key(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        return {"Update": update}

    def completed_in_transaction(self, data: dict[str, Any]) -> None:
        """The operation's transaction, with the completion in it, succeeded: skip the utility's own update."""
        key = self._get_hashed_idempotency_key(data=data)
        if key is not None:
            self._completed_in_transaction.add(key)

    def _update_record(self, data_record: DataRecord) -> None:
        if data_record.idempotency_key in self._completed_in_transaction:
            self._completed_in_transaction.discard(data_record.idempotency_key)
            return
        super()._update_record(data_record)


@cache
def _persistence_layer(table_name: str, client: Any) -> _TransactionalPersistenceLayer:
    return _TransactionalPersistenceLayer(table_name, client)


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return _Replayed(response)


def _throttled(exc: BaseException) -> bool:
    """Whether DynamoDB throttling is what Powertools wrapped (its errors carry the cause in args or __cause__)."""
    seen: list[BaseException] = [exc]
    while seen:
        current = seen.pop()
        if isinstance(current, ClientError):
            return current.response.get("Error", {}).get("Code") in THROTTLING_CODES
        seen.extend(arg for arg in current.args if isinstance(arg, BaseException))
        if current.__cause__ is not None:
            seen.append(current.__cause__)
    return False


def run_idempotently(
    idempotency_key: str | None,
    *,
    caller: Caller,
    operation: str,
    params: dict[str, Any],
    table_name: str,
    lambda_context: LambdaContext | None,
    run: Operation,
) -> IdempotentResult:
    """Run `run` once per (mode, key); without a key, just run it."""
    if idempotency_key is None:
        return IdempotentResult(run(None), replayed=False)
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise InvalidRequestError(
            f"Invalid Idempotency-Key: it must be 1 to {MAX_KEY_LENGTH} characters long.", param="Idempotency-Key"
        )
    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="request",
        expires_after_seconds=RETENTION_SECONDS,
        hash_function="sha256",
        response_hook=_mark_replayed,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    produced: list[dict[str, Any]] = []  # what the operation returned, if it ran
    persistence = _persistence_layer(table_name, dynamodb_client())
    serializer = _SealedSerializer(caller.sealing_key)

    @idempotent_function(
        data_keyword_argument="record",
        persistence_store=persistence,
        config=config,
        output_serializer=serializer,
        key_prefix="idempotency",
    )
    def execute(record: dict[str, Any]) -> dict[str, Any]:
        completions: list[dict[str, Any]] = []

        def completion_writes(response: dict[str, Any]) -> list[dict[str, Any]]:
            completions.append(persistence.completion_update(record, serializer.to_dict(response)))
            return completions[-1:]

        produced.append(run(completion_writes))
        if completions:  # the operation returned, so its transaction (with the completion) went through
            persistence.completed_in_transaction(record)
        return produced[-1]

    # Scoped to the API key (and so to its mode): the stored response is sealed under that key.
    mode = "live" if caller.livemode else "test"
    scope = f"{mode}:{caller.key_fingerprint}:{idempotency_key}"
    record = {"scope": scope, "request": {"operation": operation, "params": params}}
    try:
        result = execute(record=record)
    except IdempotencyValidationError:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. "
            f"Try using a key other than '{idempotency_key}' if you meant to execute a different request."
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyKeyInUseError(
            "There is currently another in-progress request using this Idempotent Key (that probably means you "
            f"submitted twice, and the other request is still going through): {idempotency_key}. "
            "Please try again later."
        ) from None
    except SealBrokenError:
        # Sealed in an earlier format (records live 24 hours) or altered: the operation ran once, and running it
        # again would make a second object, so the key is spent.
        raise IdempotencyError(
            f"The response stored for the Idempotency-Key '{idempotency_key}' can no longer be read. "
            "Check whether the first request succeeded before retrying with a new key."
        ) from None
    except (ServiceUnavailableError, InvalidRequestError, RateLimitError):
        raise
    except Exception as exc:
        if not type(exc).__module__.startswith("aws_lambda_powertools.utilities.idempotency"):
            raise
        if produced:
            # The operation ran and wrote; only marking its record complete failed. Answering 503 would invite a
            # retry that runs it again once the record's in-progress window ends, so answer with what it made.
            logger.warning("idempotency record not completed", extra={"error": type(exc).__name__})
            return IdempotentResult(produced[-1], replayed=False)
        if _throttled(exc):
            raise RateLimitError(
                "Too many requests hit the API too quickly. Please retry with exponential backoff."
            ) from None
        raise ServiceUnavailableError("Idempotency records are unavailable right now. Please retry.") from None
    if isinstance(result, _Replayed):
        return IdempotentResult(result.body, replayed=True)
    return IdempotentResult(result, replayed=False)


def respond_idempotently(
    app: APIGatewayHttpResolver,
    caller: Caller,
    raw_params: dict[str, Any],
    table_name: str,
    run: Operation,
) -> Response[str]:
    """Run a POST's operation under its Idempotency-Key, and answer with its object (a replay marked as Stripe does)."""
    event = app.current_event
    idempotency_key = event.headers.get("idempotency-key")
    result = run_idempotently(
        idempotency_key,
        caller=caller,
        operation=f"POST {event.raw_path}",
        params=raw_params,
        table_name=table_name,
        lambda_context=app.lambda_context,
        run=run,
    )
    response = json_response(200, result.body)
    if idempotency_key is not None:
        response.headers["Idempotency-Key"] = idempotency_key
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
        metrics.add_metric(name="IdempotentReplays", unit=MetricUnit.Count, value=1)
    return response
